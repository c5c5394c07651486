"""The series shipped in the package (Nile, sunspots, Mauna Loa CO2 and the airline passengers):
their size, checksum and split, and the baselines the catalog records for them, recomputed."""

from __future__ import annotations

import hashlib
from importlib import resources

import numpy as np
import pytest

from deepstart.cli import main
from deepstart.errors import DataError
from deepstart.problems import catalog, get_problem


def rmse(a, b) -> float:
    return float(np.sqrt(np.mean((np.asarray(a, np.float64) - b) ** 2)))


def ar_rmse(s: np.ndarray, n_train: int, test_t: np.ndarray, order: int) -> float:
    """A linear AR(order) with intercept, least squares on the training values, scored one step
    ahead on the test targets."""
    s = s.astype(np.float64)

    def design(t):
        return np.stack([s[t - k] for k in range(1, order + 1)] + [np.ones(len(t))], axis=1)

    fit_t = np.arange(order, n_train)
    w = np.linalg.lstsq(design(fit_t), s[fit_t], rcond=None)[0]
    return rmse(design(test_t) @ w, s[test_t])


# name, file, values, training values, first and last value, season of the seasonal-naive
# baseline, the AR order of the recorded linear baseline
SHIPPED = [
    ("nile", "nile.csv", 100, 67, 1120.0, 740.0, None, 10),
    ("sunspots", "sunspots.csv", 309, 206, 5.0, 2.9, 11, 12),
    ("mauna-loa-co2", "co2-monthly.csv", 526, 351, 316.1, 371.02, 12, 24),
]


@pytest.mark.parametrize("name, file, n, n_train, first, last, season, order", SHIPPED)
def test_shipped_series_size_checksum_split_and_baselines(name, file, n, n_train, first, last,
                                                          season, order):
    raw = resources.files("deepstart.problems").joinpath(f"data/{file}").read_bytes()
    assert hashlib.sha256(raw).hexdigest() == catalog.SHIPPED_SHA256[file]
    problem = get_problem(name)
    data = problem.load()
    s = data.series
    assert len(s) == n and len(data.x_train) == n_train and np.isfinite(s).all()
    assert s[0] == pytest.approx(first) and s[-1] == pytest.approx(last, abs=0.05)
    # the split `deepstart run FILE.csv --forecast COLUMN` gives: the last third, every value scored
    assert data.test_targets.tolist() == list(range(n_train, n))
    assert f"first {n_train} values train; the last {n - n_train}" in problem.split
    t = data.test_targets
    refs = {r.model.split(" (")[0]: r for r in problem.references}
    assert refs["persistence baseline"].value == pytest.approx(rmse(s[t - 1], s[t]), rel=5e-4)
    if season:
        assert refs["seasonal naive baseline"].value == pytest.approx(rmse(s[t - season], s[t]),
                                                                      rel=5e-4)
    ar = next(r for r in problem.references if r.model.startswith(f"linear AR({order})"))
    assert ar.value == pytest.approx(ar_rmse(s, n_train, t, order), rel=5e-4)
    assert all(r.source.startswith(f"computed here on the same {n - n_train} test values")
               for r in problem.references)
    # each recipe sets out to beat the best of the naive baselines, on the same test values
    naive = min(refs["persistence baseline"].value,
                refs["seasonal naive baseline"].value if season else np.inf)
    assert {r.model for r in problem.recipes} == {"lstm", "gru"}
    assert all(r.target == pytest.approx(naive, abs=0.06) for r in problem.recipes)


def test_co2_months_without_a_weekly_value_are_filled_between_their_neighbours():
    s = get_problem("mauna-loa-co2").load().series
    # 1958-06 (index 3) and 1964-02..04 (71-73) have no weekly value in statsmodels' file
    assert s[3] == pytest.approx((s[2] + s[4]) / 2)
    assert s[71:74] == pytest.approx(s[70] + (s[74] - s[70]) * np.array([1, 2, 3]) / 4)


def test_a_damaged_shipped_file_is_named_and_nothing_runs(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(catalog.SHIPPED_SHA256, "sunspots.csv", "0" * 64)
    with pytest.raises(DataError, match="sunspots.csv shipped with deepstart is damaged"):
        get_problem("sunspots").load()
    assert main(["run", "sunspots", "--epochs", "1", "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "reinstall deepstart" in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_problem_with_only_computed_references_does_not_call_them_published(tmp_path, capsys):
    from deepstart.cli import main

    assert main(["run", "nile", "--model", "linear", "--epochs", "1", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "references computed here: best" in out and "published: best" not in out
