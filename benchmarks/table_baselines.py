"""The computed references of the built-in tables (deepstart.problems.tables): the majority class or
the training mean, a linear model and gradient boosting (scikit-learn), trained on each problem's
training rows and scored once on its test rows: the split and the features deepstart itself uses
(the materialized problem's arrays: one-hot categories, imputed and flagged missing values).

    python benchmarks/table_baselines.py                # every table whose data is here
    python benchmarks/table_baselines.py --only ames

Settings are fixed in advance, not tuned on the test rows: standardised features, then
LogisticRegression(C=1, max_iter=5000) or Ridge(alpha=1); HistGradientBoosting with scikit-learn's
defaults and random_state=0. Prints a Markdown table with every metric of the task, the problem's
own first. The catalog's "computed here" references come from one run of this script.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def models(classify: bool):
    from sklearn.dummy import DummyClassifier, DummyRegressor
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if classify:
        return {"majority class": DummyClassifier(strategy="most_frequent"),
                "logistic regression (C=1) on standardised features": make_pipeline(
                    StandardScaler(), LogisticRegression(C=1.0, max_iter=5000)),
                "gradient boosting (HistGradientBoosting, defaults)":
                    HistGradientBoostingClassifier(random_state=0)}
    return {"training mean": DummyRegressor(strategy="mean"),
            "ridge regression (alpha=1) on standardised features": make_pipeline(
                StandardScaler(), Ridge(alpha=1.0)),
            "gradient boosting (HistGradientBoosting, defaults)":
                HistGradientBoostingRegressor(random_state=0)}


def measure(name: str) -> tuple[list[str], list[dict]]:
    from deepstart.problems import get_problem
    from deepstart.problems.metrics import compute

    problem = get_problem(name)
    data = problem.load()
    classify = problem.task != "regression"
    rows = []
    for label, model in models(classify).items():
        start = time.perf_counter()
        model.fit(data.x_train, data.y_train)
        predicted = model.predict(data.x_test)
        score = None
        if problem.task == "binary":
            score = model.predict_proba(data.x_test)[:, 1]
        seconds = time.perf_counter() - start
        values = {m: compute(m, data.y_test, predicted, score=score) for m in problem.metrics}
        rows.append({"model": label, "n": f"{len(data.y_train)} / {len(data.y_test)}",
                     "seconds": seconds, **values})
    return list(problem.metrics), rows


def main() -> None:
    from deepstart.problems import all_problems
    from deepstart.problems.tables import SOURCES

    tables = [p.name for p in all_problems() if p.name in SOURCES]  # the catalog fills SOURCES
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=tables, help="one problem")
    args = parser.parse_args()
    names = [args.only] if args.only else tables
    print("| problem | model | train / test | metrics | fit + predict s |")
    print("|---|---|---|---|---|")
    for name in names:
        try:
            metrics, rows = measure(name)
        except ValueError as e:  # DataError: the data is not on this machine
            print(f"| {name} | (skipped: {e}) | | | |")
            continue
        for r in rows:
            shown = ", ".join(f"{m} {r[m]:.4f}" for m in metrics if r[m] is not None
                              and np.isfinite(r[m]))
            print(f"| {name} | {r['model']} | {r['n']} | {shown} | {r['seconds']:.2f} |")


if __name__ == "__main__":
    main()
