"""Preparation: scaling from the training part only, deterministic splits, task inference,
windows for series. Property-based where the input space is large."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from deepstart import get_problem, prepare_arrays
from deepstart.prepare import prepare
from deepstart.errors import DeepstartError


def test_images_scaled_to_unit_range_and_split_stratified():
    problem = get_problem("digits")
    p = prepare(problem.load(), problem, val_split=0.2, seed=0)
    assert p.x_train.dtype == torch.float32 and p.input_shape == (1, 8, 8)
    assert 0 <= float(p.x_train.min()) and float(p.x_train.max()) <= 1
    assert len(p.x_train) + len(p.x_val) == 1347 and len(p.x_val) == 269
    # stratified: every class keeps about its share in the validation part
    share = np.bincount(p.y_val.numpy(), minlength=10) / len(p.y_val)
    assert np.all(np.abs(share - 0.1) < 0.03)


def test_tables_standardised_with_training_statistics_only():
    problem = get_problem("wine")
    p = prepare(problem.load(), problem, val_split=0.1, seed=0)
    torch.testing.assert_close(p.x_train.mean(0), torch.zeros(13), atol=1e-5, rtol=0)
    assert float(p.x_test.mean(0).abs().max()) > 1e-3  # the test part was not used for the stats


def test_same_seed_same_split_other_seed_other_split():
    problem = get_problem("iris")
    a, b, c = (prepare(problem.load(), problem, seed=s) for s in (1, 1, 2))
    assert torch.equal(a.x_val, b.x_val) and not torch.equal(a.x_val, c.x_val)


def test_series_windows_predict_the_next_month():
    problem = get_problem("airline-passengers")
    data = problem.load()
    p = prepare(data, problem, val_split=0.0, lookback=3)
    raw_x = p.x_test.numpy() * p.scaling["x"]["scale"] + p.scaling["x"]["offset"]
    raw_y = p.target_values(p.y_test)
    t = data.test_targets
    np.testing.assert_allclose(raw_y, data.series[t], rtol=1e-5)
    np.testing.assert_allclose(raw_x, np.stack([data.series[t - 3], data.series[t - 2],
                                                data.series[t - 1]], axis=1), rtol=1e-5)


def test_bad_lookback_and_val_split():
    problem = get_problem("airline-passengers")
    with pytest.raises(DeepstartError, match="look-back of 200 does not fit 96 training values"):
        prepare(problem.load(), problem, lookback=200)
    with pytest.raises(DeepstartError, match=r"validation split must be in \[0, 1\)"):
        prepare(problem.load(), problem, val_split=1.5)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(8, 60), f=st.integers(1, 5), classes=st.integers(2, 4), seed=st.integers(0, 99),
       data=st.data())
def test_prepare_arrays_classes(n, f, classes, seed, data):
    x = data.draw(arrays(np.float64, (n, f), elements=st.floats(-1e3, 1e3)))
    y = np.arange(n) % classes  # every class present
    p = prepare_arrays(x, y, seed=seed, val_split=0.0, test_split=0.25)
    assert p.task == ("binary" if classes == 2 else "multiclass")
    assert len(p.x_train) + len(p.x_test) == n
    assert torch.isfinite(p.x_train).all() and torch.isfinite(p.x_test).all()
    labels = p.y_train.numpy().reshape(-1)
    assert set(np.unique(labels)) <= set(range(classes))
    assert p.class_names == tuple(str(c) for c in range(classes))


@settings(max_examples=30, deadline=None)
@given(values=arrays(np.float64, st.integers(10, 50), elements=st.floats(-1e4, 1e4, width=32)
                     .filter(lambda v: v != round(v))))
def test_prepare_arrays_regression_targets_round_trip(values):
    x = np.arange(len(values), dtype=np.float32)[:, None]
    p = prepare_arrays(x, values, val_split=0.0)
    assert p.task == "regression"
    back = np.sort(np.concatenate([p.target_values(p.y_train), p.target_values(p.y_test)]))
    np.testing.assert_allclose(back, np.sort(values.astype(np.float32)), rtol=1e-4, atol=1e-2)


@pytest.mark.parametrize("x, y, message", [
    (np.zeros((5, 2)), np.zeros(4), "x has 5 rows but y has 4"),
    (np.zeros((3, 2)), np.arange(3), "too few to train and test"),
    (np.zeros((10, 2)), np.ones(10, dtype=int), "a single class"),
])
def test_bad_arrays(x, y, message):
    with pytest.raises(DeepstartError, match=message):
        prepare_arrays(x, y)


@settings(max_examples=60, deadline=None)
@given(counts=st.lists(st.integers(2, 40), min_size=2, max_size=6), frac=st.floats(0.1, 0.5),
       seed=st.integers(0, 2**31))
def test_stratified_split_keeps_class_shares(counts, frac, seed):
    from deepstart.problems.splits import split_indices

    y = np.repeat(np.arange(len(counts)), counts)
    n_test = max(1, int(len(y) * frac))
    train, test = split_indices(y, n_test, seed)
    assert len(test) == n_test and len(train) + len(test) == len(y)
    assert not set(train) & set(test)
    for c, count in enumerate(counts):
        in_test = int((y[test] == c).sum())
        assert abs(in_test - count * n_test / len(y)) < 1.5 + 1e-9 or in_test == count - 1
        assert (y[train] == c).any()  # every class keeps a training row
    again = split_indices(y, n_test, seed)
    assert np.array_equal(again[1], test)


@settings(max_examples=80, deadline=None)
@given(counts=st.lists(st.integers(1, 6), min_size=1, max_size=5), data=st.data())
def test_stratified_split_always_returns_the_asked_size(counts, data):
    from deepstart.problems.splits import split_indices

    y = np.repeat(np.arange(len(counts)), counts)
    if len(y) < 2:
        return
    n_test = data.draw(st.integers(1, len(y) - 1))
    train, test = split_indices(y, n_test, seed=0)
    assert len(test) == n_test and len(train) == len(y) - n_test
