"""NetClassifier and NetRegressor as scikit-learn citizens: every check of scikit-learn's own
check_estimator (one test each), then Pipelines with a ColumnTransformer, grid and randomized search,
cross-validation, pickling, warm starts and partial fits, on real data (breast cancer, iris, digits,
Linnerud, the airline passengers as a table with a categorical month column)."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_linnerud
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import (GridSearchCV, KFold, RandomizedSearchCV, StratifiedKFold,
                                     cross_val_score, train_test_split)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from deepstart.errors import DeepstartError
from deepstart.sklearn import NetClassifier, NetRegressor

# Small, fast settings for scikit-learn's checks (tiny data sets of 10 to 300 rows): few epochs of
# a larger step, on the CPU, silent. They still reach the checks' bars (accuracy 0.83 on blobs,
# R^2 0.5 on a noisy regression). No check is expected to fail: what an estimator cannot do is
# declared in its tags (the perceptron: two classes only), and the checks then test that instead.
# The image families (convnet, resnet, googlenet) are left out: the checks feed 1 to 10 random
# features, which are not images; tests below train them on digits.
FAST = {"epochs": 10, "batch_size": 32, "lr": 0.02, "device": "cpu", "verbose": 0, "random_state": 0}


@pytest.fixture(autouse=True)
def one_thread():
    """One thread keeps the time of these many tiny fits predictable on a shared CPU (an OpenMP
    worker spinning for a busy core made tiny steps 50 times slower; see test_examples.py)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@parametrize_with_checks([NetClassifier(hidden=(16,), **FAST), NetRegressor(hidden=(16,), **FAST),
                          NetClassifier("perceptron", **FAST), NetRegressor("linear", **FAST)])
def test_sklearn_estimator_checks(estimator, check, monkeypatch):
    # scikit-learn skips its array-API check (NumPy inputs with array_api_dispatch on) unless
    # this is set; set, the check runs (our estimators take NumPy arrays, as tagged)
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")
    check(estimator)


# --- real data ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cancer():
    return load_breast_cancer(return_X_y=True)


def net(**kw):
    return NetClassifier(**({"device": "cpu", "random_state": 0} | kw))


def test_same_random_state_same_predictions_different_seed_different(cancer):
    X, y = cancer
    a = net(hidden=(16,), epochs=5).fit(X, y).predict_proba(X)
    b = net(hidden=(16,), epochs=5).fit(X, y).predict_proba(X)
    c = net(hidden=(16,), epochs=5, random_state=1).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-3


def test_fit_leaves_torch_global_random_stream_alone(cancer):
    X, y = cancer
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    net(hidden=(8,), epochs=1, model_options={"dropout": 0.5}).fit(X, y)
    np.testing.assert_array_equal(torch.rand(3), expected)


def test_cross_val_score_and_logistic_network_matches_sklearn_logistic_regression(cancer):
    """The course's logistic regression drawn as a network scores like scikit-learn's own on the
    very same folds; the MLP is at least as good."""
    X, y = cancer
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    sk = cross_val_score(make_pipeline(StandardScaler(), LogisticRegression()), X, y, cv=folds)
    ours = cross_val_score(net(model="logistic", epochs=10, lr=0.01), X, y, cv=folds)
    mlp = cross_val_score(net(hidden=(32,), epochs=8, lr=3e-3), X, y, cv=folds)
    assert sk.mean() > 0.96
    assert abs(ours.mean() - sk.mean()) < 0.02
    assert mlp.mean() > 0.95


def test_pipeline_with_column_transformer_on_a_frame_with_a_categorical_column():
    """The airline passengers (Box & Jenkins) as a table: the year (a number) and the month's name
    (a category, one-hot encoded into a sparse block) predict the monthly total."""
    from deepstart.problems.catalog import airline_series

    passengers = airline_series().astype(float)
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    frame = pd.DataFrame({"year": np.repeat(np.arange(1949, 1961), 12),
                          "month": pd.Categorical(months * 12, categories=months)})
    prep = ColumnTransformer([("num", StandardScaler(), ["year"]),
                              ("cat", OneHotEncoder(), ["month"])])
    linear = NetRegressor("linear", epochs=50, lr=0.05, batch_size=16, device="cpu", random_state=0)
    pipe = make_pipeline(prep, linear)
    scores = cross_val_score(pipe, frame, passengers, cv=KFold(4, shuffle=True, random_state=0))
    assert scores.min() > 0.85  # R^2: trend + season; the monthly mean alone scores < 0

    # the estimator itself keeps a frame's column names and checks them on predict
    encoded = pd.DataFrame(prep.fit_transform(frame).toarray(),
                           columns=prep.get_feature_names_out())
    reg = clone(linear).fit(encoded, passengers)
    assert list(reg.feature_names_in_) == list(encoded.columns)
    assert reg.n_features_in_ == 13
    with pytest.warns(UserWarning, match="feature names"):
        reg.predict(encoded.to_numpy())


