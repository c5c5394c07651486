"""The metrics of deepstart.problems.METRICS against scikit-learn's, on real data through the
Learner, and as run folders record and print them."""

import csv
import dataclasses
import json
import warnings

import numpy as np
import pytest
from sklearn import metrics as sk
from sklearn.datasets import load_diabetes

from deepstart import Learner
from deepstart.errors import DeepstartError
from deepstart.problems import METRICS, TASK_METRICS, get_problem
from deepstart.problems import metrics as m
from deepstart.problems.tabular import tabular_problem


def test_the_metrics_equal_scikit_learns_with_ties_and_absent_classes():
    rng = np.random.default_rng(0)
    for _ in range(40):  # scikit-learn checks its inputs for milliseconds a call
        n = int(rng.integers(1, 80))
        y = rng.integers(0, 2, n)
        s = rng.integers(0, 6, n) / 5.0  # few distinct scores: many ties
        if len(set(y)) == 2:
            assert m.roc_auc(y, s) == pytest.approx(sk.roc_auc_score(y, s), abs=1e-9)
        else:
            assert m.roc_auc(y, s) is None  # scikit-learn raises: undefined
        p = rng.integers(0, 2, n)
        y4, p5 = rng.integers(0, 4, n), rng.integers(0, 5, n)  # a predicted class never true
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scikit-learn's ill-defined F-score warning
            assert m.f1(y, p) == pytest.approx(sk.f1_score(y, p), abs=1e-9)
            assert m.macro_f1(y4, p5) == pytest.approx(sk.f1_score(y4, p5, average="macro"), abs=1e-9)
        v, w = rng.normal(size=n), rng.normal(size=n)
        assert m.compute("mae", v, w) == pytest.approx(sk.mean_absolute_error(v, w), abs=1e-9)
        assert m.compute("rmse", v, w) == pytest.approx(sk.root_mean_squared_error(v, w), abs=1e-9)
    assert m.f1([0, 0], [0, 0]) == 0.0  # class 1 neither true nor predicted: scikit-learn's 0
    assert m.text(None, "roc_auc") == m.text(float("nan"), "roc_auc") == m.UNDEFINED


def test_each_task_has_its_metrics_and_a_wrong_one_is_one_sentence():
    assert set(METRICS) == {"accuracy", "rmse", "roc_auc", "f1", "macro_f1", "mae"}
    assert {m for ms in TASK_METRICS.values() for m in ms} == set(METRICS)
    cancer = get_problem("breast-cancer")
    assert cancer.metrics == ("accuracy", "roc_auc", "f1")
    with pytest.raises(DeepstartError, match="the metric 'mae' does not score a binary problem; "
                                             "use one of accuracy, roc_auc, f1"):
        dataclasses.replace(cancer, metric="mae")
    with pytest.raises(DeepstartError, match="unknown metric 'auc'"):
        Learner("logistic", "breast-cancer", metric="auc", verbose=0)


@pytest.fixture(scope="module")
def cancer():
    """Breast cancer (569 rows, 114 test) with ROC AUC as the problem's metric, F1 judged."""
    problem = dataclasses.replace(get_problem("breast-cancer"), metric="roc_auc")
    learner = Learner("logistic", problem, lr=1e-2, batch_size=32, verbose=0, metric="f1")
    learner.fit(3)
    return learner


def test_binary_scores_are_scikit_learns_on_the_test_rows(cancer):
    scores = cancer.evaluate("test")
    assert list(scores) == ["roc_auc", "accuracy", "f1", "loss"]  # the problem's metric first
    true = cancer.data.target_values(cancer.data.y_test)
    proba = cancer.predict_proba()[:, 1]
    predicted = cancer.predict()
    assert len(set(proba)) > 50  # a real ranking, not a constant
    assert scores["roc_auc"] == pytest.approx(sk.roc_auc_score(true, proba), abs=1e-9)
    assert scores["f1"] == pytest.approx(sk.f1_score(true, predicted), abs=1e-9)
    assert scores["accuracy"] == pytest.approx(sk.accuracy_score(true, predicted), abs=1e-12)
    # the history leads with the judged metric, and every metric of the task is in it
    row = cancer.history.rows[-1]
    assert [k for k in row if k not in ("epoch", "lr", "seconds")] == [
        "loss", "f1", "roc_auc", "accuracy", "val_loss", "val_f1", "val_roc_auc", "val_accuracy"]
    assert row["val_f1"] == cancer.evaluate("val")["f1"]


def test_roc_auc_of_rows_of_one_class_is_undefined_not_nan(cancer):
    y = cancer._tensors["y_test"]
    benign = (y.reshape(-1) > 0.5).nonzero().reshape(-1)
    scores = cancer._evaluate_tensors(cancer._tensors["x_test"][benign], y[benign])
    assert scores["roc_auc"] is None and scores["accuracy"] > 0.5


