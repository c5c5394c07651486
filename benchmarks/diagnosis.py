"""The diagnosis benchmark: runs whose situation is known by construction, diagnosed as a user would
see them, and the first suggested command run to see whether it helps.

    python benchmarks/diagnosis.py                 # every case (a few minutes on 2 CPU cores)
    python benchmarks/diagnosis.py --only xor --only pima
    python benchmarks/diagnosis.py --list          # the cases and their commands

Each case is a `deepstart run` command (through the CLI, in this process) on built-in data or on a
file this script writes: a wide net on few rows for long (overfit), a linear model on XOR-like
data, one epoch, a tiny net (underfit), a huge learning rate (diverged), a test part whose inputs
were shifted or inverted (train/test mismatch), a forecaster that sees too short a window (losing to
seasonal naive), tiny tables (too few rows to tell), and the recipes (good fits). For your own data
a quick `deepstart evaluate` beside the run gives the target, as a user would run it.

For every case it prints the situation expected, the one diagnosed (the first finding), and for
the cases that are not good fits runs the first suggested next step when it is a `deepstart run`
command and reports whether the validation score improved (validation rows of the same split: the
suggestion keeps the run's --val-split and seed). The two figures at the end are the goals of
docs/diagnosis.md: the share of cases diagnosed as constructed, and the share of the cases that are
not good fits whose first suggestion improved the validation score (a first step that is not a
training run, such as k-fold `evaluate`, counts as not improved). Seeds are fixed: the same
machine gives the same table. The expected time of a suggestion is a timing (loaded machines slow
it); the two figures are not.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GOOD = "good fit"


@dataclass
class Case:
    name: str
    kind: str  # tabular, image, series
    expected: str  # the finding the construction makes true
    argv: list[str]  # after `deepstart run`, without --out
    why: str
    evaluate: list[str] = field(default_factory=list)  # `deepstart evaluate` args, run first


def _csv(path: Path, columns: dict[str, np.ndarray]) -> str:
    names = list(columns)
    rows = np.column_stack([columns[n] for n in names])
    lines = [",".join(names)] + [",".join(f"{v:.5g}" for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _test_rows(y: np.ndarray, stratify: bool = True, share: float = 0.2) -> np.ndarray:
    """The rows deepstart's own split will hold out for testing (same function, same seed)."""
    from deepstart.problems.splits import split_indices

    _, test = split_indices(y, max(1, int(np.ceil(len(y) * share))), 0, stratify=stratify)
    return test


def make_data(folder: Path) -> dict[str, str]:
    """Write the benchmark's own data files; returns name -> path."""
    from PIL import Image
    from sklearn.datasets import load_digits

    rng = np.random.default_rng(0)
    paths = {}
    # XOR-like: the class is the sign of x1 * x2; no line separates it
    x = rng.uniform(-1, 1, (800, 2))
    paths["xor"] = _csv(folder / "xor.csv", {"x1": x[:, 0], "x2": x[:, 1],
                                             "y": (x[:, 0] * x[:, 1] > 0).astype(int)})
    # few noisy rows and many columns: a wide net memorises them
    x = rng.normal(size=(240, 20))
    y = ((x[:, 0] + x[:, 1]) > 0).astype(int)
    flip = rng.random(len(y)) < 0.2
    y[flip] = 1 - y[flip]
    paths["noisy"] = _csv(folder / "noisy.csv", {**{f"f{i}": x[:, i] for i in range(20)}, "y": y})
    # a clean boundary; the rows deepstart will test on are shifted by 1.5 on both inputs
    x = rng.normal(size=(1000, 4))
    y = ((x[:, 0] - x[:, 1]) > 0).astype(int)
    test = _test_rows(y)
    x[test, 0] += 1.5
    x[test, 1] -= 1.5
    paths["shifted"] = _csv(folder / "shifted.csv", {**{f"f{i}": x[:, i] for i in range(4)}, "y": y})
    # tiny tables: a noisy boundary on 60 and on 110 rows
    for name, n, seed in (("tiny", 60, 1), ("small", 110, 2)):
        r = np.random.default_rng(seed)
        x = r.normal(size=(n, 5))
        y = ((x[:, 0] + 0.5 * x[:, 1] + r.normal(0, 0.6, n)) > 0).astype(int)
        paths[name] = _csv(folder / f"{name}.csv", {**{f"f{i}": x[:, i] for i in range(5)}, "y": y})
    # folders of digit images (scikit-learn's 8x8 digits as PNG): a small noisy one (pixel noise
    # of 90 grey levels: a wide net memorises it), and one whose test images are inverted
    digits = load_digits()
    clean = digits.images * (255 / 16)
    noisy = np.clip(clean + rng.normal(0, 90, clean.shape), 0, 255)
    for name, per_class, invert in (("digit-images-small", 15, False), ("digit-images-inverted", 60, True)):
        images = (clean if invert else noisy).astype(np.uint8)
        root = folder / name
        picked = np.concatenate([np.flatnonzero(digits.target == c)[:per_class] for c in range(10)])
        labels = digits.target[picked]
        order = np.lexsort((np.arange(len(picked)), labels))  # the folder's order: class, then name
        picked, labels = picked[order], labels[order]
        test = set(_test_rows(labels).tolist()) if invert else set()
        for i, (idx, label) in enumerate(zip(picked, labels)):
            (root / str(label)).mkdir(parents=True, exist_ok=True)
            pixels = 255 - images[idx] if i in test else images[idx]
            Image.fromarray(pixels, mode="L").save(root / str(label) / f"{i:05d}.png")
        paths[name] = str(root)
    # a series with a cycle of 10 steps, a trend and noise (its season must be found as 10)
    t = np.arange(300)
    value = 20 + 0.05 * t + 5 * np.sin(2 * np.pi * t / 10) + rng.normal(0, 0.8, len(t))
    paths["cycle"] = _csv(folder / "cycle.csv", {"t": t, "value": value})
    return paths


