"""Diagnose: each rule of deepstart/diagnose.py on crafted runs (the situation named, the numbers
shown, the next steps as commands), the evaluation beside a run as the target for user data, and
a real short run on digits through `deepstart run` and `deepstart diagnose`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepstart.cli import main
from deepstart.diagnose import (RunFacts, Score, best_of_evaluation, diagnose, facts_from_folder,
                                find_evaluation)

DIGITS = tuple(str(i) for i in range(10))
FASHION = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
           "Bag", "Ankle boot")


def history(val_losses, losses=None):
    """Epoch rows with the given validation losses (training loss falling gently unless given)."""
    losses = losses or [1.0 / (i + 1) for i in range(len(val_losses))]
    return [{"epoch": i + 1, "loss": lo, "val_loss": v, "lr": 1e-3}
            for i, (lo, v) in enumerate(zip(losses, val_losses))]


FLAT = history([0.5, 0.4, 0.35, 0.36, 0.35, 0.351])  # stopped improving: no "still improving"


def facts(**kw) -> RunFacts:
    base = dict(metric="accuracy", greater_is_better=True, train=0.99, val=0.98, test=0.98,
                history=FLAT, references=[{"value": 0.98, "model": "1-NN", "source": "UCI"}],
                baseline=Score(0.10, "majority class for every row"), problem="digits",
                model="mlp", config={"epochs": 6, "lr": 1e-3, "val_split": 0.1,
                                     "model_options": {"hidden": [256], "dropout": 0.0}},
                kind="image", task="multiclass", class_names=DIGITS, n_val=500, n_test=500,
                folder="runs/x")
    base.update(kw)
    return RunFacts(**base)


def commands(d) -> list[str]:
    return [s.command for s in d.steps if s.command]


def test_good_fit():
    d = diagnose(facts())
    assert d.names == ["good fit"]
    assert "test score is within 0.0 points of the target 0.9800" in d.findings[0].evidence
    assert "deepstart tune digits --model mlp --trials 30" in commands(d)
    assert commands(d)[0] == "deepstart report runs/x"


def test_high_bias_names_the_gap_and_suggests_capacity_and_a_convnet_for_images():
    d = diagnose(facts(train=0.85, val=0.84, test=0.84))
    assert d.names == ["high bias"]
    assert "training accuracy 0.8500 is 13.0 points short of the target 0.9800" in d.findings[0].evidence
    cmds = commands(d)
    # the run's own settings (6 epochs, no dropout) travel with every change
    # the training loss was still falling: longer first, to the recipe's 30 epochs (more than 2 x 6)
    assert cmds[0] == "deepstart run digits --model mlp --dropout 0 --epochs 30"
    assert "deepstart run digits --model convnet" in cmds  # images, dense model, no recipe
    assert "deepstart run digits --model mlp --hidden 512 --dropout 0 --epochs 6" in cmds
    assert "deepstart tune digits --model mlp --trials 30" in cmds


def test_high_bias_prefers_the_problems_stronger_recipes():
    recipes = [{"model": "convnet", "settings": {}, "target": 0.93, "claim": "convnet 48-96-192: 0.9297"},
               {"model": "resnet", "settings": {}, "target": 0.94, "claim": "ResNet-20: 0.9422"},
               {"model": "mlp", "settings": {}, "target": 0.89, "claim": "mlp"}]
    d = diagnose(facts(problem="fashion-mnist", train=0.90, val=0.89, test=0.885,
                       references=[{"value": 0.967, "model": "WRN40-4", "source": "README"}],
                       recipes=recipes, class_names=FASHION))
    assert d.names == ["high bias"]
    texts = [s.text for s in d.steps if "--model" in s.text]
    # the better claim first, the own family never; without a GPU the GPU recipe (resnet) last
    assert texts[0].startswith("try --model convnet: its recipe reaches 0.9300")
    assert texts[-1].startswith("try --model resnet: its recipe reaches 0.9400")
    assert texts[-1].endswith("a GPU recipe: hours on this machine's CPU")
    assert not any("--model mlp:" in t for t in texts)
    d = diagnose(facts(problem="fashion-mnist", train=0.90, val=0.89, test=0.885, gpu=True,
                       references=[{"value": 0.967, "model": "WRN40-4", "source": "README"}],
                       recipes=recipes, class_names=FASHION))
    assert [s.text for s in d.steps if "--model" in s.text][0].startswith("try --model resnet")


def test_high_bias_with_regularisation_suggests_less_of_it():
    d = diagnose(facts(train=0.85, val=0.84, test=0.84,
                       config={"epochs": 6, "lr": 1e-3, "weight_decay": 0.05,
                               "model_options": {"hidden": [64, 32], "dropout": 0.4}}))
    cmds = commands(d)
    assert "deepstart run digits --model mlp --hidden 64,32 --dropout 0.2 --epochs 6 --weight-decay 0.05" in cmds
    assert "deepstart run digits --model mlp --hidden 64,32 --dropout 0.4 --epochs 6 --weight-decay 0.005" in cmds
    assert "deepstart run digits --model mlp --hidden 128,64 --dropout 0.4 --epochs 6 --weight-decay 0.05" in cmds


def test_high_variance_on_digits_suggests_crop_not_flip_and_the_best_epoch():
    val_losses = [0.9, 0.5, 0.3, 0.25, 0.2, 0.22, 0.26, 0.3, 0.33, 0.36]
    d = diagnose(facts(train=1.0, val=0.90, test=0.905, history=history(val_losses),
                       config={"epochs": 10, "lr": 1e-3, "model_options": {"hidden": [256]}},
                       references=[{"value": 0.92, "model": "SVC", "source": "x"}]))
    assert d.names == ["high variance"]
    ev = d.findings[0].evidence
    assert "validation accuracy 0.9000 against training 1.0000: a gap of 10.0 points" in ev
    assert "validation loss was lowest at epoch 5 (0.2)" in ev
    cmds = commands(d)
    # the validation loss turned at epoch 5 of 10: stopping there is the first step, and no step
    # trains longer
    assert cmds[0] == "deepstart run digits --model mlp --epochs 5"
    assert "deepstart run digits --model mlp --epochs 10 --augment crop" in cmds  # a flipped 2 is no 2
    assert "deepstart run digits --model mlp --dropout 0.2 --epochs 10" in cmds
    assert "deepstart run digits --model mlp --epochs 10 --weight-decay 1e-4" in cmds
    assert "deepstart diagnose runs/x --learning-curve" in cmds


def test_high_variance_on_clothes_suggests_crop_and_flip():
    d = diagnose(facts(problem="fashion-mnist", train=0.99, val=0.90, test=0.90, class_names=FASHION,
                       references=[{"value": 0.92, "model": "CNN", "source": "x"}]))
    assert d.names == ["high variance"]
    assert ("deepstart run fashion-mnist --model mlp --hidden 256 --dropout 0 --epochs 6 --lr 0.001 "
            "--augment crop,flip") in commands(d)


def test_a_gap_within_the_noise_of_a_small_validation_set_is_not_variance():
    # 5 points on 20 validation rows: 2 standard errors are about 10 points
    d = diagnose(facts(train=1.0, val=0.95, test=0.95, n_val=20, n_test=40,
                       references=[{"value": 0.95, "model": "x", "source": "y"}]))
    assert "high variance" not in d.names
    # the same gap on 2,000 rows is variance
    d = diagnose(facts(train=1.0, val=0.95, test=0.95, n_val=2000, n_test=2000,
                       references=[{"value": 0.95, "model": "x", "source": "y"}]))
    assert d.names == ["high variance"]


def test_both_bias_and_variance():
    d = diagnose(facts(train=0.90, val=0.80, test=0.80))
    assert d.names == ["high bias and high variance"]
    assert "8.0 points short of the target" in d.findings[0].evidence
    assert "a gap of 10.0 points" in d.findings[0].evidence
    cmds = commands(d)
    assert cmds.index("deepstart run digits --model convnet") < \
        cmds.index("deepstart run digits --model mlp --dropout 0 --epochs 6 --augment crop")  # bias first


def test_validation_test_mismatch():
    d = diagnose(facts(train=0.97, val=0.96, test=0.88, n_val=1000, n_test=1000,
                       references=[{"value": 0.97, "model": "x", "source": "y"}]))
    assert "validation/test mismatch" in d.names
    ev = next(f.evidence for f in d.findings if f.name == "validation/test mismatch")
    assert "differ by 8.0 points; the test score is worse" in ev
    assert "deepstart run digits --model mlp --dropout 0 --epochs 6 --val-split 0.2" in commands(d)
    assert commands(d)[0] == "deepstart evaluate digits"


def test_below_baseline():
    d = diagnose(facts(problem="pima-diabetes", kind="tabular", class_names=("neg", "pos"),
                       task="binary", train=0.66, val=0.64, test=0.64,
                       baseline=Score(0.651, "majority class (always 'neg')", "baseline"),
                       references=[{"value": 0.76, "model": "ADAP", "source": "Smith 1988"}],
                       config={"epochs": 10, "lr": 1e-3, "scale": "unit"}))
    assert d.names[0] == "below baseline"
    assert "test accuracy 0.6400 is no better than the baseline's 0.6510" in d.findings[0].evidence
    cmds = commands(d)
    assert "deepstart lr-find pima-diabetes --model mlp --scale unit" in cmds
    assert "deepstart run pima-diabetes --model mlp --epochs 10 --scale standard" in cmds
    assert "deepstart run pima-diabetes --model mlp --epochs 100 --scale unit" in cmds  # the recipe's


def test_a_small_lead_over_the_baseline_within_the_noise_is_below_baseline():
    four = dict(kind="image", class_names=("bag", "shirt", "sneaker", "trouser"),
                baseline=Score(0.25, "majority class for every image"),
                references=[{"value": 0.25, "model": "majority class for every image",
                             "source": "baseline"}])
    d = diagnose(facts(**four, train=0.31, val=0.37, test=0.27, n_val=19, n_test=48))
    assert d.names[0] == "below baseline"
    assert "within the noise of 48 test rows" in d.findings[0].evidence
    # the same lead on 5,000 test rows is a lead
    d = diagnose(facts(**four, train=0.31, val=0.30, test=0.29, n_val=5000, n_test=5000))
    assert "below baseline" not in d.names


def test_diverged_status_and_a_loss_that_blew_up():
    d = diagnose(facts(status="diverged", train=0.1, val=0.1, test=0.1))
    assert d.names == ["diverged"]
    cmds = commands(d)
    assert cmds[0] == "deepstart run digits --model mlp --dropout 0 --epochs 6 --lr 0.0001"
    assert "deepstart lr-find digits --model mlp --dropout 0" in cmds
    assert "deepstart run digits --model mlp --dropout 0 --epochs 6 --clip-grad 1" in cmds
    # finished, but the training loss ended far above its lowest: unstable
    rows = history([0.5, 0.4, 0.6, 1.5], losses=[0.6, 0.3, 0.5, 1.2])
    d = diagnose(facts(history=rows, train=0.5, val=0.5, test=0.5))
    assert d.names == ["diverged"]
    assert "4.0 times its lowest (0.3 at epoch 2)" in d.findings[0].evidence


def test_still_improving_puts_more_epochs_first():
    d = diagnose(facts(history=history([1.0, 0.8, 0.6, 0.5, 0.4]),
                       config={"epochs": 5, "lr": 1e-3, "model_options": {"hidden": [256]}}))
    assert d.names == ["good fit", "still improving"]
    assert "fell at each of the last 3 epochs (0.8 -> 0.4)" in d.findings[1].evidence
    assert commands(d)[0] == "deepstart run digits --model mlp --epochs 30"  # the recipe's, > 2 x 5
    # a rise inside the last three epochs: not still improving
    d = diagnose(facts(history=history([1.0, 0.5, 0.6, 0.4, 0.39])))
    assert "still improving" not in d.names
    # without validation the training loss decides
    rows = [{"epoch": i + 1, "loss": v} for i, v in enumerate([0.9, 0.7, 0.5, 0.3])]
    d = diagnose(facts(history=rows, val=None))
    assert "still improving" in d.names
    assert "training loss (no validation split)" in d.findings[-1].evidence


def test_small_gaps_that_add_up_are_named_short_of_the_target():
    d = diagnose(facts(train=0.965, val=0.94, test=0.93, n_val=135, n_test=450))
    assert d.names == ["short of the target"]
    assert "5.0 points short of the target 0.9800" in d.findings[0].evidence
    assert "deepstart run digits --model convnet" in commands(d)


def test_rmse_gaps_are_read_against_the_baseline_error():
    series = dict(metric="rmse", greater_is_better=False, problem="airline-passengers",
                  model="linear", kind="series", task="forecast", class_names=(),
                  baseline=Score(48.7, "persistence baseline (last month)"),
                  references=[{"value": 47.5, "model": "LSTM", "source": "Brownlee"},
                              {"value": 42.3, "model": "seasonal naive baseline", "source": "c"}],
                  n_val=None, n_test=None, config={"epochs": 300, "lr": 0.01})
    d = diagnose(facts(**series, train=10.0, val=12.0, test=14.0))
    assert d.names == ["good fit"]
    assert ("beats the best baseline 42.3 (seasonal naive baseline) and every published score "
            "(best 47.5, LSTM)") in d.findings[0].evidence
    d = diagnose(facts(**series, train=10.0, val=30.0, test=31.0))
    assert d.names == ["high variance"]
    # gaps are shares of the best baseline's RMSE (seasonal naive, 42.3), not persistence's
    assert "a gap of 20 (47 % of the best baseline's error)" in d.findings[0].evidence
    d = diagnose(facts(**series, train=50.0, val=51.0, test=52.0))
    assert d.names == ["below baseline"]


def test_user_data_without_a_better_reference_asks_for_an_evaluation_and_uses_one():
    user = dict(problem="data/cancer.csv", data_options={"target": "diagnosis"}, kind="tabular",
                task="binary", class_names=("benign", "malignant"),
                baseline=Score(0.63, "majority class for every row", "baseline"),
                references=[{"value": 0.63, "model": "majority class for every row",
                             "source": "baseline, computed on the same 114 test rows"}])
    d = diagnose(facts(**user, train=0.86, val=0.85, test=0.85))
    assert d.names == ["no gap found"]  # not "good fit": nothing says how good it could be
    assert "how much better this data allows is unknown" in d.findings[0].evidence
    assert d.notes == []  # the finding says it
    d = diagnose(facts(**user, train=0.99, val=0.85, test=0.85))
    assert d.names == ["high variance"]
    assert any("bias cannot be judged" in n for n in d.notes)
    assert "deepstart evaluate data/cancer.csv --target diagnosis" in commands(d)
    # with a spot-checked model at 0.96, the same run has high bias against it
    d = diagnose(facts(**user, train=0.86, val=0.85, test=0.85,
                       spot_check=Score(0.96, "random forest (spot-checked ± 0.02)")))
    assert d.names == ["high bias"]
    assert "short of the target 0.9600 (random forest" in d.findings[0].evidence
    # the file is not here: every setting of the run is written out
    assert ("deepstart run data/cancer.csv --target diagnosis --model mlp --hidden 512 --dropout 0 "
            "--epochs 6 --lr 0.001 --val-split 0.1") in commands(d)


@settings(max_examples=200, deadline=None)
@given(st.floats(0, 1), st.one_of(st.none(), st.floats(0, 1)), st.floats(0, 1),
       st.lists(st.floats(0.001, 10), min_size=0, max_size=8), st.sampled_from(["finished", "diverged"]))
def test_any_scores_give_named_findings_and_commands(train, val, test, losses, status):
    rows = [{"epoch": i + 1, "loss": v, **({"val_loss": v * 1.1} if val is not None else {})}
            for i, v in enumerate(losses)]
    d = diagnose(facts(train=train, val=val, test=test, history=rows, status=status))
    assert d.findings and all(f.evidence for f in d.findings)
    known = {"diverged", "below baseline", "high bias", "high variance", "high bias and high variance",
             "validation/test mismatch", "still improving", "short of the target", "good fit",
             "no gap found"}
    assert set(d.names) <= known
    assert all(s.command is None or s.command.startswith("deepstart ") for s in d.steps)
    assert len(commands(d)) == len(set(commands(d)))


# --- evaluations beside a run ---------------------------------------------------------------------

def evaluation(problem="cancer", results=None, **kw):
    return {"format": "deepstart-evaluation-1", "problem": problem, "metric": "accuracy",
            "greater_is_better": True, "protocol": {"kind": "stratified k-fold", "k": 10},
            "results": results or [
                {"algorithm": "majority", "scores": [0.63] * 3, "mean": 0.63, "std": 0.0,
                 "fit_seconds": 0.01, "status": "ok"},
                {"algorithm": "random-forest", "scores": [0.95, 0.96, 0.97], "mean": 0.96,
                 "std": 0.008, "fit_seconds": 1.2, "status": "ok"},
                {"algorithm": "knn", "scores": [], "mean": None, "std": None, "fit_seconds": 0,
                 "status": "failed"},
            ], "best": "random-forest", **kw}


def test_find_evaluation_picks_the_newest_of_the_same_problem(tmp_path):
    run = tmp_path / "2026-11-23-cancer-mlp-1"
    run.mkdir()
    for name, data, mtime in (
            ("2026-11-20-cancer-evaluate-1", evaluation(), 1_000),
            ("2026-11-22-cancer-evaluate-1", evaluation(results=[
                {"algorithm": "logistic", "scores": [0.9], "mean": 0.93, "status": "ok"}]), 2_000),
            ("2026-11-23-cancer-evaluate-2", {"format": "other", "problem": "cancer"}, 3_000),
            ("2026-11-23-wine-evaluate-1", evaluation(problem="wine"), 4_000)):
        (tmp_path / name).mkdir()
        path = tmp_path / name / "evaluation.json"
        path.write_text(json.dumps(data))
        os.utime(path, (mtime, mtime))
    where, data = find_evaluation(run, "cancer")
    assert where.name == "2026-11-22-cancer-evaluate-1"
    assert best_of_evaluation(data).model.startswith("logistic")
    assert find_evaluation(run, "iris") is None


def test_find_evaluation_of_your_own_data_recorded_by_its_path(tmp_path):
    """`deepstart evaluate data/patients.csv` records the CSV's absolute path; the run of the same
    file names its folder after the file's stem."""
    csv = tmp_path / "data" / "patients.csv"
    csv.parent.mkdir()
    csv.write_text("age,ill\n40,0\n50,1\n")
    run = tmp_path / "runs" / "2026-11-23-patients-mlp-1"
    run.mkdir(parents=True)
    folder = tmp_path / "runs" / "2026-11-23-patients-evaluate-1"
    folder.mkdir()
    (folder / "evaluation.json").write_text(json.dumps(evaluation(problem=str(csv))))
    where, _ = find_evaluation(run, "patients")
    assert where == folder
    assert find_evaluation(run, "other") is None