def test_grid_search_over_top_level_and_nested_model_parameters():
    X, y = load_iris(return_X_y=True)
    grid = GridSearchCV(net(epochs=40, lr=0.01),
                        [{"model": ["logistic"]},
                         {"model": ["mlp"], "hidden": [(8,), (16, 16)],
                          "model_options__activation": ["tanh", "relu"]}],
                        cv=StratifiedKFold(3, shuffle=True, random_state=0))
    grid.fit(X, y)
    assert len(grid.cv_results_["params"]) == 5
    assert grid.best_score_ > 0.9
    best = grid.best_estimator_
    assert best.get_params()["model"] in ("logistic", "mlp")
    assert grid.score(X, y) > 0.9
    # a clone never shares the nested options' dict
    tanh = [p for p in grid.cv_results_["params"] if p.get("model_options__activation") == "tanh"]
    assert len(tanh) == 2


def test_nested_model_options_in_get_and_set_params():
    est = NetClassifier("convnet", model_options={"widths": [8, 16]})
    options = est.model_options
    assert est.get_params()["model_options__widths"] == [8, 16]
    assert "model_options__widths" not in est.get_params(deep=False)
    est.set_params(model_options__widths=[4, 8], model_options__head="flatten", lr=0.01)
    assert est.model_options == {"widths": [4, 8], "head": "flatten"}
    assert options == {"widths": [8, 16]}  # the given dict is left as it was
    assert clone(est).get_params()["model_options__head"] == "flatten"
    # a pipeline reaches through to them
    pipe = make_pipeline(StandardScaler(), est)
    pipe.set_params(netclassifier__model_options__widths=[2, 4])
    assert pipe.get_params()["netclassifier__model_options__widths"] == [2, 4]


def test_randomized_search_on_digits_images_with_a_convnet():
    digits = load_digits()
    images = digits.images[:600]  # (n, 8, 8): grey images, no image_shape needed
    X_tr, X_te, y_tr, y_te = train_test_split(images, digits.target[:600], random_state=0,
                                              stratify=digits.target[:600])
    search = RandomizedSearchCV(
        net(model="convnet", epochs=8, lr=3e-3, model_options={"dropout": 0.0}),
        {"model_options__widths": [[8, 16], [16, 32]], "batch_size": [32, 64]},
        n_iter=2, cv=2, random_state=0)
    search.fit(X_tr, y_tr)
    assert search.best_estimator_.score(X_te, y_te) > 0.85
    # the same network on flattened rows: 64 features make a square grey image
    flat = search.best_estimator_
    assert flat._net_input_shape == (1, 8, 8)
    refit = clone(flat).fit(X_tr.reshape(len(X_tr), -1), y_tr)
    np.testing.assert_array_equal(refit.predict(X_te.reshape(len(X_te), -1)), flat.predict(X_te))


def test_pickle_round_trip_gives_identical_predictions(cancer, tmp_path):
    import joblib

    X, y = cancer
    est = make_pipeline(StandardScaler(), net(hidden=(16,), epochs=3)).fit(X, y)
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.predict_proba(X), est.predict_proba(X))
    joblib.dump(est, tmp_path / "pipe.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "pipe.joblib").decision_function(X),
                                  est.decision_function(X))


def test_warm_start_continues_and_a_cold_fit_starts_anew(cancer):
    X, y = cancer
    warm = net(hidden=(16,), epochs=3, warm_start=True).fit(X, y)
    first = warm.loss_curve_.copy()
    warm.fit(X, y)
    assert warm.n_iter_ == 6 and warm.loss_curve_[:3] == first
    assert warm.loss_curve_[3] < first[0]  # continued from trained weights
    cold = net(hidden=(16,), epochs=3).fit(X, y).fit(X, y)
    assert cold.n_iter_ == 3 and cold.loss_curve_ == first


