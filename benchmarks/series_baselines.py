"""The computed references of the built-in series: persistence (the last value), seasonal naive
(the same season's last value) and a linear AR(p) (least squares with an intercept on the training
part's windows of the recipe's look-back), each scored on the problem's own test targets,
walk-forward one step ahead, as deepstart scores a network there.

    python benchmarks/series_baselines.py            # every built-in series whose data is here
    python benchmarks/series_baselines.py --only elnino

Prints a Markdown table; the catalog's "computed here" references of the series come from it.
"""

from __future__ import annotations

import argparse

import numpy as np

SEASONS = {"airline-passengers": 12, "mauna-loa-co2": 12, "sunspots": 11, "elnino": 12, "drinks": 12}


def measure(name: str) -> list[tuple[str, float]]:
    from deepstart.problems import get_problem

    problem = get_problem(name)
    data = problem.load()
    s, t = data.series.astype(np.float64), data.test_targets
    n_train = len(data.y_train)

    def rmse(pred):
        return float(np.sqrt(np.mean((pred - s[t]) ** 2)))

    rows = [("persistence (last value)", rmse(s[t - 1]))]
    if name in SEASONS:
        rows.append((f"seasonal naive ({SEASONS[name]} steps earlier)", rmse(s[t - SEASONS[name]])))
    p = problem.recipe.get("lookback")
    if p:
        windows = np.arange(p, n_train)
        x = np.hstack([np.stack([s[r - p:r] for r in windows]), np.ones((len(windows), 1))])
        w = np.linalg.lstsq(x, s[windows], rcond=None)[0]
        x_test = np.hstack([np.stack([s[r - p:r] for r in t]), np.ones((len(t), 1))])
        rows.append((f"linear AR({p}), least squares with an intercept", rmse(x_test @ w)))
    return rows


def main() -> None:
    from deepstart.problems import all_problems

    series = [p.name for p in all_problems() if p.kind == "series"]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=series, help="one problem")
    args = parser.parse_args()
    print("| problem | baseline | test RMSE |")
    print("|---|---|---|")
    for name in [args.only] if args.only else series:
        try:
            rows = measure(name)
        except ValueError as e:  # DataError: the data is not on this machine
            print(f"| {name} | (skipped: {e}) | |")
            continue
        for label, value in rows:
            print(f"| {name} | {label} | {value!r} |")


if __name__ == "__main__":
    main()