def test_best_of_evaluation_skips_baselines_and_failures():
    best = best_of_evaluation(evaluation())
    assert best.value == 0.96 and best.model == "random-forest (spot-checked ± 0.008)"
    assert "stratified k-fold" in best.source
    lower = best_of_evaluation(evaluation(greater_is_better=False))
    assert lower.value == 0.96  # the only non-baseline that finished
    assert best_of_evaluation(evaluation(results=[{"algorithm": "majority", "mean": 0.6}])) is None


# --- real runs ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    code = main(["run", "digits", "--epochs", "3", "--quiet", "--out", str(out)])
    assert code == 0
    return next(out.iterdir())


def test_run_prints_the_diagnosis_at_the_end(tmp_path, capsys):
    assert main(["run", "iris", "--epochs", "3", "--quiet", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "diagnosis: " in out and "next steps:" in out
    assert out.index("diagnosis: ") < out.index("run folder: ")
    assert "deepstart run iris --model mlp --epochs" in out  # 3 epochs of iris is undertrained


def test_diagnose_command_on_a_real_run(digits_run, capsys):
    assert main(["diagnose", str(digits_run)]) == 0
    out = capsys.readouterr().out
    f = facts_from_folder(digits_run)
    metrics = json.loads((digits_run / "metrics.json").read_text())
    assert f.test == metrics["test"]["accuracy"] and f.train == metrics["train"]["accuracy"]
    # digits has no baseline among its references: the majority class of the test rows
    assert f.baseline.model == "majority class for every row" and 0.09 < f.baseline.value < 0.12
    assert f.n_test == 450 and f.n_val == 135
    assert f"test {metrics['test']['accuracy']:.4f}" in out
    assert "target 0.9800 (1-nearest neighbour" in out
    d = diagnose(f)
    assert out.startswith(f"diagnosis: {d.headline}")
    assert all(s.command in out for s in d.steps if s.command)


def deepstart(*args):
    return subprocess.run([sys.executable, "-m", "deepstart.cli", *args], capture_output=True,
                          text=True, timeout=120)


def test_diagnose_bad_inputs_one_line_exit_2(tmp_path, digits_run):
    r = deepstart("diagnose", str(tmp_path))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "is not a run folder" in r.stderr
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "config.json").write_text((digits_run / "config.json").read_text())
    r = deepstart("diagnose", str(unfinished))
    assert r.returncode == 2 and "has not finished (no metrics.json yet)" in r.stderr
    assert f"deepstart run --resume {unfinished}" in r.stderr
    r = deepstart("diagnose", str(digits_run), "--sizes", "0.5,1")
    assert r.returncode == 2 and "add --learning-curve" in r.stderr


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0.001, 1.0), min_size=2, max_size=6, unique=True),
       st.floats(-5, 5).filter(lambda v: not 0 < v <= 1))
