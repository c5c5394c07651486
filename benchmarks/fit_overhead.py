"""Does `Learner.fit` add overhead to a hand-written PyTorch loop? Seconds per epoch, side by side.

The models of ../shared/BENCHMARKS.md on Fashion-MNIST (60,000 training images in memory, pixels in
[0, 1]): the MLP 256-256 at batch 100 and 512, the small CNN at batch 128; Adam lr 1e-3. In one
process, the loops alternating blocks of epochs so that machine noise hits all of them alike;
medians over all timed epochs, after one warm-up epoch each. Loops compared:

  hand-written        the plain loop of BENCHMARKS.md: default torch.optim.Adam, a random
                      permutation cut into index slices, contiguous NCHW tensors
  hand-written+fused  the same loop with Adam(fused=True), the optimizer deepstart uses
  ...+channels_last   (CNN only) also the model and each batch in channels_last memory format
  deepstart           Learner(model, prepared, verbose=0).fit(1) per epoch (fused Adam, and
                      channels_last for the CNN, both chosen automatically on this CPU)

Then, from new processes, the wall time of `deepstart run` (command start to result) with each
problem's recipe on digits and Fashion-MNIST, and of `deepstart --help`.

    .venv/bin/python benchmarks/fit_overhead.py [--models mlp,cnn] [--rounds 2]
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

# deepstart first, as a user's script imports it: it turns on huge pages for torch's large buffers
# (deepstart/__init__.py), for every loop in this process. THP_MEM_ALLOC_ENABLE=0 measures without.
import deepstart  # noqa: F401, I001
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from common import accuracy, cpu_name, fashion_mnist, huge_pages, mlp, small_cnn  # noqa: E402

from deepstart import Learner  # noqa: E402

CASES = {  # name: (model builder, batch sizes, timed epochs per round)
    "mlp": (mlp, (100, 512), 5),
    "cnn": (small_cnn, (128,), 1),
}


def hand_written(build, x, y, batch_size: int, fused: bool, channels_last: bool = False):
    torch.manual_seed(0)
    model = build()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True) if fused else \
        torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    fmt = torch.channels_last if channels_last else torch.contiguous_format

    def epoch() -> None:
        model.train()
        perm = torch.randperm(len(x))
        for i in range(0, len(x), batch_size):
            idx = perm[i:i + batch_size]
            loss = loss_fn(model(x[idx].contiguous(memory_format=fmt)), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()

    return epoch, model


def deepstart_fit(build, prepared, batch_size: int):
    torch.manual_seed(0)
    learner = Learner(build(), prepared, lr=1e-3, batch_size=batch_size, verbose=0)
    return (lambda: learner.fit(1)), learner.model


def time_loops(prepared, names: list[str], rounds: int) -> list[tuple]:
    x, y = prepared.x_train, prepared.y_train
    rows = []
    for name in names:
        build, batch_sizes, epochs = CASES[name]
        for bs in batch_sizes:
            loops = {"hand-written": hand_written(build, x, y, bs, fused=False),
                     "hand-written+fused": hand_written(build, x, y, bs, fused=True)}
            if name == "cnn":  # the best a hand-written loop does here, for comparison
                loops["hand-written+fused+channels_last"] = hand_written(build, x, y, bs, fused=True,
                                                                         channels_last=True)
            loops["deepstart"] = deepstart_fit(build, prepared, bs)
            times: dict[str, list[float]] = {loop: [] for loop in loops}
            for epoch, _ in loops.values():  # warm-up: first-call costs are not per-epoch costs
                epoch()
            for _ in range(rounds):
                for loop, (epoch, _) in loops.items():
                    for _ in range(epochs):
                        start = time.perf_counter()
                        epoch()
                        times[loop].append(time.perf_counter() - start)
            base = statistics.median(times["hand-written"])
            for loop, (_, model) in loops.items():
                med = statistics.median(times[loop])
                rows.append((f"{name.upper()}, batch {bs}", loop, med, med / base,
                             accuracy(model, prepared.x_test, prepared.y_test), len(times[loop]) + 1))
            print(f"{name} batch {bs} done", file=sys.stderr)
    return rows


def run_wall(problem: str, times: int = 3) -> tuple[float, float, str]:
    """Median wall time of `deepstart run PROBLEM` in a new process, its test accuracy and recipe."""
    walls, accs = [], []
    for _ in range(times):
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "deepstart", "run", problem, "--quiet", "--out", out],
                           check=True, capture_output=True)
            walls.append(time.perf_counter() - start)
            folder = next(Path(out).iterdir())
            accs.append(json.loads((folder / "metrics.json").read_text())["test"]["accuracy"])
            config = json.loads((folder / "config.json").read_text())
    recipe = (f"{config['model']} {config['model_options']}, {config['epochs']} epochs, batch "
              f"{config['batch_size']}, lr {config['lr']}, {config['schedule']}")
    return statistics.median(walls), accs[0], recipe


def help_wall(times: int = 10) -> float:
    walls = []
    for _ in range(times):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "deepstart.cli", "--help"], check=True,
                       capture_output=True)
        walls.append(time.perf_counter() - start)
    return statistics.median(walls)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="mlp,cnn", help="which loops to time: mlp, cnn")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-runs", action="store_true", help="skip the `deepstart run` timings")
    parser.add_argument("--limit", type=int, help="train on the first N images only (more, shorter "
                        "epochs: more alternations in the same time, so less noise)")
    parser.add_argument("--epochs", type=int, help="timed epochs per loop per round (default: 5 for "
                        "the MLP, 1 for the CNN)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    prepared = fashion_mnist()
    if args.limit:
        prepared.x_train, prepared.y_train = prepared.x_train[:args.limit], prepared.y_train[:args.limit]
    if args.epochs:
        for name, (build, sizes, _) in CASES.items():
            CASES[name] = (build, sizes, args.epochs)
    rows = time_loops(prepared, [m for m in args.models.split(",") if m], args.rounds)
    runs = [] if args.no_runs else [(p, *run_wall(p)) for p in ("digits", "fashion-mnist")]
    print(f"\nmachine: {cpu_name()}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"huge pages for torch buffers: {huge_pages()}")
    print(f"command: {' '.join(['benchmarks/fit_overhead.py', *(argv or sys.argv[1:])])}\n")
    print("| model, batch | loop | s/epoch (median) | ratio to hand-written | test acc. | epochs |")
    print("|---|---|---|---|---|---|")
    for model, loop, med, ratio, acc, n in rows:
        print(f"| {model} | {loop} | {med:.3f} | {ratio:.2f} | {acc:.4f} | {n} |")
    if runs:
        print("\n| command (new process) | wall s (median of 3) | test accuracy | recipe |")
        print("|---|---|---|---|")
        for problem, wall, acc, recipe in runs:
            print(f"| deepstart run {problem} | {wall:.2f} | {acc:.4f} | {recipe} |")
        print(f"| deepstart --help | {help_wall():.3f} | | |")


if __name__ == "__main__":
    main()
