"""The Learner on real (small) data: learning, determinism, metrics checked against scikit-learn,
callbacks, divergence, Ctrl-C and resuming to the same result."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, mean_squared_error
from torch import nn

from deepstart import EarlyStopping, Learner
from deepstart.errors import DeepstartError
from deepstart.learner import TrainingDiverged, TrainingInterrupted, make_optimizer


def digits_learner(**kw) -> Learner:
    kw = {"batch_size": 64, "lr": 3e-3, "verbose": 0, "model_options": {"hidden": [64]}} | kw
    return Learner("mlp", "digits", **kw)


def test_fit_learns_digits_and_metric_matches_sklearn():
    learner = digits_learner()
    history = learner.fit(8)
    assert len(history) == 8
    assert history["loss"][-1] < history["loss"][0] / 3
    result = learner.evaluate("test")
    assert result["accuracy"] > 0.9
    y_true = learner.data.y_test.numpy()
    assert result["accuracy"] == pytest.approx(accuracy_score(y_true, learner.predict()))
    proba = learner.predict_proba()
    assert proba.shape == (len(y_true), 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    assert (proba.argmax(1) == learner.predict()).all()


def test_evaluate_max_rows_scores_a_fixed_random_sample():
    learner = digits_learner()
    learner.fit(2)
    n = len(learner.data.x_train)
    sample = learner.evaluate("train", max_rows=300)
    assert sample == learner.evaluate("train", max_rows=300)  # the same rows every time
    rows = torch.randperm(n, generator=torch.Generator().manual_seed(learner.seed))[:300].sort().values
    with torch.no_grad():
        pred = learner.model.eval()(learner.data.x_train[rows]).argmax(1)
    expected = accuracy_score(learner.data.y_train[rows].numpy(), pred.numpy())
    assert sample["accuracy"] == pytest.approx(expected)
    assert learner.evaluate("train", max_rows=n + 5) == learner.evaluate("train")  # larger: all rows
    with pytest.raises(DeepstartError, match="max_rows must be a positive integer"):
        learner.evaluate("train", max_rows=0)


def test_same_seed_same_metrics_to_the_last_digit():
    def rows(seed):
        history = digits_learner(seed=seed).fit(3)
        return [{k: v for k, v in row.items() if k != "seconds"} for row in history.rows]

    assert rows(3) == rows(3)
    assert rows(3) != rows(4)


def test_any_torch_module_and_arrays():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 5)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 1))
    learner = Learner(model, (x, y), lr=0.01, batch_size=32, verbose=0)
    assert learner.data.task == "binary"
    learner.fit(20)
    assert learner.evaluate()["accuracy"] > 0.9
    # raw inputs go through the same scaling as the training data
    pred = learner.predict(x[:50])
    assert accuracy_score(y[:50], pred) > 0.9


def test_regression_rmse_in_target_units_matches_sklearn():
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, size=(400, 3)).astype(np.float32)
    y = 100 + 30 * x[:, 0] - 20 * x[:, 2] + rng.normal(0, 2.0, size=400)  # noise sd 2
    learner = Learner("linear", (x, y), lr=0.05, batch_size=32, verbose=0)
    assert learner.data.task == "regression"
    learner.fit(30)
    rmse = learner.evaluate()["rmse"]
    y_test = learner.data.target_values(learner.data.y_test)
    assert rmse == pytest.approx(mean_squared_error(y_test, learner.predict()) ** 0.5, rel=1e-4)
    assert 1.5 < rmse < 2.6  # the noise's sd, measured in the target's units (not standardised)


def test_forecast_on_airline_reports_rmse_in_thousands():
    learner = Learner("mlp", "airline-passengers", lookback=12, batch_size=16, lr=1e-3,
                      verbose=0, model_options={"hidden": [32]})
    assert learner.data.x_test.shape == (46, 12)
    learner.fit(5)
    rmse = learner.evaluate()["rmse"]
    assert 1 < rmse < 400


def test_early_stopping_restores_best_weights():
    stopper = EarlyStopping(monitor="val_loss", patience=2)
    learner = digits_learner(lr=0.05, callbacks=[stopper])  # a high lr: val loss soon gets worse
    history = learner.fit(40)
    assert len(history) < 40
    assert stopper.best_epoch == min(range(len(history)), key=lambda i: history["val_loss"][i]) + 1
    assert learner.evaluate("val")["loss"] == pytest.approx(stopper.best, rel=1e-5)


def test_divergence_names_the_epoch_and_suggests_a_lower_lr():
    learner = Learner("linear", (np.arange(40.0)[:, None], np.arange(40.0) * 3), lr=50.0,
                      optimizer="sgd", batch_size=8, verbose=0, val_split=0)
    with pytest.raises(TrainingDiverged, match=r"epoch \d+.*lower the learning rate"):
        learner.fit(50)


def wine_arrays():
    from sklearn.datasets import load_wine

    return load_wine(return_X_y=True)


@pytest.mark.parametrize("damage, message", [
    (lambda x, y: x.__setitem__((5, 3), np.nan),
     r"x has 1 missing \(NaN\) value\(s\), the first in row 5, column 3; this is bad data, not a "
     r"training setting"),
    (lambda x, y: x.__setitem__((7, 0), np.inf), r"x has 1 infinite .* the first in row 7, column 0"),
    (lambda x, y: x.__setitem__((2, 1), 1e39), r"x has 1 infinite \(or beyond float32's 3.4e38\)"),
    (lambda x, y: y.__setitem__(9, np.nan), r"y has 1 missing or infinite target\(s\), the first in "
                                            r"row 9 \(nan\); drop those rows"),
])
def test_nan_and_infinite_values_from_python_are_named_as_bad_data(damage, message):
    x, y = wine_arrays()
    y = y.astype(float)
    damage(x, y)
    with pytest.raises(DeepstartError, match=message) as caught:
        Learner("mlp", (x, y), verbose=0).fit(2)
    assert not isinstance(caught.value, TrainingDiverged)
    assert "learning rate" not in str(caught.value)


def test_text_features_from_python_get_deepstarts_sentence_not_numpys():
    import pandas as pd

    x, y = wine_arrays()
    frame = pd.DataFrame(x).assign(region=np.where(y == 0, "north", "south"))
    with pytest.raises(DeepstartError, match=r"x holds text \('north' in row 0, column 'region'\); "
                                             r"arrays must hold numbers.*tabular_problem") as caught:
        Learner("mlp", (frame, y), verbose=0)
    assert "could not convert" not in str(caught.value)
    mixed = x.astype(object)
    mixed[4, 2] = "2,5"
    with pytest.raises(DeepstartError, match=r"x holds text \('2,5' in row 4, column 2\)"):
        Learner("mlp", (mixed, y), verbose=0)


def test_predict_names_bad_rows_and_a_hand_made_prepared_with_nan_is_bad_data():
    from dataclasses import replace

    x, y = wine_arrays()
    learner = Learner("mlp", (x, y), verbose=0)
    learner.fit(1)
    bad = x[:3].copy()
    bad[1, 4] = np.nan
    with pytest.raises(DeepstartError, match=r"x has 1 missing \(NaN\) value\(s\), the first in row 1, "
                                             r"column 4"):
        learner.predict(bad)
    with pytest.raises(DeepstartError, match=r"x holds text \('high' in row 0, column 0\)"):
        learner.predict_proba([["high"] + [1.0] * 12])
    assert learner.predict(x[:3]).shape == (3,)
    x_train = learner.data.x_train.clone()
    x_train[0, 0] = float("nan")
    broken = Learner("mlp", replace(learner.data, x_train=x_train), verbose=0)
    with pytest.raises(DeepstartError, match=r"the train data's x holds 1 NaN or infinite value\(s\); "
                                             r"this is bad data") as caught:
        broken.fit(1)
    assert not isinstance(caught.value, TrainingDiverged)
    x_test = learner.data.x_test.clone()
    x_test[2, 1] = float("inf")
    with pytest.raises(DeepstartError, match=r"the test data's x holds 1 NaN or infinite"):
        Learner("mlp", replace(learner.data, x_test=x_test), verbose=0).evaluate("test")


def test_predict_takes_a_builtin_tables_rows_by_column_name_in_any_order():
    import pandas as pd

    learner = Learner("mlp", "wine", verbose=0)
    learner.fit(1)
    raw = learner.problem.load()
    frame = pd.DataFrame(raw.x_test, columns=raw.feature_names)
    np.testing.assert_array_equal(learner.predict(frame[frame.columns[::-1]]), learner.predict())
    np.testing.assert_array_equal(learner.predict(raw.x_test), learner.predict())  # by position


def test_ctrl_c_restores_last_epoch_and_resume_gives_the_same_result(tmp_path, monkeypatch):
    reference = digits_learner(seed=1)
    reference.fit(4)
    expected = reference.evaluate()

    learner = digits_learner(seed=1)
    learner.checkpoint_path = tmp_path / "checkpoint"
    learner.fit(2)
    calls = {"n": 0}
    real_step = learner.opt.step

    def interrupting_step(*a, **k):
        calls["n"] += 1
        if calls["n"] == 5:  # in the middle of the third epoch
            raise KeyboardInterrupt
        return real_step(*a, **k)

    monkeypatch.setattr(learner.opt, "step", interrupting_step)
    with pytest.raises(TrainingInterrupted) as info:
        learner.fit(2)
    assert info.value.epoch == 2
    assert (tmp_path / "checkpoint.safetensors").is_file()

    resumed = digits_learner(seed=1)
    resumed.resume(tmp_path / "checkpoint")
    assert resumed.epoch == 2 and len(resumed.history) == 2
    resumed.fit(2)
    assert resumed.evaluate() == expected
    assert resumed.history["loss"] == reference.history["loss"]


def test_fused_optimizers_are_used_on_cpu():
    params = [nn.Parameter(torch.zeros(3))]
    for name in ("sgd", "momentum", "adam", "adamw"):
        opt = make_optimizer(name, params, 0.1)
        assert opt.defaults.get("fused") or opt.defaults.get("foreach")


@pytest.mark.parametrize("kw, message", [
    ({"lr": 0}, "lr must be a positive number; received lr=0"),
    ({"lr": "fast"}, "lr must be a positive number"),
    ({"batch_size": 0}, "batch_size must be a positive integer"),
    ({"optimizer": "adma"}, "unknown optimizer 'adma'; did you mean 'adam'"),
    ({"loss": "hinge"}, "unknown loss 'hinge'"),
    ({"seed": -1}, "seed must be a non-negative integer"),
])
def test_bad_arguments_are_one_clear_sentence(kw, message):
    with pytest.raises(DeepstartError, match=message):
        digits_learner(**kw)


def test_bad_epochs():
    with pytest.raises(DeepstartError, match="epochs must be a positive integer; received epochs=0"):
        digits_learner().fit(0)
