"""deepstart tune and deepstart ensemble on real data (digits, iris): a study persists in SQLite and
resumes, the pruner stops a hopeless trial, two worker processes share one study, a killed worker
loses only its trial, the best configuration is retrained into a run folder with its tuning record,
every bad input is one line with exit code 2 and nothing written, and an ensemble's gain matches a
hand computation of averaged probabilities."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from deepstart.cli import main
from deepstart.models import load_model
from deepstart.prepare import prepare
from deepstart.problems import get_problem
from deepstart.tune import redact

PNG = b"\x89PNG\r\n\x1a\n"
GOOD = {"lr": 5e-3, "batch_size": 128, "weight_decay": 1e-5, "schedule": "constant", "layers": 1,
        "units": 128, "dropout": 0.1}


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPSTART_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "home"


# One torch thread in the commands these tests start: their models are tiny, and on a busy machine
# two OpenMP threads spin-wait for a core at every step (3x slower here; docs/benchmarks.md).
ONE_THREAD = os.environ | {"OMP_NUM_THREADS": "1"}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def deepstart(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "deepstart.cli", *args], capture_output=True,
                          text=True, timeout=120, env=ONE_THREAD)


def exit_code(argv: list[str]) -> int:
    """main's return value, or the code of the SystemExit argparse raises on a bad option."""
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


def trials_of(folder: Path) -> list[dict]:
    return list(csv.DictReader((folder / "tuning" / "trials.csv").open()))


def load(url: str, name: str = "digits-mlp") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=url)


