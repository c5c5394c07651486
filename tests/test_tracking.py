"""Tracking in TensorBoard and MLflow, read back with their own readers: the event files with
TensorBoard's EventAccumulator (scalars per epoch against history.csv, the graph, the HParams
session), the SQLite store with MLflow's client (params, metric history per epoch, artifacts, the
registered model and its signature, nested trial runs), the page of a real `mlflow server` in
Chromium, and `--log` without the extra installed (a real failed import in a fresh interpreter)."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deepstart.cli import main

# one seed, tiny problems: the whole module trains a few seconds
RUN = ("run", "iris", "--epochs", "3", "--seed", "0", "--quiet")


def cli(*args: str) -> int:
    try:
        return main(list(args))
    except SystemExit as e:  # argparse's errors
        return e.code


def history(folder: Path) -> list[dict]:
    with open(folder / "history.csv") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One MLflow SQLite store for the module (creating its tables takes seconds), a `deepstart
    run` logged to both tools, and a 3-trial `deepstart tune` logged to both. An `mlflow server`
    on a copy of the store as the run left it starts in the background meanwhile (it takes 10 s
    and more to answer), for the browser test."""
    import sqlite3

    base = tmp_path_factory.mktemp("tracking")
    uri = f"sqlite:///{base / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp, contextlib.ExitStack() as stack:
        mp.setenv("DEEPSTART_HOME", str(base / "home"))
        mp.chdir(base)  # MLflow's artifacts go to ./mlruns, beside the store
        assert cli(*RUN, "--log", "tensorboard,mlflow", "--mlflow-uri", uri, "--out", "runs") == 0
        folder = next((base / "runs").iterdir())
        with sqlite3.connect(base / "mlflow.db") as source, \
                sqlite3.connect(base / "served.db") as copy:
            source.backup(copy)
        server = stack.enter_context(mlflow_server(f"sqlite:///{base / 'served.db'}", base))
        assert cli("tune", "iris", "--trials", "3", "--epochs", "2", "--quiet", "--log", "tensorboard",
                   "--log", "mlflow", "--mlflow-uri", uri, "--out", "tuned") == 0
        tuned = next(p for p in (base / "tuned").iterdir() if (p / "tuning").is_dir())
        board = stack.enter_context(tensorboard_server(base / "tuned" / "tensorboard" / "iris-mlp"))
        yield {"uri": uri, "folder": folder, "base": base, "tuned": tuned, "server": server,
               "board": board}


def client(store):
    from mlflow.tracking import MlflowClient

    return MlflowClient(store["uri"])


