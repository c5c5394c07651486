"""Small real runs for the serve tests, trained once per test session (test_serve.py and
test_serve_browser.py share them): digits (8x8 images), iris (a built-in table), a CSV of breast
cancer rows with a categorical column and missing values (your own table), and the airline series
(a forecast)."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer

from deepstart.cli import main
from deepstart.problems.splits import split_indices


def cancer_frame() -> pd.DataFrame:
    """569 rows: six measurements (one with gaps), a clinic (a category with gaps), a patient id
    and a constant (both dropped in training), and the diagnosis as text."""
    source = load_breast_cancer(as_frame=True).frame
    rng = np.random.default_rng(0)
    frame = source.iloc[:, :6].copy()
    frame.insert(0, "patient_id", np.arange(1000, 1000 + len(source)))
    frame["clinic"] = rng.choice(["north", "south", "east"], len(source))
    frame.loc[rng.random(len(source)) < 0.05, "clinic"] = None
    frame.loc[rng.random(len(source)) < 0.1, "mean radius"] = np.nan
    frame["scanner"] = "v2"
    frame["diagnosis"] = np.where(source["target"] == 1, "benign", "malignant")
    return frame


def cancer_test_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows the CSV problem holds out for testing, in its order (stratified 20 %, seed 0)."""
    y = (frame["diagnosis"] == "malignant").astype(int).to_numpy()
    _, test = split_indices(y, int(np.ceil(len(frame) * 0.2)), 0, stratify=True)
    return frame.iloc[test]


@functools.cache
def trained_runs(base: Path) -> dict[str, Path]:
    """{"digits", "iris", "cancer", "airline"} -> run folder, trained under `base` (2 epochs each:
    the tests check the serving, not the accuracy)."""
    previous = os.environ.get("DEEPSTART_HOME")
    os.environ["DEEPSTART_HOME"] = str(base / "home")  # decoded data is cached here, not in ~/.cache
    try:
        csv = base / "cancer.csv"
        cancer_frame().to_csv(csv, index=False)
        commands = {
            "digits": ["digits"],
            "iris": ["iris"],
            "cancer": [str(csv), "--target", "diagnosis"],
            "airline": ["airline-passengers"],
        }
        runs = {}
        for name, args in commands.items():
            out = base / name
            assert main(["run", *args, "--epochs", "2", "--quiet", "--out", str(out)]) == 0
            runs[name] = next(out.iterdir())
        return runs
    finally:
        if previous is None:
            os.environ.pop("DEEPSTART_HOME", None)
        else:
            os.environ["DEEPSTART_HOME"] = previous
