"""Tuning throughput (finished trials per minute) with 1 and 2 worker processes on one study.

Runs `deepstart tune digits --model mlp --epochs 5 --batch-size 64 --trials N --workers W` into a
fresh SQLite study each time (the batch size is fixed so trials cost about the same; the other
six settings are searched, median pruning on), worker counts alternating over the rounds, and
reads the trials' start and end times from the study:

    search trials/min   finished trials / (last trial's end - first trial's start)
    command seconds     the whole command: start-up, workers, the best retrained, tuning/ written

A worker count may carry a thread count, `1x1`: one worker with one torch thread (OMP_NUM_THREADS=1),
to tell the gain of a second process from that of leaving one thread per process (the workers of
`--workers 2` take cpu_count / 2 threads each; a single worker keeps torch's default).

    .venv/bin/python benchmarks/tune_throughput.py [--workers 1,1x1,2] [--trials 30] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import cpu_name  # noqa: E402


def measure(setting: str, trials: int, epochs: int) -> tuple[float, float, int]:
    import optuna

    workers, _, threads = setting.partition("x")
    env = os.environ | ({"OMP_NUM_THREADS": threads} if threads else {})

    with tempfile.TemporaryDirectory() as out:
        url = f"sqlite:///{Path(out) / 'study.db'}"
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "deepstart", "tune", "digits", "--model", "mlp",
                        "--epochs", str(epochs), "--batch-size", "64", "--trials", str(trials),
                        "--workers", workers, "--storage", url, "--out", out, "--quiet"],
                       check=True, capture_output=True, env=env)
        command = time.perf_counter() - started
        study = optuna.load_study(study_name="digits-mlp", storage=url)
        done = [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]
        span = (max(t.datetime_complete for t in done) -
                min(t.datetime_start for t in done)).total_seconds()
        pruned = sum(t.state.name == "PRUNED" for t in done)
    return len(done) / span * 60, command, pruned


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", default="1,1x1,2")
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    counts = args.workers.split(",")
    results: dict[str, list[tuple[float, float, int]]] = {w: [] for w in counts}
    for _ in range(args.rounds):
        for w in counts:  # alternating, so drift in the machine's load hits every count alike
            results[w].append(measure(w, args.trials, args.epochs))
    print(f"machine: {cpu_name()}; command: benchmarks/tune_throughput.py "
          f"{' '.join(argv or sys.argv[1:])}\n")
    print("| workers | search trials/min (median) | each round | command s (median) | pruned |")
    print("|---|---|---|---|---|")
    base = statistics.median(r[0] for r in results[counts[0]])
    for w in counts:
        rates = [r[0] for r in results[w]]
        rate = statistics.median(rates)
        print(f"| {w} | {rate:.0f} ({rate / base:.2f}x) | {', '.join(f'{r:.0f}' for r in rates)} | "
              f"{statistics.median(r[1] for r in results[w]):.1f} | "
              f"{', '.join(str(r[2]) for r in results[w])} |")


if __name__ == "__main__":
    main()