def test_learning_curve_sizes_parse_or_fail_in_one_line(shares, outside):
    from deepstart.cli import build_parser

    text = ",".join(repr(v) for v in shares)
    args = build_parser().parse_args(["diagnose", "RUN", "--learning-curve", "--sizes", text])
    assert args.sizes == sorted(set(shares))
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(["diagnose", "RUN", "--sizes", f"{text},{outside!r}"])
    assert e.value.code == 2


def test_learning_curve_retrains_on_growing_shares(digits_run, capsys):
    assert main(["diagnose", str(digits_run), "--learning-curve", "--sizes", "0.25,1",
                 "--epochs", "2"]) == 0
    out = capsys.readouterr().out
    assert "diagnosis: " in out and "learning curve" in out
    assert "303 rows: train" in out and "1212 rows: train" in out  # stratified quarter, all rows
    assert "the validation accuracy went from" in out
    png = digits_run / "learning-curve.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"plot: {png}" in out


# --- issue 14: right on cases it has never seen -----------------------------------------------------

AIRLINE_REFS = [{"value": 47.5, "model": "LSTM, look-back 1", "source": "Brownlee 2016"},
                {"value": 366.0, "model": "persistence baseline (last month)", "source": "same values"},
                {"value": 56.0, "model": "seasonal naive baseline (the value 12 steps earlier, season 12)",
                 "source": "computed on the same 46 test values"}]


