"""Measure the default network of your own table (deepstart.problems.tabular.default_recipe)
against fixed alternatives, on real tables, as `deepstart run TABLE.csv --target T` trains them:
the table's own 80/20 split, 10 % of the rest for validation, the last epoch's test score.

    python benchmarks/table_defaults.py                 # every table, prints a Markdown table
    python benchmarks/table_defaults.py --only pima     # one table
    python benchmarks/table_defaults.py --big-rows 5000 # a smaller slice of the image tables

Tables: scikit-learn's bundled iris, wine, breast-cancer, digits (8x8 pixels as 64 columns) and
diabetes (regression), the Pima CSV shipped in deepstart, and slices of Fashion-MNIST (900 and
20,000 rows) and MNIST (20,000 rows) as 784 pixel columns, when their files are on this machine. Small tables are scored over
three seeds (their test parts have 30 to 360 rows, so one seed says little); the large ones over one.
The figures in docs/evaluate.md came from one run of this script on a loaded 2-core machine.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch

import deepstart  # noqa: F401  (first: huge pages for torch's buffers)
from deepstart.learner import Learner
from deepstart.prepare import prepare
from deepstart.problems.tabular import default_recipe, tabular_problem

OLD_DEFAULT = {"model": "mlp", "hidden": [64], "epochs": 50, "batch_size": 32, "lr": 1e-3}
FIXED = {"64 (old default)": OLD_DEFAULT,  # and 256-256 with the old default's training settings
         "256-256": dict(OLD_DEFAULT, hidden=[256, 256])}


def _sklearn(name):
    import sklearn.datasets

    bunch = getattr(sklearn.datasets, name)()
    frame = pd.DataFrame(bunch.data, columns=[f"x{i}" for i in range(bunch.data.shape[1])])
    frame["target"] = bunch.target
    return frame


def _pima():
    from importlib import resources

    text = resources.files("deepstart.problems").joinpath("data/pima-indians-diabetes.csv")
    frame = pd.read_csv(text)
    return frame.rename(columns={"diabetes": "target"})


def _pixels(problem_name: str, rows: int):
    from deepstart.problems import get_problem

    data = get_problem(problem_name).load(download=False)
    x = data.x_train[:rows].reshape(rows, -1).astype(np.float32)
    frame = pd.DataFrame(x, columns=[f"p{i}" for i in range(x.shape[1])])
    frame["target"] = data.y_train[:rows]
    return frame


def tables(big_rows: int):
    yield "iris", lambda: _sklearn("load_iris"), None
    yield "wine", lambda: _sklearn("load_wine"), None
    yield "breast-cancer", lambda: _sklearn("load_breast_cancer"), None
    yield "pima", _pima, None
    yield "diabetes", lambda: _sklearn("load_diabetes"), "regression"
    yield "digits", lambda: _sklearn("load_digits"), None
    # few rows of many features: the rule widens the 64-unit layer to the 256 of the features
    yield "fashion-mnist 900", lambda: _pixels("fashion-mnist", 900), None
    yield f"fashion-mnist {big_rows:,}", lambda: _pixels("fashion-mnist", big_rows), None
    yield f"mnist {big_rows:,}", lambda: _pixels("mnist", big_rows), None


def score(problem, data_raw, recipe: dict, seed: int) -> tuple[float, float]:
    data = prepare(data_raw, problem, val_split=0.1, seed=seed)
    options = {k: v for k, v in recipe.items() if k not in ("model", "epochs", "batch_size", "lr")}
    t0 = time.perf_counter()
    learner = Learner(recipe["model"], data, lr=recipe["lr"], batch_size=recipe["batch_size"],
                      seed=seed, model_options=options, device="cpu", verbose=0)
    learner.fit(recipe["epochs"])
    return learner.evaluate("test")[problem.metric], time.perf_counter() - t0


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", help="a table's name (or its start)")
    parser.add_argument("--big-rows", type=int, default=20000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print("| table | rows x features, classes | network | test score | seconds |")
    print("|---|---|---|---|---|")
    for name, load, task in tables(args.big_rows):
        if args.only and not any(name.startswith(o) for o in args.only):
            continue
        try:
            frame = load()
        except Exception as e:  # a missing image set: say so, go on
            print(f"| {name} | not on this machine: {type(e).__name__} | | | |", flush=True)
            continue
        problem = tabular_problem(frame, "target", task=task, name=name)
        raw = problem.load()
        n_features = raw.x_train.shape[1]
        rule = default_recipe(len(frame), n_features, problem.n_classes)
        seeds = (0, 1, 2) if len(frame) < 5000 else (0,)
        shape = f"{len(frame):,} x {n_features}, {problem.n_classes or 'regression'}"
        for label, recipe in [("rule: " + _describe(rule), rule), *FIXED.items()]:
            got = [score(problem, raw, recipe, s) for s in seeds]
            values = [g[0] for g in got]
            spread = f" ± {np.std(values):.3f}" if len(values) > 1 else ""
            fmt = ".4f" if problem.metric == "accuracy" else ".2f"
            print(f"| {name} | {shape} | {label} | {problem.metric} {np.mean(values):{fmt}}{spread}"
                  f" (seeds {','.join(map(str, seeds))}) | {np.mean([g[1] for g in got]):.1f} |",
                  flush=True)


def _describe(recipe: dict) -> str:
    return (f"{'-'.join(map(str, recipe['hidden']))}, {recipe['epochs']} epochs, "
            f"batch {recipe['batch_size']}")


if __name__ == "__main__":
    main()