def test_study_persists_resumes_and_the_best_is_retrained_and_scored_once(tmp_path, capsys):
    args = ["tune", "digits", "--model", "mlp", "--epochs", "2", "--out", "out"]
    assert main([*args, "--trials", "2"]) == 0
    printed = capsys.readouterr().out
    assert "0 finished trial(s); 2 to run" in printed
    assert sum(line.startswith("trial ") for line in printed.splitlines()) == 2
    assert "best " in printed and "lr=" in printed and "units=" in printed
    first = next(p for p in (tmp_path / "out").iterdir() if p.is_dir())
    assert (tmp_path / "out" / "tune-digits-mlp.db").is_file()

    # the tuning record
    tuning = first / "tuning"
    rows = trials_of(first)
    assert [int(r["number"]) for r in rows] == [0, 1]
    assert {r["state"] for r in rows} == {"COMPLETE"}  # no pruning before 3 trials complete
    study = json.loads((tuning / "study.json").read_text())
    complete = [r for r in rows if r["state"] == "COMPLETE"]
    best = max(complete, key=lambda r: float(r["value"]))
    assert study["best_trial"] == int(best["number"])
    assert study["best_value"] == pytest.approx(float(best["value"]))
    assert study["study_name"] == "digits-mlp" and study["direction"] == "maximize"
    assert study["n_trials"] == 2 and study["metric"] == "val_accuracy"
    assert set(study["search_space"]) == {"lr", "batch_size", "weight_decay", "schedule", "layers",
                                          "units", "dropout"}
    assert study["search_space"]["lr"]["attributes"]["log"] is True
    for name in ("history.png", "importances.png"):
        assert (tuning / name).read_bytes()[:8] == PNG
    assert not list(first.glob(".*"))

    # the best parameters were retrained on train + validation; its test score is its metrics.json's
    config = json.loads((first / "config.json").read_text())
    assert config["val_split"] == 0 and config["epochs"] == 2
    assert config["lr"] == pytest.approx(study["best_params"]["lr"])
    assert config["batch_size"] == study["best_params"]["batch_size"]
    units, layers = study["best_params"]["units"], study["best_params"]["layers"]
    assert config["model_options"]["hidden"] == [units] * layers
    assert config["command"].startswith("deepstart tune digits")
    metrics = json.loads((first / "metrics.json").read_text())
    assert metrics["val"] is None
    model, _ = load_model(first)
    problem = get_problem("digits")
    data = prepare(problem.load(), problem, val_split=0.0, seed=config["seed"], scale=config["scale"])
    with torch.no_grad():
        accuracy = (model(data.x_test).argmax(1) == data.y_test).float().mean().item()
    assert metrics["test"]["accuracy"] == pytest.approx(accuracy)

    # the same command resumes the study: its 2 trials count, 1 more runs
    assert main([*args, "--trials", "3"]) == 0
    printed = capsys.readouterr().out
    assert "2 finished trial(s); 1 to run" in printed
    second = sorted(p for p in (tmp_path / "out").iterdir() if p.is_dir())[-1]
    assert second != first
    again = trials_of(second)
    assert [int(r["number"]) for r in again] == [0, 1, 2]
    assert [r["value"] for r in again[:2]] == [r["value"] for r in rows]  # kept, not rerun
    assert len({r["lr"] for r in again}) == 3  # a resumed sampler does not repeat its first points

    # resuming with other settings would mix incomparable trials: refused
    assert main(["tune", "digits", "--model", "mlp", "--epochs", "3", "--out", "out",
                 "--trials", "4"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "epochs=2 (now 3)" in err and "--study NAME" in err


@pytest.mark.filterwarnings("ignore:Fixed parameter lr with value 1e-07 is out of range")
def test_the_median_pruner_stops_a_hopeless_trial(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="digits-mlp", storage=url, direction="maximize")
    for lr in (5e-3, 4e-3, 6e-3):
        study.enqueue_trial(GOOD | {"lr": lr})
    study.enqueue_trial(GOOD | {"lr": 1e-7})  # far below the searched range: learns nothing
    assert main(["tune", "digits", "--model", "mlp", "--epochs", "4", "--trials", "4",
                 "--storage", url, "--out", "out"]) == 0
    printed = capsys.readouterr().out
    folder = next(p for p in (tmp_path / "out").iterdir() if p.is_dir())
    rows = trials_of(folder)
    assert [r["state"] for r in rows] == ["COMPLETE"] * 3 + ["PRUNED"]
    assert int(rows[3]["epochs"]) < 4 and all(int(r["epochs"]) == 4 for r in rows[:3])
    assert "pruned after epoch" in printed
    pruned = load(url).trials[3]
    assert max(pruned.intermediate_values.values()) < min(t.value for t in load(url).trials[:3])
    assert json.loads((folder / "tuning" / "study.json").read_text())["states"] == {
        "COMPLETE": 3, "PRUNED": 1}


def test_two_workers_share_one_sqlite_study(tmp_path):
    out = deepstart("tune", "digits", "--model", "mlp", "--epochs", "5", "--batch-size", "32",
                    "--trials", "4", "--workers", "2", "--out", "out")
    assert out.returncode == 0, out.stderr
    assert "worker 1/2" in out.stdout and "worker 2/2" in out.stdout
    folder = next(p for p in (tmp_path / "out").iterdir() if p.is_dir())
    rows = trials_of(folder)
    assert len(rows) == 4 and {r["state"] for r in rows} <= {"COMPLETE", "PRUNED"}
    workers = {r["worker"] for r in rows}
    assert len(workers) == 2 and all(w.split(":")[1] != str(os.getpid()) for w in workers)


def test_a_killed_worker_loses_only_its_running_trial(tmp_path):
    url = f"sqlite:///{tmp_path / 'out' / 'tune-digits-mlp.db'}"
    args = ["tune", "digits", "--model", "mlp", "--epochs", "30", "--batch-size", "32", "--trials",
            "1", "--out", "out"]
    proc = subprocess.Popen([sys.executable, "-m", "deepstart.cli", *args], text=True, env=ONE_THREAD,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert "study digits-mlp" in proc.stdout.readline()  # the study exists from here on
        deadline = time.time() + 60
        running = []
        while not running and time.time() < deadline and proc.poll() is None:
            time.sleep(0.1)
            running = [t for t in load(url).get_trials(states=(optuna.trial.TrialState.RUNNING,))
                       if t.intermediate_values]  # inside its epochs
        assert running, "no trial was seen running"
        proc.kill()
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    victim = running[0].number
    assert load(url).trials[victim].state == optuna.trial.TrialState.RUNNING  # left behind

    out = deepstart(*args)
    assert out.returncode == 0, out.stderr
    assert f"failed trial(s) {victim} left running by a stopped worker" in out.stdout
    folder = next(p for p in (tmp_path / "out").iterdir() if p.is_dir())
    states = {int(r["number"]): r["state"] for r in trials_of(folder)}
    assert states == {victim: "FAIL", victim + 1: "COMPLETE"}


@pytest.mark.parametrize("model, shape, task, outputs", [
    ("perceptron", (4,), "binary", 1), ("linear", (12,), "forecast", 1), ("logistic", (4,), "multiclass", 3),
    ("mlp", (4,), "multiclass", 3), ("convnet", (1, 28, 28), "multiclass", 10),
    ("resnet", (1, 28, 28), "multiclass", 10), ("googlenet", (1, 28, 28), "multiclass", 10),
    ("transformer", (1, 28, 28), "multiclass", 10), ("lstm", (12,), "forecast", 1),
    ("gru", (12,), "forecast", 1),
])
def test_every_point_of_each_familys_search_space_builds_a_working_model(model, shape, task, outputs):
    from deepstart.models import build_model
    from deepstart.run import RunConfig
    from deepstart.tune import searched, suggest

    base = RunConfig(model=model, lr=1e-3)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(2 if model in ("googlenet", "resnet") else 8):  # the big ones build slowly
        trial = study.ask()
        config = suggest(trial, base)
        assert set(trial.params) == set(searched(model)) - ({"dropout"} if model in ("lstm", "gru")
                                                            and trial.params.get("num_layers") == 1 else set())
        assert 1e-3 / 30 <= config.lr <= 1e-2 and config.schedule in ("constant", "cosine", "onecycle")
        net = build_model(model, shape, outputs, task, **config.model_options).eval()
        with torch.no_grad():
            out = net(torch.zeros(2, *shape))
        assert out.shape == (2, outputs)
    # a setting given by the user is fixed: it is neither searched nor changed
    fixed = suggest(study.ask(), RunConfig(model=model, lr=0.05, batch_size=48), {"lr", "batch_size"})
    assert fixed.lr == 0.05 and fixed.batch_size == 48


@pytest.mark.parametrize("args, says", [
    (["digits", "--model", "resnt"], "unknown model 'resnt'; did you mean 'resnet'?"),
    (["digitz"], "unknown problem 'digitz'"),
    (["digits", "--trials", "0"], "argument --trials: expected a positive integer; received '0'"),
    (["digits", "--workers", "0"], "argument --workers: expected a positive integer; received '0'"),
    (["digits", "--timeout", "0"], "argument --timeout: expected a positive number"),
    (["iris", "--model", "convnet"], "model 'convnet' is for images"),
    (["iris", "--val-split", "0"], "--val-split must be > 0"),
    (["iris", "--storage", "sqlite:////no/such/folder/study.db"], "cannot open the study storage"),
    (["iris", "--storage", "postgresql://me:s3cret@localhost:1/db"], "cannot open the study storage"),
    (["iris", "--storage", "nonsense"], "cannot open the study storage"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, capsys, args, says):
    assert exit_code(["tune", *args]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and captured.err.startswith("deepstart: error: ")
    assert says in captured.err and "s3cret" not in captured.err and "Traceback" not in captured.err
    assert {p.name for p in tmp_path.iterdir()} <= {"home"}  # home: the data cache, if any


@settings(max_examples=30, deadline=None)
@given(password=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=6, max_size=20))
def test_a_storage_url_is_shown_without_its_password(password):
    shown = redact(f"postgresql://alice:{password}@db.example.org:5432/studies")
    assert password not in shown and "alice" in shown and "db.example.org" in shown


def _probabilities(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """By hand: the run's test split as it was prepared, and softmax of its model's outputs."""
    config = json.loads((folder / "config.json").read_text())
    problem = get_problem(config["problem"])
    data = prepare(problem.load(), problem, val_split=config["val_split"], seed=config["seed"],
                   scale=config["scale"])
    model, _ = load_model(folder)
    with torch.no_grad():
        return torch.softmax(model(data.x_test), 1).numpy(), data.y_test.numpy()


@pytest.fixture(scope="module")
def finished_runs(tmp_path_factory) -> dict[str, Path]:
    """Two short digits runs (other seeds and widths) and an iris run, shared by the ensemble tests."""
    out = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEEPSTART_HOME", str(out / "home"))
        for name, args in (("a", ["digits", "--seed", "1", "--hidden", "32", "--val-split", "0.2"]),
                           ("b", ["digits", "--seed", "2", "--hidden", "64"]),
                           ("iris", ["iris"]),
                           ("air12", ["airline-passengers", "--lookback", "12"]),
                           ("air13", ["airline-passengers", "--lookback", "13"])):
            epochs = "20" if name.startswith("air") else "2"
            assert main(["run", *args, "--epochs", epochs, "--quiet", "--out", str(out / name)]) == 0
    return {name: next((out / name).iterdir()) for name in ("a", "b", "iris", "air12", "air13")}


def test_ensemble_gain_matches_a_hand_computation(tmp_path, capsys, finished_runs):
    a, b = finished_runs["a"], finished_runs["b"]
    capsys.readouterr()
    assert main(["ensemble", str(a), str(b), "--out", "ens.json"]) == 0
    printed = capsys.readouterr().out
    result = json.loads((tmp_path / "ens.json").read_text())

    (pa, y), (pb, yb) = _probabilities(a), _probabilities(b)  # other validation splits, same test
    assert np.array_equal(y, yb)
    scores = [float((p.argmax(1) == y).mean()) for p in (pa, pb)]
    ensemble = float((((pa + pb) / 2).argmax(1) == y).mean())
    assert [m["test"] for m in result["members"]] == pytest.approx(scores)
    assert [m["recorded_test"] for m in result["members"]] == pytest.approx(scores)
    assert result["ensemble"]["test"] == pytest.approx(ensemble)
    assert result["gain"] == pytest.approx(ensemble - max(scores))
    assert result["best_member"] == str((a, b)[int(np.argmax(scores))])
    assert result["test_rows"] == len(y) == 450
    assert "gain over the best member" in printed and f"{ensemble:.4f}" in printed


def test_a_forecast_ensemble_averages_values_in_the_targets_units(finished_runs):
    from deepstart.ensemble import ensemble

    problem = get_problem("airline-passengers")
    predictions = []
    for name in ("air12", "air13"):  # other look-backs: other windows, the same 46 test months
        config = json.loads((finished_runs[name] / "config.json").read_text())
        data = prepare(problem.load(), problem, val_split=config["val_split"], seed=0,
                       lookback=config["lookback"])
        model, _ = load_model(finished_runs[name])
        with torch.no_grad():
            predictions.append(data.target_values(model(data.x_test)))
        truth = data.target_values(data.y_test)
    rmse = [float(np.sqrt(np.mean((p - truth) ** 2))) for p in predictions]
    averaged = float(np.sqrt(np.mean(((predictions[0] + predictions[1]) / 2 - truth) ** 2)))
    result = ensemble([finished_runs["air12"], finished_runs["air13"]])
    assert result["metric"] == "rmse" and result["test_rows"] == 46
    assert [m["test"] for m in result["members"]] == pytest.approx(rmse)
    assert [m["recorded_test"] for m in result["members"]] == pytest.approx(rmse)
    assert result["ensemble"]["test"] == pytest.approx(averaged)
    assert result["gain"] == pytest.approx(min(rmse) - averaged)  # positive: a lower RMSE


def test_ensemble_bad_input_is_one_line(tmp_path, capsys, finished_runs):
    iris, digits = str(finished_runs["iris"]), str(finished_runs["a"])
    (tmp_path / "empty").mkdir()
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "config.json").write_text((finished_runs["iris"] / "config.json").read_text())
    capsys.readouterr()
    for args, says in (([iris, digits], "averages runs of the same problem"),
                       ([iris, "empty"], "empty is not a run folder"),
                       ([iris, str(unfinished)], "is an unfinished run"),
                       ([iris], "needs at least 2 runs"),
                       ([iris, iris], "is given twice")):
        assert main(["ensemble", *args, "--out", "e.json"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and says in err, err
        assert not (tmp_path / "e.json").exists()