def series_facts(**kw):
    base = dict(metric="rmse", greater_is_better=False, problem="data/sales.csv",
                data_options={"forecast": "sales"}, model="mlp", kind="series", task="forecast",
                class_names=(), baseline=None, references=AIRLINE_REFS, n_val=None, n_test=None,
                season=12, lookback=3, config={"epochs": 200, "lr": 1e-3, "lookback": 3})
    return facts(**(base | kw))


def test_a_forecaster_losing_to_seasonal_naive_is_never_a_good_fit():
    """RMSE 77 against seasonal naive's 56: gaps are read against the best baseline (56), not
    persistence (366), and the window of a season is the first step."""
    d = diagnose(series_facts(train=70.0, val=74.0, test=77.0))
    assert d.names == ["below baseline"]
    assert "no better than the baseline's 56 (seasonal naive" in d.findings[0].evidence
    assert "baseline 56 (seasonal naive" in d.scores
    assert d.steps[0].command == ("deepstart run data/sales.csv --forecast sales --model mlp "
                                  "--epochs 200 --lr 0.001 --lookback 12")
    # beating seasonal naive by little is not a good fit either when training is far better
    d = diagnose(series_facts(train=20.0, val=45.0, test=50.0))
    assert d.names == ["high variance"]
    assert "(45 % of the best baseline's error)" in d.findings[0].evidence