def test_macro_f1_on_digits_is_scikit_learns():
    learner = Learner("mlp", "digits", lr=3e-3, verbose=0, model_options={"hidden": [32]})
    learner.fit(1)
    scores = learner.evaluate("test")
    assert list(scores) == ["accuracy", "macro_f1", "loss"]
    true = learner.data.target_values(learner.data.y_test)
    assert scores["macro_f1"] == pytest.approx(
        sk.f1_score(true, learner.predict(), average="macro"), abs=1e-9)
    assert 0.3 < scores["macro_f1"] < 1


def test_mae_is_in_the_targets_units():
    frame = load_diabetes(as_frame=True).frame
    learner = Learner("mlp", tabular_problem(frame, target="target"), lr=1e-2, verbose=0,
                      model_options={"hidden": [16]}, metric="mae")
    learner.fit(3)
    scores = learner.evaluate("test")
    assert list(scores) == ["rmse", "mae", "loss"]
    true = learner.data.target_values(learner.data.y_test)
    assert scores["mae"] == pytest.approx(sk.mean_absolute_error(true, learner.predict()), rel=1e-6)
    assert scores["rmse"] == pytest.approx(sk.root_mean_squared_error(true, learner.predict()), rel=1e-6)
    assert 20 < scores["mae"] < scores["rmse"]  # the target runs from 25 to 346
    assert learner.history.rows[-1]["val_mae"] == pytest.approx(learner.evaluate("val")["mae"])


@pytest.fixture(scope="module")
def cancer_run(tmp_path_factory):
    """`deepstart run breast-cancer --metric roc_auc`, 2 epochs, in this process."""
    import contextlib
    import io

    from deepstart.cli import main

    out = tmp_path_factory.mktemp("runs")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["run", "breast-cancer", "--epochs", "2", "--metric", "roc_auc", "--quiet",
                     "--out", str(out)]) == 0
    folder, = out.iterdir()
    return folder, printed.getvalue()


def test_a_run_records_every_metric_with_its_rows_and_keeps_metric(cancer_run):
    folder, printed = cancer_run
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["metric"] == "accuracy"  # the problem's: its reference is an accuracy
    assert metrics["metrics"] == ["accuracy", "roc_auc", "f1"] and metrics["judged_by"] == "roc_auc"
    assert list(metrics["test"]) == ["accuracy", "roc_auc", "f1", "loss"]
    assert (metrics["test_rows"], metrics["val_rows"], metrics["train_rows"]) == (143, 43, 383)
    assert json.loads((folder / "config.json").read_text())["metric"] == "roc_auc"
    test = metrics["test"]
    assert f"test accuracy {test['accuracy']:.4f} on breast-cancer (143 test rows, mlp" in printed
    assert (f"also: roc_auc {test['roc_auc']:.4f}, f1 {test['f1']:.4f} (test, 143 rows); "
            f"accuracy {metrics['val']['accuracy']:.4f}") in printed
    # the suggested commands keep the metric the run was judged by
    commands = [line.strip() for line in printed.splitlines() if line.strip().startswith("deepstart run")]
    assert commands and all("--metric roc_auc" in c for c in commands)


def test_an_older_run_folder_without_the_new_keys_still_reads(cancer_run, tmp_path):
    import shutil

    from deepstart.record import read_run

    folder = tmp_path / "old"
    shutil.copytree(cancer_run[0], folder)
    metrics = json.loads((folder / "metrics.json").read_text())
    for key in ("metrics", "judged_by", "test_rows", "val_rows"):
        del metrics[key]
    for split in ("train", "val", "test"):
        metrics[split] = {k: metrics[split][k] for k in ("loss", "accuracy")}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    config = json.loads((folder / "config.json").read_text())
    del config["metric"]
    (folder / "config.json").write_text(json.dumps(config))
    record = read_run(folder)
    assert record.metric == "accuracy" and record.metrics["metrics"] == ["accuracy"]