def test_partial_fit_one_epoch_per_call_with_all_classes_first():
    X, y = load_digits(return_X_y=True)
    est = net(hidden=(32,), lr=3e-3)
    with pytest.raises(ValueError, match="classes"):
        est.partial_fit(X[:100], y[:100])
    batches = np.array_split(np.arange(len(X)), 6)
    scores = []
    for epoch in range(2):
        for rows in batches:
            est.partial_fit(X[rows], y[rows], classes=np.arange(10))
        scores.append(est.score(X, y))
    assert est.n_iter_ == 12
    assert scores[1] > scores[0] > 0.6
    with pytest.raises(ValueError, match="features"):
        est.partial_fit(X[:10, :-1], y[:10])
    with pytest.raises(ValueError, match=r"\[10\]"):
        est.partial_fit(X[:10], np.full(10, 10))


def test_early_stopping_keeps_the_best_epoch():
    X, y = load_iris(return_X_y=True)
    est = net(hidden=(64, 64), epochs=300, lr=0.01, early_stopping=True, n_iter_no_change=5,
              validation_fraction=0.2).fit(X, y)
    history = est.history_
    assert est.n_iter_ < 300
    best = int(np.argmin(history["val_loss"]))
    assert est.n_iter_ == best + 1 + 5  # stopped after 5 epochs without improvement
    assert est.score(X, y) > 0.9


def test_multi_output_regression_on_linnerud():
    X, Y = load_linnerud(return_X_y=True)  # 20 athletes, 3 exercises -> 3 body measurements
    reg = NetRegressor(hidden=(16,), epochs=100, lr=0.01, device="cpu", random_state=0).fit(X, Y)
    assert reg.predict(X).shape == (20, 3)
    assert reg.score(X, Y) > 0.3  # R^2 on the training rows, averaged over the three targets
    one = NetRegressor("linear", epochs=50, lr=0.03, device="cpu", random_state=0).fit(X, Y[:, 0])
    assert one.predict(X).shape == (20,)
    assert one.history_["rmse"][-1] < Y[:, 0].std()  # in the target's units (kg)


def test_probabilities_decisions_and_labels_agree():
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    est = net(hidden=(16,), epochs=20, lr=0.01).fit(X, names)
    assert list(est.classes_) == ["setosa", "versicolor", "virginica"]
    proba, decision = est.predict_proba(X), est.decision_function(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    np.testing.assert_allclose(np.exp(est.predict_log_proba(X)), proba)
    np.testing.assert_array_equal(est.classes_[decision.argmax(1)], est.predict(X))
    assert est.score(X, names) > 0.9


@pytest.mark.parametrize("params, message", [
    ({"model": "mpl"}, "did you mean 'mlp'"),
    ({"model": "logistic", "hidden": (8,)}, "has no option hidden"),
    ({"epochs": 0}, "epochs must be a positive integer"),
    ({"lr": -1.0}, "lr must be a positive number"),
    ({"scale": "minmax"}, "scale must be 'standard' or None"),
    ({"hidden": (8,), "model_options": {"hidden": [4]}}, "give it once"),
    ({"early_stopping": True, "validation_fraction": 1.5}, r"must be in \(0, 1\)"),
    ({"model": "convnet", "image_shape": (3, 5, 5)}, "does not hold the 30 features"),
    ({"model": "convnet"}, "not a square grey image"),
])
def test_bad_parameters_raise_one_clear_sentence_in_fit_not_in_init(cancer, params, message):
    X, y = cancer
    est = net(**params)  # stores only
    with pytest.raises(DeepstartError, match=message):
        est.fit(X, y)


def test_one_layer_families_converge_with_their_defaults_on_the_estimator_checks_data():
    """The README's claim: with lr at 1e-3, NetRegressor("linear") and NetClassifier("logistic",
    epochs=20) failed check_regressors_train / check_classifiers_train (R^2 and accuracy short of
    the checks' bars); lr=None now takes the one-layer families' 1e-2."""
    from sklearn.utils.estimator_checks import check_classifiers_train, check_regressors_train

    linear = NetRegressor("linear", device="cpu", random_state=0)
    assert linear.get_params()["lr"] is None and linear._lr() == 1e-2
    check_regressors_train("NetRegressor", linear)
    check_regressors_train("NetRegressor", linear, readonly_memmap=True)
    logistic = NetClassifier("logistic", epochs=20, device="cpu", random_state=0)
    check_classifiers_train("NetClassifier", logistic)
    check_classifiers_train("NetClassifier", logistic, readonly_memmap=True)
    assert NetClassifier()._lr() == 1e-3 and NetClassifier(lr=0.5)._lr() == 0.5
