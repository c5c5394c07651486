"""Samples per second with 1, 2, ... processes (DistributedDataParallel, gloo on CPUs, NCCL on GPUs).

Runs `deepstart run fashion-mnist --nproc N` (torchrun underneath) with the articles' MLP 256-256 at
batch 100 per process, constant learning rate, and reads the per-epoch seconds from the run's
history.csv: throughput = training rows / median epoch time (epochs after the first). On the 2-core
machines here, expect little gain: the point is that the same command runs distributed, and the
figure on record. On a machine with GPUs, the same script measures NCCL.

    .venv/bin/python benchmarks/scaling.py [--nproc 1,2] [--epochs 3]
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import cpu_name  # noqa: E402


def measure(nproc: int, epochs: int, device: str) -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([sys.executable, "-m", "deepstart", "run", "fashion-mnist", "--nproc",
                        str(nproc), "--epochs", str(epochs), "--batch-size", "100", "--lr", "0.001",
                        "--schedule", "constant", "--device", device, "--quiet", "--out", out],
                       check=True, capture_output=True)
        folder = next(Path(out).iterdir())
        seconds = [float(r["seconds"]) for r in csv.DictReader((folder / "history.csv").open())]
        metrics = json.loads((folder / "metrics.json").read_text())
    epoch = statistics.median(seconds[1:] or seconds)
    rows = 54_000  # 60,000 training images less the 10 % validation split
    return epoch, rows / epoch, metrics["test"]["accuracy"]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nproc", default="1,2")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    results = [(n, *measure(n, args.epochs, args.device)) for n in map(int, args.nproc.split(","))]
    base = results[0][2]
    print(f"machine: {cpu_name()}; command: benchmarks/scaling.py {' '.join(argv or sys.argv[1:])}\n")
    print("| processes | s/epoch (median) | samples/s | speed-up | test accuracy |")
    print("|---|---|---|---|---|")
    for n, epoch, rate, acc in results:
        print(f"| {n} | {epoch:.2f} | {rate:,.0f} | {rate / base:.2f} | {acc:.4f} |")


if __name__ == "__main__":
    main()