def test_an_overfit_run_below_the_baseline_is_variance_not_nothing_learnt():
    """Pima with a 256-256 net for 200 epochs: train 1.000, validation 0.672, test 0.714."""
    val_losses = [0.60, 0.52, 0.50, 0.55, 0.70] + [0.8 + 0.05 * i for i in range(195)]
    d = diagnose(facts(problem="pima-diabetes", kind="tabular", task="binary",
                       class_names=("neg", "pos"), train=1.0, val=0.672, test=0.714,
                       n_val=61, n_test=154, history=history(val_losses),
                       baseline=Score(0.651, "majority class (always 'neg')", "baseline"),
                       references=[{"value": 0.76, "model": "ADAP", "source": "Smith 1988"}],
                       config={"epochs": 200, "lr": 1e-3,
                               "model_options": {"hidden": [256, 256], "dropout": 0.0}}))
    assert d.names == ["high variance"]
    assert "learned next to nothing" not in d.findings[0].evidence
    assert "validation loss was lowest at epoch 3" in d.findings[0].evidence
    cmds = commands(d)
    assert cmds[0] == "deepstart run pima-diabetes --model mlp --hidden 256,256 --dropout 0 --epochs 3"
    # no step trains longer or takes a larger step
    assert not any(s.changes.get("epochs", 0) > 200 or "lr" in s.changes for s in d.steps)