def cases(p: dict[str, str]) -> list[Case]:
    table_eval = ["--algorithms", "baseline,logistic,knn"]
    return [
        # --- tables ---
        Case("pima-overfit", "tabular", "high variance",
             ["pima-diabetes", "--hidden", "256,256", "--dropout", "0", "--epochs", "150",
              "--batch-size", "32"], "a 256-256 net on 553 rows for 150 epochs"),
        Case("noisy-overfit", "tabular", "high variance",
             [p["noisy"], "--target", "y", "--hidden", "512,512", "--epochs", "150",
              "--val-split", "0.25"], "a 512-512 net on 144 noisy rows of 20 columns",
             evaluate=[p["noisy"], "--target", "y", *table_eval]),
        Case("xor-logistic", "tabular", "high bias",
             [p["xor"], "--target", "y", "--model", "logistic", "--epochs", "30"],
             "a logistic regression on XOR-like classes",
             evaluate=[p["xor"], "--target", "y", *table_eval]),
        Case("wine-one-epoch", "tabular", "high bias",
             ["wine", "--epochs", "1", "--lr", "0.001"], "one epoch at a small step"),
        Case("iris-two-epochs", "tabular", "below baseline",
             ["iris", "--epochs", "2", "--lr", "0.001"],
             "two epochs at a small step: 14 updates leave it at chance"),
        Case("cancer-diverged", "tabular", "diverged",
             ["breast-cancer", "--lr", "100", "--optimizer", "sgd", "--epochs", "10"],
             "SGD at a learning rate of 100"),
        Case("shifted-test", "tabular", "validation/test mismatch",
             [p["shifted"], "--target", "y", "--epochs", "30"],
             "the test rows' inputs moved by 1.5",
             evaluate=[p["shifted"], "--target", "y", *table_eval]),
        Case("tiny-table", "tabular", "too few rows to tell",
             [p["tiny"], "--target", "y", "--hidden", "64", "--epochs", "100"],
             "60 rows: 4 for validation, 12 for test",
             evaluate=[p["tiny"], "--target", "y", *table_eval]),
        Case("small-table", "tabular", "too few rows to tell",
             [p["small"], "--target", "y", "--hidden", "64", "--epochs", "100"],
             "110 rows: 9 for validation, 22 for test",
             evaluate=[p["small"], "--target", "y", *table_eval]),
        Case("iris-recipe", "tabular", GOOD, ["iris"], "the recipe"),
        Case("wine-recipe", "tabular", GOOD, ["wine"], "the recipe"),
        Case("cancer-recipe", "tabular", GOOD, ["breast-cancer"], "the recipe"),
        # --- images ---
        Case("digit-folder-overfit", "image", "high variance",
             [p["digit-images-small"], "--model", "mlp", "--hidden", "512,512", "--dropout", "0",
              "--epochs", "150", "--val-split", "0.25"],
             "a 512-512 net on 90 noisy training images for 150 epochs"),
        Case("digits-tiny-net", "image", "high bias",
             ["digits", "--hidden", "2", "--dropout", "0", "--epochs", "30"], "2 hidden units"),
        Case("digits-one-epoch", "image", "high bias",
             ["digits", "--epochs", "1", "--lr", "0.0003"], "one epoch at a small step"),
        Case("digits-diverged", "image", "diverged",
             ["digits", "--lr", "50", "--optimizer", "sgd", "--epochs", "5"],
             "SGD at a learning rate of 50 (the issue's example)"),
        Case("inverted-test-images", "image", "validation/test mismatch",
             [p["digit-images-inverted"], "--epochs", "40"],
             "the test images inverted, white on black"),
        Case("digits-recipe", "image", GOOD, ["digits"], "the recipe"),
        # --- series ---
        Case("airline-recipe", "series", GOOD, ["airline-passengers"], "the recipe"),
        Case("airline-lookback-1", "series", "below baseline",
             ["airline-passengers", "--lookback", "1"],
             "a linear forecaster on the last month alone: loses to seasonal naive"),
        Case("airline-half-season", "series", "below baseline",
             ["airline-passengers", "--lookback", "6"],
             "a linear forecaster on the last 6 months: loses to seasonal naive"),
        Case("airline-diverged", "series", "diverged",
             ["airline-passengers", "--lr", "20", "--optimizer", "sgd", "--epochs", "20"],
             "SGD at a learning rate of 20"),
        Case("cycle-linear", "series", GOOD, [p["cycle"], "--forecast", "value", "--model", "linear"],
             "a linear forecaster on a noisy 10-step cycle (a season of values in)",
             evaluate=[p["cycle"], "--forecast", "value", "--algorithms", "persistence,linear"]),
        Case("cycle-one-epoch", "series", "below baseline",
             [p["cycle"], "--forecast", "value", "--epochs", "1"],
             "one epoch: the forecaster has learned nothing yet",
             evaluate=[p["cycle"], "--forecast", "value", "--algorithms", "persistence,linear"]),
    ]


