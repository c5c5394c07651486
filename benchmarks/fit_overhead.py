"""Does `Learner.fit` add overhead to a hand-written PyTorch loop? Seconds per epoch, side by side.

MLP 256-256 (BENCHMARKS.md) on Fashion-MNIST (60,000 training images in memory, pixels in [0, 1]),
in one process, the tools alternating epoch-blocks so that machine noise hits all of them alike;
medians over all timed epochs. Loops compared:

  hand-written      the plain loop of ../shared/BENCHMARKS.md: default torch.optim.Adam, a random
                    permutation cut into index slices, contiguous tensors
  hand-written+fused the same loop with Adam(fused=True): the optimizer deepstart uses
  deepstart         Learner(model, prepared, val_split 0, verbose 0).fit(1) per epoch

Also times `deepstart run` (digits, its recipe) in a new process (wall time, test accuracy) and
`deepstart --help`.

    .venv/bin/python benchmarks/fit_overhead.py [--epochs 5] [--rounds 2] [--batch-sizes 100,512]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from deepstart import Learner, get_problem
from deepstart.prepare import prepare


def mlp() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                         nn.Linear(256, 10))


def hand_written(x, y, batch_size: int, fused: bool):
    torch.manual_seed(0)
    model = mlp()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True) if fused else \
        torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def epoch() -> None:
        model.train()
        perm = torch.randperm(len(x))
        for i in range(0, len(x), batch_size):
            idx = perm[i:i + batch_size]
            loss = loss_fn(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()

    return epoch, model


def deepstart_fit(prepared, batch_size: int):
    torch.manual_seed(0)
    learner = Learner(mlp(), prepared, lr=1e-3, batch_size=batch_size, verbose=0)
    return (lambda: learner.fit(1)), learner.model


def accuracy(model: nn.Module, x, y) -> float:
    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def help_seconds(times: int = 10) -> float:
    """Median wall time of `deepstart --help` (a new interpreter each time)."""
    walls = []
    for _ in range(times):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "deepstart.cli", "--help"], check=True,
                       capture_output=True)
        walls.append(time.perf_counter() - start)
    return statistics.median(walls)


def cold_run() -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "deepstart.cli", "run", "--quiet", "--out", out],
                       check=True, capture_output=True)
        wall = time.perf_counter() - start
        metrics = json.loads(next(Path(out).iterdir()).joinpath("metrics.json").read_text())
    return wall, metrics["test"]["accuracy"]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs per tool per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch-sizes", default="100,512")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    problem = get_problem("fashion-mnist")
    prepared = prepare(problem.load(), problem, val_split=0.0)
    x, y = prepared.x_train, prepared.y_train
    rows = []
    for bs in (int(b) for b in args.batch_sizes.split(",")):
        tools = {"hand-written": hand_written(x, y, bs, fused=False),
                 "hand-written+fused": hand_written(x, y, bs, fused=True),
                 "deepstart": deepstart_fit(prepared, bs)}
        times: dict[str, list[float]] = {name: [] for name in tools}
        for name, (epoch, _) in tools.items():  # warm-up: first-call costs are not per-epoch costs
            epoch()
        for _ in range(args.rounds):
            for name, (epoch, _) in tools.items():
                for _ in range(args.epochs):
                    start = time.perf_counter()
                    epoch()
                    times[name].append(time.perf_counter() - start)
        base = statistics.median(times["hand-written"])
        for name, (_, model) in tools.items():
            med = statistics.median(times[name])
            rows.append((f"MLP 256-256, batch {bs}", name, med, med / base,
                         accuracy(model, prepared.x_test, prepared.y_test), len(times[name]) + 1))
        print(f"batch {bs} done", file=sys.stderr)

    walls, accs = zip(*(cold_run() for _ in range(3)))
    wall, acc = statistics.median(walls), accs[0]
    help_wall = help_seconds()
    print(f"\nmachine: {_cpu()}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"command: {' '.join(['benchmarks/fit_overhead.py', *(argv or sys.argv[1:])])}\n")
    print("| model, batch | loop | s/epoch (median) | ratio to hand-written | test acc. after all epochs | epochs |")
    print("|---|---|---|---|---|---|")
    for model, name, med, ratio, acc_, n in rows:
        print(f"| {model} | {name} | {med:.3f} | {ratio:.2f} | {acc_:.4f} | {n} |")
    print(f"\n`deepstart run` (digits, recipe defaults) from a new process: {wall:.2f} s wall "
          f"(median of 3), test accuracy {acc:.4f}")
    print(f"`deepstart --help`: {help_wall:.3f} s wall (median of 10)")


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    main()