def test_too_few_rows_to_tell_is_said_with_the_standard_errors():
    # train 1.000 / validation 0.824 / test 0.786 on 17 and 42 rows: not "close together"
    d = diagnose(facts(kind="tabular", train=1.0, val=0.824, test=0.786, n_val=17, n_test=42,
                       references=[{"value": 0.80, "model": "x", "source": "y"}]))
    assert d.names == ["too few rows to tell"]
    ev = d.findings[0].evidence
    assert "validation 0.8240 ± 0.099 on 17 rows, test 0.7860 ± 0.065 on 42 rows" in ev
    assert "close together" not in ev
    # train 0.74 below test 0.77: a low validation score on few rows is no variance
    d = diagnose(facts(kind="tabular", train=0.74, val=0.68, test=0.77, n_val=40, n_test=100,
                       references=[{"value": 0.75, "model": "x", "source": "y"}]))
    assert "high variance" not in d.names and d.names[0] == "too few rows to tell"
    # the same numbers on many rows are named
    d = diagnose(facts(kind="tabular", train=1.0, val=0.824, test=0.786, n_val=2000, n_test=2000,
                       references=[{"value": 0.80, "model": "x", "source": "y"}]))
    assert d.names[0] == "high variance"


def test_a_validation_loss_on_a_plateau_is_not_still_improving():
    d = diagnose(facts(history=history([0.5, 0.1, 0.05, 0.0378, 0.0377, 0.0376, 0.037])))
    assert "still improving" not in d.names