def _deepstart(argv: list[str]) -> int:
    """`deepstart ARGV` in this process, its output swallowed (the table says what matters)."""
    from deepstart.cli import main

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return main(argv)


def _new_run(out: Path, argv: list[str]) -> Path | None:
    before = {p for p in out.iterdir()} if out.exists() else set()
    _deepstart(argv)
    new = [p for p in out.iterdir() if p not in before and (p / "metrics.json").is_file()
           and "-evaluate-" not in p.name]
    return new[0] if new else None


def _val(folder: Path) -> tuple[float | None, str, bool]:
    """(validation score, metric, greater is better); NaN when the run diverged."""
    m = json.loads((folder / "metrics.json").read_text())
    split = m.get("val") or m["test"]
    value = split.get(m["metric"])
    return (value if value is not None and math.isfinite(value) else None, m["metric"],
            m["greater_is_better"])


def run_case(case: Case, out: Path, show: bool = False, follow: bool = True) -> dict:
    """Run the case, diagnose it, and (with `follow`) run its first suggestion."""
    from deepstart.diagnose import _duration, diagnose_folder
    from deepstart.present import print_diagnosis

    started = time.perf_counter()
    if case.evaluate:
        _deepstart(["evaluate", *case.evaluate, "--out", str(out), "--quiet"])
    folder = _new_run(out, ["run", *case.argv, "--out", str(out), "--quiet"])
    if folder is None:
        return {"case": case.name, "expected": case.expected, "diagnosed": "run failed",
                "ok": False, "first": "", "improved": None, "note": "", "seconds": 0.0}
    d = diagnose_folder(folder)
    if show:
        print_diagnosis(d)
    diagnosed = d.names[0]
    result = {"case": case.name, "kind": case.kind, "expected": case.expected,
              "diagnosed": diagnosed, "ok": diagnosed == case.expected, "first": "",
              "improved": None, "note": "", "expected_time": ""}
    if case.expected != GOOD and follow:
        first = next((s for s in d.steps if s.command), None)
        result["first"] = first.command if first else ""
        if first is not None and first.command.startswith("deepstart run "):
            before, metric, greater = _val(folder)
            t0 = time.perf_counter()
            again = _new_run(out, [*shlex.split(first.command)[1:], "--quiet"])
            result["suggestion_seconds"] = time.perf_counter() - t0
            result["expected_time"] = _duration(first.seconds) if first.seconds else "-"
            if again is None:
                result["improved"], result["note"] = False, "the suggested command failed"
            else:
                after, _, _ = _val(again)
                result["improved"] = after is not None and (
                    before is None or (after > before if greater else after < before))
                result["note"] = f"validation {metric} {_f(before)} -> {_f(after)}"
        else:
            result["improved"] = False
            result["note"] = "first step is not a training run"
    result["seconds"] = time.perf_counter() - started
    return result


