"""Sequence classification recipes measured as a user runs them: `deepstart run` in a new process on
scikit-learn's digits read as 8 steps of 8 pixels (a table, `--sequence --features-per-step 8`) and
on JapaneseVowels (a folder of 640 CSV files of 7 to 29 frames x 12 coefficients, its TRAIN and
TEST parts pooled and split 80/20 by deepstart), for lstm (the default), gru and transformer.

    pip download aeon==1.6.0 --no-deps -d /tmp/wheels        # JapaneseVowels ships inside the wheel
    python benchmarks/sequences.py --aeon-wheel /tmp/wheels/aeon-1.6.0-py3-none-any.whl

Prints a table (data, model, test accuracy, epochs, wall seconds); docs/sequences.md keeps it.
Run it on a quiet machine: the wall time depends on it.
"""

from __future__ import annotations

import argparse
import csv
import re
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

MODELS = ("lstm", "gru", "transformer")


def digits_table(path: Path) -> Path:
    from sklearn.datasets import load_digits

    d = load_digits()
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow([f"r{i // 8}c{i % 8}" for i in range(64)] + ["digit"])
        w.writerows([*map(int, row), int(t)] for row, t in zip(d.data, d.target))
    return path


def vowels_folder(wheel: Path, root: Path) -> Path:
    """JapaneseVowels' .ts files from the aeon wheel as speakerN/<part><n>.csv, one file per example."""
    n = 0
    with zipfile.ZipFile(wheel) as z:
        for part in ("TRAIN", "TEST"):
            lines = z.read(f"aeon/datasets/data/JapaneseVowels/JapaneseVowels_{part}.ts").decode()
            lines = lines.splitlines()
            start = next(i for i, line in enumerate(lines) if line.strip().lower() == "@data") + 1
            for line in filter(str.strip, lines[start:]):
                *dims, label = line.strip().split(":")
                dims = [d.split(",") for d in dims]
                folder = root / f"speaker{label}"
                folder.mkdir(parents=True, exist_ok=True)
                with (folder / f"{part.lower()}{n:03d}.csv").open("w", newline="") as f:
                    w = csv.writer(f)
                    w.writerow([f"lpc{c + 1}" for c in range(len(dims))])
                    w.writerows(zip(*dims))
                n += 1
    return root


def run(args: list[str], out: Path) -> tuple[float, int, float]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "deepstart", "run", *args, "--out", str(out)],
                          capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - started
    found = re.search(r"test accuracy ([0-9.]+) on \S+ \(\w+, (\d+) epochs", done.stdout)
    return float(found[1]), int(found[2]), seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aeon-wheel", type=Path, help="aeon's wheel, for JapaneseVowels")
    parser.add_argument("--epochs", help="instead of the recipe's (a quick check)")
    args = parser.parse_args(argv)
    extra = ["--epochs", args.epochs] if args.epochs else []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = [("digits (table, 8 x 8)", [str(digits_table(tmp / "digits.csv")), "--target",
                                           "digit", "--sequence", "--features-per-step", "8"])]
        if args.aeon_wheel:
            data.append(("JapaneseVowels (640 files)", [str(vowels_folder(args.aeon_wheel,
                                                                           tmp / "vowels"))]))
        print("| data | model | test accuracy | epochs | wall s |")
        print("|---|---|---|---|---|")
        for name, data_args in data:
            for model in MODELS:
                accuracy, epochs, seconds = run([*data_args, "--model", model, *extra], tmp / "runs")
                print(f"| {name} | {model} | {accuracy:.4f} | {epochs} | {seconds:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