def test_next_steps_never_contradict_and_evaluate_gets_folds_its_smallest_class_allows():
    # the validation loss turned at epoch 42 of 50 and the training loss still falls: "train
    # longer" and "stop at epoch 42" cannot both be advised
    rows = history([1.0 / (i + 1) if i < 42 else 0.024 + 0.001 * (i - 41) for i in range(50)])
    d = diagnose(facts(train=1.0, val=0.93, test=0.93, n_val=2000, n_test=2000, history=rows,
                       config={"epochs": 50, "lr": 1e-3, "model_options": {"hidden": [256]}}))
    directions = {(s.changes["epochs"] > 50) for s in d.steps if "epochs" in s.changes}
    assert len(directions) == 1
    # nine rows in the rarest class: ten stratified folds would fail
    d = diagnose(facts(problem="data/rare.csv", data_options={"target": "y"}, kind="tabular",
                       train=0.86, val=0.85, test=0.85, references=[], smallest_class=9, rows=300,
                       baseline=Score(0.6, "majority class for every row")))
    assert "deepstart evaluate data/rare.csv --target y --folds 9" in commands(d)
    d = diagnose(facts(problem="data/rare.csv", data_options={"target": "y"}, kind="tabular",
                       train=0.86, val=0.85, test=0.85, references=[], smallest_class=1, rows=300,
                       baseline=Score(0.6, "majority class for every row")))
    assert "deepstart evaluate data/rare.csv --target y --holdout" in commands(d)


def test_suggestions_keep_the_runs_full_configuration_and_say_their_time():
    config = {"epochs": 5, "lr": 50.0, "optimizer": "sgd", "batch_size": 32, "nproc": 2,
              "seed": 3, "val_split": 0.1, "scale": "standard", "weight_decay": 0.0,
              "model_options": {"hidden": [256], "dropout": 0.3}}
    d = diagnose(facts(status="diverged", train=0.1, val=0.1, test=0.1, config=config,
                       history=[{"epoch": 1, "loss": float("nan")}], seconds_per_epoch=0.5,
                       out="experiments"))
    first = d.steps[0]
    # the digits recipe would train Adam for 30 epochs: the run's SGD, epochs, seed and processes
    # travel with the one change
    assert first.command == ("deepstart run digits --model mlp --epochs 5 --lr 0.1 --optimizer sgd "
                             "--seed 3 --nproc 2 --out experiments")
    assert first.text.startswith("lower --lr to 0.1 (500-fold): the run diverged")
    assert "expected time: about 2 s, at this run's 0.50 s an epoch" in first.text
    # another family starts from its recipe, keeping seed, validation split and processes
    cmd = facts(config=config, out="experiments").command(model="convnet")
    assert cmd == "deepstart run digits --model convnet --seed 3 --nproc 2 --out experiments"


def test_seasons_prefer_the_fundamental_period():
    from deepstart.problems.series import series_problem

    def season(period, seed):
        rng = np.random.default_rng(seed)
        t = np.arange(240)
        s = (5 * np.sin(2 * np.pi * t / period) + 2 * np.sin(4 * np.pi * t / period)
             + rng.normal(0, 2, 240) + np.cumsum(rng.normal(0, 0.5, 240)))
        return series_problem(s[:240]).schema["series"]["season"]

    assert season(12, 1) == 12  # its autocorrelation peaked at 24
    assert season(9.8, 10) in (9, 10)  # peaked at 19
    assert season(10, 16) == 10  # peaked at 20