def _f(v) -> str:
    return "nan" if v is None else f"{v:.4g}"


def season_check(n: int = 300) -> str:
    """Season detection on synthetic series (periods 4 to 12, a harmonic, noise, a random-walk
    trend): how often the season found is within a step of the period, not a multiple of it."""
    from deepstart.problems.series import series_problem

    periods = (10, 12, 9.8, 12, 7, 4)
    right = 0
    for seed in range(n):
        rng = np.random.default_rng(seed)
        period, t = periods[seed % len(periods)], np.arange(240)
        s = (5 * np.sin(2 * np.pi * t / period) + 2 * np.sin(4 * np.pi * t / period)
             + rng.normal(0, 2, 240) + np.cumsum(rng.normal(0, 0.5, 240)))
        season = series_problem(s).schema["series"]["season"]
        right += season is not None and abs(season - period) <= 1
    return f"season detection: within a step of the period in {right} of {n} synthetic series"


def report(results: list[dict], tmp: str = "") -> str:
    """The markdown table and the two figures (docs/diagnosis.md holds a copy)."""
    lines = ["| case | expected | diagnosed | first suggestion | validation improved | time: "
             "expected training / whole command |", "|---|---|---|---|---|---|"]
    for r in results:
        improved = "" if r["improved"] is None else ("yes" if r["improved"] else "no")
        first = f"`{r['first'].replace(tmp, 'TMP')}`" if r["first"] else "-"
        note = f" ({r['note']})" if r["note"] else ""
        taken = (f"{r.get('expected_time') or '-'} / {r['suggestion_seconds']:.0f} s"
                 if "suggestion_seconds" in r else "")
        wrong = "" if r["ok"] else " ✗"
        lines.append(f"| {r['case']} | {r['expected']} | {r['diagnosed']}{wrong} | {first} | "
                     f"{improved}{note} | {taken} |")
    right = sum(r["ok"] for r in results)
    not_good = [r for r in results if r["expected"] != GOOD]
    improved = sum(bool(r["improved"]) for r in not_good)
    runs = [r for r in not_good if r["note"] != "first step is not a training run"]
    lines += ["", f"diagnosed as constructed: {right} of {len(results)} "
                  f"({100 * right / len(results):.0f} %)"]
    if not_good:
        lines.append(f"first suggestion improved the validation score: {improved} of "
                     f"{len(not_good)} cases that are not good fits "
                     f"({100 * improved / len(not_good):.0f} %); {improved} of the {len(runs)} "
                     "whose first suggestion is a training run")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", default=[], metavar="TEXT",
                        help="cases whose name contains TEXT (repeatable)")
    parser.add_argument("--list", action="store_true", help="print the cases and stop")
    parser.add_argument("--show", action="store_true", help="print each diagnosis in full")
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)  # tiny models: one thread is fastest, and steadier on a busy machine
    with tempfile.TemporaryDirectory(prefix="deepstart-diagnosis-") as tmp:
        tmp = Path(tmp)
        data = tmp / "data"
        data.mkdir()
        chosen = [c for c in cases(make_data(data))
                  if not args.only or any(t in c.name for t in args.only)]
        if args.list:
            for c in chosen:
                print(f"{c.name:24} {c.expected:26} deepstart run {shlex.join(c.argv)}")
            return 0
        out = tmp / "runs"
        out.mkdir()
        results = []
        for c in chosen:
            r = run_case(c, out, args.show)
            results.append(r)
            print(f"{r['case']:24} expected {r['expected']:26} diagnosed {r['diagnosed']:26} "
                  f"{'ok' if r['ok'] else 'WRONG'}  {r['seconds']:.0f} s", flush=True)
    print()
    print(report(results, str(tmp)))
    print(season_check())
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