def accumulator(folder: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    ea.Reload()
    return ea


def hparams_session(ea) -> dict:
    from tensorboard.plugins.hparams import plugin_data_pb2

    content = ea.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"])
    values = {}
    for name, value in start.session_start_info.hparams.items():
        kind = value.WhichOneof("kind")
        values[name] = getattr(value, kind)
    metrics = [m.name.tag for m in experiment.experiment.metric_infos]
    return {"hparams": values, "metrics": metrics}


def test_tensorboard_events_hold_every_epoch_the_graph_and_the_hparams(store):
    from deepstart.tracking.tensorboard_logger import tag

    folder = store["folder"]
    ea = accumulator(folder / "tensorboard")
    rows = history(folder)
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    for column in rows[0]:
        if column == "epoch":
            continue
        events = ea.Scalars(tag(column))
        assert [e.step for e in events] == [1, 2, 3], column
        # event files hold float32
        assert [e.value for e in events] == pytest.approx([r[column] for r in rows], rel=1e-6), column
    assert ea.Tags()["graph"] is True
    graph = ea.Graph()
    assert any("Linear" in node.op or "linear" in node.op or "addmm" in node.op for node in graph.node)
    session = hparams_session(ea)
    config = json.loads((folder / "config.json").read_text())
    assert session["hparams"]["lr"] == pytest.approx(config["lr"])
    assert session["hparams"]["model"] == "mlp"
    assert session["hparams"]["model_options.hidden"] == json.dumps(config["model_options"]["hidden"])
    metrics = json.loads((folder / "metrics.json").read_text())
    assert "hparam/test_accuracy" in session["metrics"]
    test = ea.Scalars("hparam/test_accuracy")
    assert test[-1].value == pytest.approx(metrics["test"]["accuracy"], rel=1e-6)
    assert test[-1].step == 3
    # torch.utils.tensorboard wrote all this without TensorFlow
    assert not [m for m in sys.modules if m == "tensorflow" or m.startswith("tensorflow.")]


def test_mlflow_store_holds_params_metrics_per_epoch_artifacts_and_the_registered_model(store):
    import mlflow
    import torch

    from deepstart.models import load_model

    folder, c = store["folder"], client(store)
    experiment = c.get_experiment_by_name("iris")
    (run,) = c.search_runs([experiment.experiment_id], f"tags.`deepstart.run_folder` = '{folder}'")
    assert run.info.run_name == folder.name
    assert run.info.status == "FINISHED"
    config = json.loads((folder / "config.json").read_text())
    params = run.data.params
    for key in ("lr", "batch_size", "epochs", "optimizer", "seed", "model"):
        assert params[key] == str(config[key]), key
    assert params["model_options.hidden"] == json.dumps(config["model_options"]["hidden"])
    assert run.data.tags["deepstart.command"].startswith("deepstart run iris")
    rows = history(folder)
    for column in ("loss", "val_loss", "accuracy", "val_accuracy", "lr"):
        logged = sorted(c.get_metric_history(run.info.run_id, column), key=lambda m: m.step)
        assert [m.step for m in logged] == [1, 2, 3], column
        assert [m.value for m in logged] == pytest.approx([r[column] for r in rows], rel=1e-12)
    metrics = json.loads((folder / "metrics.json").read_text())
    assert run.data.metrics["test_accuracy"] == pytest.approx(metrics["test"]["accuracy"])
    assert run.data.metrics["test_macro_f1"] == pytest.approx(metrics["test"]["macro_f1"])
    assert run.data.metrics["final_val_loss"] == pytest.approx(metrics["val"]["loss"])
    artifacts = {a.path for a in c.list_artifacts(run.info.run_id)}
    assert {"config.json", "metrics.json", "history.csv", "model.safetensors", "model.json",
            "curves.png", "env.json", "tensorboard"} <= artifacts
    assert not {a for a in artifacts if a.startswith("checkpoint")}

    # registered with its signature: 4 float32 features in, 3 logits out, any number of rows
    (version,) = c.search_model_versions(f"run_id = '{run.info.run_id}'")
    assert version.name == "iris-mlp"
    mlflow.set_tracking_uri(store["uri"])
    info = mlflow.models.get_model_info(f"models:/iris-mlp/{version.version}")
    inputs, outputs = info.signature.inputs.inputs[0], info.signature.outputs.inputs[0]
    assert (inputs.shape, str(inputs.type)) == ((-1, 4), "float32")
    assert outputs.shape == (-1, 3)
    # what serving it installs: the torch that trained it, no second one
    files = Path(mlflow.artifacts.download_artifacts(f"models:/iris-mlp/{version.version}"))
    assert (files / "data" / "model.pt2").is_file()  # torch.export's format, no pickle
    requirements = (files / "requirements.txt").read_text().split()
    assert [r for r in requirements if r.startswith("torch")] == [
        f"torch=={torch.__version__.split('+')[0]}"]
    # the logged model is the trained one: same outputs as the run folder's model.safetensors
    logged = mlflow.pytorch.load_model(info.model_uri)
    ours, _ = load_model(folder)
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(logged(x), ours.eval()(x), atol=1e-6)


def test_tune_logs_each_trial_as_a_run_nested_under_the_study(store):
    c = client(store)
    experiment = c.get_experiment_by_name("iris")
    (parent,) = c.search_runs([experiment.experiment_id], "tags.`deepstart.study` = 'iris-mlp' "
                              "and attributes.run_name = 'tune iris-mlp'")
    children = c.search_runs([experiment.experiment_id],
                             f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    names = sorted(r.info.run_name for r in children)
    retrained = store["tuned"].name
    assert names == sorted(["trial-0", "trial-1", "trial-2", retrained])
    with open(store["tuned"] / "tuning" / "trials.csv") as f:
        trials = {f"trial-{t['number']}": t for t in csv.DictReader(f)}
    for child in children:
        if child.info.run_name == retrained:
            assert child.data.metrics["test_accuracy"] >= 0
            continue
        trial = trials[child.info.run_name]
        assert child.info.status == "FINISHED"
        # the trial's value is its last epoch's validation accuracy
        assert child.data.metrics["val_accuracy"] == pytest.approx(float(trial["value"]))
        assert child.data.params["lr"] == repr(float(trial["lr"])) or \
            float(child.data.params["lr"]) == pytest.approx(float(trial["lr"]))
    study = json.loads((store["tuned"] / "tuning" / "study.json").read_text())
    assert parent.data.metrics["best_val_accuracy"] == pytest.approx(study["best_value"])
    assert parent.info.status == "FINISHED"
    assert "tuning" in {a.path for a in c.list_artifacts(parent.info.run_id)}
    # TensorBoard: one folder per trial, each an HParams session with its sampled settings
    board = store["base"] / "tuned" / "tensorboard" / "iris-mlp"
    assert sorted(p.name for p in board.iterdir()) == ["trial-0", "trial-1", "trial-2"]
    for number in range(3):
        session = hparams_session(accumulator(board / f"trial-{number}"))
        assert session["hparams"]["batch_size"] == float(trials[f"trial-{number}"]["batch_size"])
        assert "hparam/val_accuracy" in session["metrics"]


def test_a_diverged_run_ends_failed_with_its_model_logged_not_registered(store, tmp_path,
                                                                         monkeypatch):
    monkeypatch.chdir(tmp_path)
    # the loss becomes NaN in epoch 1: the folder is complete, its status "diverged", exit code 1
    assert cli("run", "iris", "--epochs", "2", "--lr", "1e35", "--quiet", "--log", "mlflow",
               "--mlflow-uri", store["uri"]) == 1
    folder = next((tmp_path / "runs").iterdir())
    c = client(store)
    experiment = c.get_experiment_by_name("iris")
    (run,) = c.search_runs([experiment.experiment_id], f"tags.`deepstart.run_folder` = '{folder}'")
    assert run.info.status == "FAILED" and run.data.tags["deepstart.status"] == "diverged"
    assert run.data.metrics["test_accuracy"] == pytest.approx(
        json.loads((folder / "metrics.json").read_text())["test"]["accuracy"])
    assert c.search_model_versions(f"run_id = '{run.info.run_id}'") == []
    assert "metrics.json" in {a.path for a in c.list_artifacts(run.info.run_id)}


def test_diverged_trials_end_failed_and_so_does_a_study_with_nothing_to_retrain(store, tmp_path,
                                                                               monkeypatch):
    monkeypatch.chdir(tmp_path)
    # Adam at a constant lr 1e35 makes the loss NaN in the first epoch, whatever else is sampled
    assert cli("tune", "iris", "--trials", "2", "--epochs", "2", "--lr", "1e35", "--schedule",
               "constant", "--quiet",
               "--log", "mlflow", "--mlflow-uri", store["uri"], "--out", "diverging") == 1
    c = client(store)
    experiment = c.get_experiment_by_name("iris")
    storage = f"sqlite:///{(tmp_path / 'diverging' / 'tune-iris-mlp.db').resolve()}"
    (parent,) = c.search_runs([experiment.experiment_id],
                              f"tags.`deepstart.storage` = '{storage}'")
    assert parent.info.status == "FAILED" and "best_val_accuracy" not in parent.data.metrics
    children = c.search_runs([experiment.experiment_id],
                             f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    assert sorted(r.info.run_name for r in children) == ["trial-0", "trial-1"]
    assert {r.info.status for r in children} == {"FAILED"}
    for child in children:  # the epochs before the divergence are logged: none here
        assert [m.step for m in c.get_metric_history(child.info.run_id, "val_loss")] == []


def test_the_callbacks_log_any_learner_and_skip_a_graph_that_does_not_trace(store, tmp_path):
    import torch
    from torch import nn

    from deepstart import Learner
    from deepstart.tracking import MLflowLogger, TensorBoardLogger

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = nn.Linear(4, 3)

        def forward(self, x):
            if torch.jit.is_tracing():
                raise RuntimeError("this model does not trace")
            return self.layer(x)

    board = TensorBoardLogger(tmp_path / "tb")
    tracker = MLflowLogger(store["uri"], experiment="python", register=False)
    learner = Learner(Net(), "iris", lr=0.05, verbose=0, callbacks=[board, tracker])
    learner.fit(2)
    assert board.graph_written is False  # skipped, and training went on
    ea = accumulator(tmp_path / "tb")
    assert ea.Tags()["graph"] is False
    rows = learner.history.rows
    assert [e.value for e in ea.Scalars("accuracy/val")] == pytest.approx(
        [r["val_accuracy"] for r in rows], rel=1e-6)
    session = hparams_session(ea)
    assert session["hparams"]["lr"] == pytest.approx(0.05)
    assert session["hparams"]["model"] == "Net"
    assert ea.Scalars("hparam/val_accuracy")[-1].value == pytest.approx(rows[-1]["val_accuracy"])
    run = client(store).get_run(tracker.run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "iris-net"
    assert run.data.params["lr"] == "0.05" and run.data.params["optimizer"] == "adam"
    assert run.data.metrics["val_accuracy"] == pytest.approx(rows[-1]["val_accuracy"])
    assert tracker.model_uri is not None and tracker.registered is None  # logged, not registered


def test_logging_changes_no_result(store, tmp_path, monkeypatch):
    """The loggers only read: the same seed trains the same numbers with and without them."""
    monkeypatch.chdir(tmp_path)
    assert cli(*RUN, "--out", "plain") == 0
    plain = next((tmp_path / "plain").iterdir())
    logged = store["folder"]
    drop = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert drop(history(plain)) == drop(history(logged))
    assert (json.loads((plain / "metrics.json").read_text())["test"]
            == json.loads((logged / "metrics.json").read_text())["test"])


def test_a_resumed_run_continues_its_mlflow_run_and_its_event_files(store, tmp_path, monkeypatch):
    import deepstart.learner as learner_module

    monkeypatch.chdir(tmp_path)
    real_end = learner_module.Learner._end_epoch

    def end_epoch(self, *args):
        real_end(self, *args)
        if self.epoch == 2:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C during epoch 3, after 2's row is logged
    monkeypatch.setattr(learner_module.Learner, "_end_epoch", end_epoch)
    logged = ("--log", "tensorboard,mlflow", "--mlflow-uri", store["uri"])
    assert cli("run", "iris", "--epochs", "4", "--quiet", *logged) == 130
    folder = next((tmp_path / "runs").iterdir())
    c = client(store)
    experiment = c.get_experiment_by_name("iris")
    (run,) = c.search_runs([experiment.experiment_id], f"tags.`deepstart.run_folder` = '{folder}'")
    assert run.info.status == "KILLED"
    monkeypatch.setattr(learner_module.Learner, "_end_epoch", real_end)

    assert cli("run", "--resume", str(folder), "--quiet") == 0  # --log comes from config.json
    (again,) = c.search_runs([experiment.experiment_id], f"tags.`deepstart.run_folder` = '{folder}'")
    assert again.info.run_id == run.info.run_id and again.info.status == "FINISHED"
    rows = history(folder)
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    steps = sorted(m.step for m in c.get_metric_history(run.info.run_id, "val_loss"))
    assert steps == [1, 2, 3, 4]  # once each
    values = sorted(c.get_metric_history(run.info.run_id, "val_loss"), key=lambda m: m.step)
    assert [m.value for m in values] == pytest.approx([r["val_loss"] for r in rows], rel=1e-12)
    events = accumulator(folder / "tensorboard").Scalars("loss/val")
    assert [e.step for e in events] == [1, 2, 3, 4]
    assert [e.value for e in events] == pytest.approx([r["val_loss"] for r in rows], rel=1e-6)

    # a new run in a folder of the same name (the old one removed) is a new MLflow run
    import shutil

    shutil.rmtree(folder)
    assert cli("run", "iris", "--epochs", "1", "--quiet", *logged) == 0
    runs = c.search_runs([experiment.experiment_id], f"tags.`deepstart.run_folder` = '{folder}'")
    assert len(runs) == 2 and len({r.info.run_id for r in runs}) == 2


@pytest.mark.parametrize("args, says", [
    (("--log", "wandb"), "unknown --log 'wandb'"),
    (("--mlflow-uri", "sqlite:///x.db"), "add --log mlflow or drop --mlflow-uri"),
    (("--log", "mlflow", "--mlflow-uri", "./mlruns"), "is a file store, which MLflow 3"),
    (("--log", "mlflow", "--mlflow-uri", "sqlite:////no/such/folder/m.db"),
     "the folder /no/such/folder does not exist"),
    (("--log", "mlflow", "--mlflow-uri", "http://127.0.0.1:9"), "does not answer"),
    # the postgres extra's driver is in dev: the refused connection is tried once, in one line
    (("--log", "mlflow", "--mlflow-uri", "postgresql+psycopg://me@127.0.0.1:9/db"),
     "cannot open the MLflow store postgresql+psycopg://me@127.0.0.1:9/db (OperationalError"),
    (("--log", "mlflow", "--mlflow-uri", "postgresql://me:secret@127.0.0.1:9/db"),
     "postgresql://me:***@127.0.0.1:9/db holds a password"),
])
def test_bad_tracking_flags_are_one_line_exit_2(tmp_path, monkeypatch, capsys, args, says):
    monkeypatch.chdir(tmp_path)
    assert cli(*RUN, *args) == 2
    err = capsys.readouterr().err
    assert says in err and len(err.strip().splitlines()) == 1 and "secret" not in err
    assert not (tmp_path / "runs").exists()


def test_without_the_extra_log_says_which_extra_to_install_in_one_line(tmp_path):
    # A fresh interpreter in which neither package can be imported, as without the extra:
    # sys.modules[name] = None makes `import name` raise ImportError.
    code = ("import sys\nsys.modules['tensorboard'] = sys.modules['mlflow'] = None\n"
            "from deepstart.cli import main\n"
            "for log in ('tensorboard', 'mlflow'):\n"
            "    print(main(['run', 'iris', '--epochs', '1', '--log', log]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path,
                         env=os.environ | {"DEEPSTART_HOME": str(tmp_path / "home")})
    assert out.stdout.split() == ["2", "2"], out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 2, out.stderr  # one line each
    for line, package in zip(lines, ("tensorboard", "mlflow")):
        assert line.startswith(f"deepstart: error: --log {package} needs the {package} package")
        assert line.endswith("install the tracking extra: pip install 'deepstart[tracking]'")
    assert not (tmp_path / "runs").exists()


def test_the_tracking_extra_pulls_no_second_torch_and_no_tensorflow():
    from importlib.metadata import distribution, distributions

    from packaging.requirements import Requirement

    names = {(d.metadata["Name"] or "").lower().replace("_", "-") for d in distributions()}
    assert "tensorflow" not in names and "tensorflow-cpu" not in names
    torches = [d for d in distributions() if (d.metadata["Name"] or "").lower() == "torch"]
    assert len({d.version for d in torches}) == 1
    # and nothing the extra installs asks for torch or TensorFlow at all
    seen, todo = set(), ["tensorboard", "mlflow"]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = distribution(name).requires or []
        except Exception:  # an optional dependency that is not installed
            continue
        for text in requires:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name.lower().replace("_", "-"))
    assert not {"torch", "tensorflow", "tensorflow-cpu"} & seen


def free_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@contextlib.contextmanager
def server(command: list[str], port: int, probe: str, cwd: Path, env: dict | None = None):
    """A server the package installs (`mlflow`, `tensorboard`, beside this interpreter) on a free
    loopback port, in its own process group (killed after); yields a function that waits until
    `probe` answers and returns the server's URL."""
    executable = Path(sys.executable).with_name(command[0])
    proc = subprocess.Popen([str(executable), *command[1:], "--host", "127.0.0.1", "--port",
                             str(port)], cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True,
                            env=os.environ | (env or {}))

    def ready() -> str:
        import httpx

        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, f"{command[0]} exited"
            try:
                if httpx.get(f"http://127.0.0.1:{port}{probe}", timeout=2).status_code == 200:
                    return f"http://127.0.0.1:{port}"
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"{command[0]} did not answer in 120 s"
            time.sleep(0.25)

    try:
        yield ready
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def mlflow_server(uri: str, cwd: Path):
    # one worker, no job executor: what the page needs, started in seconds
    return server(["mlflow", "server", "--backend-store-uri", uri, "--workers", "1"], free_port(),
                  "/health", cwd, {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})


def tensorboard_server(logdir: Path):
    return server(["tensorboard", "--logdir", str(logdir)], free_port(), "/data/runs", logdir)


def test_tensorboard_serves_the_trials_in_its_hparams_view(store):
    """What the HParams view shows, from TensorBoard's own server: a session per trial with its
    sampled learning rate and its validation accuracy, the study's values."""
    import httpx

    url = store["board"]()
    body = {"experimentName": "", "startIndex": 0, "sliceSize": 10,
            "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE",
                                "STATUS_RUNNING"],
            "colParams": [{"metric": {"tag": "hparam/val_accuracy"}}, {"hparam": "lr"}]}
    groups = httpx.post(f"{url}/data/plugin/hparams/session_groups", json=body,
                        timeout=30).json()["sessionGroups"]
    with open(store["tuned"] / "tuning" / "trials.csv") as f:
        trials = {f"trial-{t['number']}": t for t in csv.DictReader(f)}
    assert sorted(g["name"] for g in groups) == sorted(trials)
    for group in groups:
        trial = trials[group["name"]]
        assert group["hparams"]["lr"] == pytest.approx(float(trial["lr"]))
        shown = {m["name"]["tag"]: m["value"] for m in group["metricValues"]}
        assert shown["hparam/val_accuracy"] == pytest.approx(float(trial["value"]), rel=1e-6)


def test_mlflow_ui_shows_the_experiment_and_the_run(store, browser):
    from playwright.sync_api import expect

    experiment = client(store).get_experiment_by_name("iris")
    url = store["server"]()
    page = browser.new_page()
    try:
        page.goto(f"{url}/#/experiments/{experiment.experiment_id}/runs", wait_until="load")
        expect(page.get_by_text(store["folder"].name).first).to_be_visible(timeout=30_000)
        expect(page.get_by_text("iris").first).to_be_visible()
    finally:
        page.close()


def test_mlflow_sends_no_telemetry_unless_the_user_asks(monkeypatch):
    """MLflow 3 reports usage by default; a deepstart run makes no network call it was not asked
    for, and a user's own setting is kept."""
    import os

    from deepstart.tracking import MLflowLogger

    monkeypatch.delenv("MLFLOW_DISABLE_TELEMETRY", raising=False)
    MLflowLogger("sqlite:///unused.db")
    assert os.environ["MLFLOW_DISABLE_TELEMETRY"] == "true"
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "false")
    MLflowLogger("sqlite:///unused.db")
    assert os.environ["MLFLOW_DISABLE_TELEMETRY"] == "false"