def test_a_metric_that_does_not_fit_the_task_is_one_line(capsys, tmp_path):
    from deepstart.cli import main

    code = main(["run", "breast-cancer", "--metric", "mae", "--out", str(tmp_path / "runs")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == ["deepstart: error: the metric 'mae' does not score a binary problem; "
                                 "use one of accuracy, roc_auc, f1."]
    assert not (tmp_path / "runs").exists()


def test_diagnose_judges_by_the_runs_metric_and_says_references_are_in_another(cancer_run, capsys):
    from deepstart.cli import main
    from deepstart.diagnose import diagnose_folder

    folder, _ = cancer_run
    metrics = json.loads((folder / "metrics.json").read_text())
    judged = diagnose_folder(folder)  # by the run's --metric roc_auc
    assert judged.scores.startswith(f"roc_auc: train {metrics['train']['roc_auc']:.4f}")
    # a score for every row ranks nothing: the majority class's ROC AUC is 0.5
    assert "baseline 0.5000 (majority class for every row)" in judged.scores
    assert "target" not in judged.scores  # the published 0.975 is an accuracy
    assert any("the published scores are in accuracy" in n for n in judged.notes)
    own = diagnose_folder(folder, metric="accuracy")
    assert own.scores.startswith("accuracy:") and "target 0.9750" in own.scores
    assert main(["diagnose", str(folder), "--metric", "macro_f1"]) == 2
    assert capsys.readouterr().err.strip() == (
        "deepstart: error: the metric 'macro_f1' does not score a binary problem; use one of "
        "accuracy, roc_auc, f1.")


@pytest.fixture(scope="module")
def diabetes_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "diabetes.csv"
    load_diabetes(as_frame=True).frame.to_csv(path, index=False)
    return path


def test_patience_stops_on_the_metric_in_its_direction_and_keeps_the_best_epoch(diabetes_csv, tmp_path):
    from deepstart.run import RunConfig, run

    config = RunConfig.for_problem(str(diabetes_csv), {"target": "target"}, epochs=40, lr=3e-2,
                                   metric="mae", patience=2)
    folder = run(config, out=tmp_path, verbose=0)
    metrics = json.loads((folder / "metrics.json").read_text())
    history = list(csv.DictReader((folder / "history.csv").open()))
    val_mae = [float(r["val_mae"]) for r in history]
    assert metrics["judged_by"] == "mae" and metrics["metric"] == "rmse"
    assert len(history) == metrics["epochs"] < 40  # stopped early
    best = metrics["best_epoch"]
    assert val_mae[best - 1] == min(val_mae)  # the lowest MAE, not the highest
    assert len(history) == best + 2  # two epochs without a better one
    # the scores are the best epoch's weights': its validation MAE again
    assert metrics["val"]["mae"] == pytest.approx(val_mae[best - 1], rel=1e-6)


def test_tune_optimises_the_chosen_metric_in_its_direction(diabetes_csv, tmp_path):
    from deepstart.run import RunConfig
    from deepstart.tune import tune

    config = RunConfig.for_problem(str(diabetes_csv), {"target": "target"}, epochs=1, metric="mae")
    result = tune(config, trials=1, out=tmp_path, verbose=0)
    study = json.loads((result.folder / "tuning" / "study.json").read_text())
    assert study["direction"] == "minimize" and study["metric"] == "val_mae"
    rows = list(csv.DictReader((result.folder / "tuning" / "trials.csv").open()))
    assert result.best_value == min(float(r["value"]) for r in rows if r["state"] == "COMPLETE")
    assert "--metric mae" in result.best_command


def test_evaluate_scores_roc_auc_from_probabilities():
    from deepstart.evaluate import evaluate, score

    problem = dataclasses.replace(get_problem("breast-cancer"), metric="roc_auc")
    record = evaluate(problem, algorithms=["baseline", "logistic"], folds=3, verbose=0)
    results = {r["algorithm"]: r for r in record["results"]}
    assert record["metric"] == "roc_auc"
    assert results["baseline"]["scores"] == [0.5, 0.5, 0.5]  # one probability for every row
    assert 0.97 < results["logistic"]["mean"] <= 1  # a real ranking (accuracy would be ~0.97)
    with pytest.raises(DeepstartError, match="hold one class only"):
        score("roc_auc", np.ones(5), np.linspace(0, 1, 5))


def test_the_report_shows_every_metric_with_the_rows_it_was_computed_on(cancer_run, tmp_path):
    from deepstart.report import write_report

    folder, _ = cancer_run
    metrics = json.loads((folder / "metrics.json").read_text())
    page = write_report(folder, out=tmp_path / "report.html").read_text()
    assert ('<th class="num">rows</th><th class="num">loss</th><th class="num">accuracy</th>'
            '<th class="num">roc_auc</th><th class="num">f1</th>') in page
    test = metrics["test"]
    assert (f'<td>test</td><td class="num">143</td><td class="num">{test["loss"]:.4f}</td>'
            f'<td class="num">{test["accuracy"]:.4f}</td><td class="num">{test["roc_auc"]:.4f}</td>') in page


def test_a_forecasts_mae_is_in_the_series_units():
    learner = Learner("linear", "airline-passengers", lr=1e-2, verbose=0, metric="mae")
    learner.fit(2)
    scores = learner.evaluate("test")
    true = learner.data.target_values(learner.data.y_test)  # passengers, thousands
    predicted = learner.predict()
    assert list(scores) == ["rmse", "mae", "loss"] and len(true) == 46
    assert scores["mae"] == pytest.approx(sk.mean_absolute_error(true, predicted), rel=1e-6)
    assert scores["rmse"] == pytest.approx(sk.root_mean_squared_error(true, predicted), rel=1e-6)