def test_an_evaluation_counts_only_for_the_same_data(tmp_path):
    """Same file name in another folder, or the same table with another --target: another
    problem; `deepstart evaluate` records the content hash that tells them apart."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 3))
    text = "a,b,c,y\n" + "".join(f"{r[0]:.3f},{r[1]:.3f},{int(r[2] > 0)},{int(r[0] > 0)}\n" for r in x)
    mine, other = tmp_path / "mine" / "table.csv", tmp_path / "other" / "table.csv"
    for path, body in ((mine, text), (other, text.replace("1\n", "0\n", 5))):
        path.parent.mkdir()
        path.write_text(body)
    runs = tmp_path / "runs"
    assert main(["run", str(mine), "--target", "y", "--epochs", "2", "--quiet", "--out", str(runs)]) == 0
    run = next(runs.iterdir())
    for csv, target in ((other, "y"), (mine, "c")):
        assert main(["evaluate", str(csv), "--target", target, "--algorithms", "baseline,logistic",
                     "--folds", "2", "--quiet", "--out", str(runs)]) == 0
    assert find_evaluation(run, "table") is None
    assert facts_from_folder(run).spot_check is None
    assert main(["evaluate", str(mine), "--target", "y", "--algorithms", "baseline,logistic",
                 "--folds", "2", "--quiet", "--out", str(runs)]) == 0
    where, data = find_evaluation(run, "table")
    from deepstart.files import data_sha256

    assert data["data_sha256"] == data_sha256(mine) != data_sha256(other)
    assert json.loads((run / "metrics.json").read_text())["data_sha256"] == data_sha256(mine)
    assert facts_from_folder(run).spot_check.model.startswith("logistic")
    # the file edited after the evaluation: the run's recorded hash no longer matches
    mine.write_text(text.replace("1\n", "0\n", 3))
    assert main(["evaluate", str(mine), "--target", "y", "--algorithms", "baseline,logistic",
                 "--folds", "2", "--quiet", "--out", str(runs)]) == 0
    assert find_evaluation(run, "table")[0] == where


def test_one_benchmark_case_of_each_kind_is_diagnosed_as_constructed(tmp_path):
    """benchmarks/diagnosis.py's cases, one of each kind, as a regression test: real runs through
    the CLI on data built to be in that situation."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import diagnosis

    data, out = tmp_path / "data", tmp_path / "runs"
    data.mkdir()
    out.mkdir()
    cases = {c.name: c for c in diagnosis.cases(diagnosis.make_data(data))}
    # overfit, underfit, diverged, mismatch, a forecaster losing to seasonal naive, a good fit,
    # too few rows: the quickest case of each (the overfit one on 90 images, 6 s; pima-overfit's
    # 150 epochs on 553 rows took 5 times as long, and a tabular overfit is diagnosed above)
    for name in ("digit-folder-overfit", "wine-one-epoch", "cancer-diverged", "shifted-test",
                 "airline-lookback-1", "wine-recipe", "tiny-table"):
        result = diagnosis.run_case(cases[name], out, follow=False)
        assert result["diagnosed"] == result["expected"], name


def test_a_series_mismatch_suggests_walk_forward_not_k_fold(tmp_path):
    """`deepstart evaluate` scores a series walk-forward on the same test values; the step said
    k-fold over all rows (seen on a monthly stock price, matplotlib's sample Stocks.csv)."""
    d = diagnose(facts(train=0.97, val=0.96, test=0.88, n_val=1000, n_test=1000, kind="series",
                       references=[{"value": 0.97, "model": "x", "source": "y"}]))
    assert "validation/test mismatch" in d.names
    texts = [s.text for s in d.steps]
    assert any(t.startswith("a walk-forward evaluation scores other algorithms") for t in texts), texts
    assert not any("k-fold" in t for t in texts), texts


def test_a_handful_of_test_rows_at_the_baseline_is_too_few_to_tell_not_nothing_learnt():
    """linnerud's Pulse as classes (20 rows, 4 test rows): test 0.00 against the majority's 0.25
    was "below baseline: the model has learned next to nothing", and advised training longer;
    4 rows cannot tell the two apart (2 standard errors: about 0.37)."""
    d = diagnose(facts(class_names=tuple(str(i) for i in range(11)), train=0.5714, val=0.0,
                       test=0.0, n_val=2, n_test=4, references=[],
                       baseline=Score(0.25, "majority class for every row")))
    assert d.names[0] == "too few rows to tell", d.names
    assert "between test and the baseline" in d.findings[0].evidence
    assert "below baseline" not in d.names
    assert d.steps[0].command.startswith("deepstart evaluate digits")


def test_an_option_goes_through_its_own_flag_only_when_the_flag_reads_it_back():
    # --hidden parses sizes into a list: a class of your own whose `hidden` is one int must get
    # --option hidden=16, or the suggested command builds it with [16]
    from deepstart.diagnose import _flags

    assert _flags({"model_options": {"hidden": 16}}, {}, {}) == ["--option", "hidden=16"]
    assert _flags({"model_options": {"hidden": [64, 32]}}, {}, {}) == ["--hidden", "64,32"]
    assert _flags({"model_options": {"dropout": 0.2, "activation": "tanh"}}, {}, {}) == [
        "--dropout", "0.2", "--activation", "tanh"]
