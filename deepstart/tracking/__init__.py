"""Tracking in the tools people already use: TensorBoard and MLflow, as Learner callbacks.

    from deepstart import Learner
    from deepstart.tracking import MLflowLogger, TensorBoardLogger

    learner = Learner("mlp", "digits", callbacks=[TensorBoardLogger("runs/tensorboard/mlp"),
                                                  MLflowLogger(experiment="digits")])
    learner.fit(10)          # tensorboard --logdir runs/tensorboard ; mlflow ui

`deepstart run ... --log tensorboard,mlflow` attaches both to the run (rank 0 only): TensorBoard
writes into the run folder's tensorboard/, MLflow into `--mlflow-uri` (default
sqlite:///mlflow.db, MLflow 3's own default store, in the current folder). `deepstart tune ... --log`
logs each trial: a nested MLflow run under one parent run for the study, a TensorBoard folder per
trial. What is written where: docs/tracking.md.

Both tools are optional (`pip install 'deepstart[tracking]'`) and imported only when used, so
`deepstart --help` stays instant.
"""

from __future__ import annotations

import contextvars
import dataclasses
import math
from pathlib import Path

from deepstart.errors import DeepstartError

LOGGERS = ("tensorboard", "mlflow")
INSTALL = "pip install 'deepstart[tracking]'"
# MLflow 3's default tracking store; it refuses the old ./mlruns file store unless told otherwise
DEFAULT_MLFLOW_URI = "sqlite:///mlflow.db"
# config.json keys that say where a run is logged, not what it trains: no params of it
_NOT_PARAMS = ("command", "log", "mlflow_uri")
# what each logger needs importable: the package a user installs, and the import that fails without it
_NEEDS = {"tensorboard": ("tensorboard", "torch.utils.tensorboard"), "mlflow": ("mlflow", "mlflow")}

# (tracking URI, run id) of the study whose retrained best `deepstart tune` is running now
_STUDY_PARENT: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar(
    "deepstart_study_parent", default=None)


def parse_log(text: str | None) -> list[str]:
    """"tensorboard,mlflow" -> ["tensorboard", "mlflow"] (in LOGGERS' order, once each)."""
    names = [n.strip() for n in (text or "").split(",") if n.strip()]
    for name in names:
        if name not in LOGGERS:
            from deepstart.errors import unknown_name

            raise unknown_name("--log", name, LOGGERS)
    return [n for n in LOGGERS if n in names]


def no_telemetry() -> None:
    """MLflow 3.2+ sends anonymous usage data by default; a run here makes no network call the
    user did not ask for, so it is off unless MLFLOW_DISABLE_TELEMETRY is set (to false: on)."""
    import os

    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


def require(name: str) -> None:
    """Import what logger `name` needs; without the extra, one sentence that says what to install."""
    import importlib

    if name == "mlflow":
        no_telemetry()  # before mlflow is imported: it reads the variable then

    package, module = _NEEDS[name]
    try:
        importlib.import_module(module)
    except ImportError as e:
        raise DeepstartError(f"--log {name} needs the {package} package, which is not installed "
                             f"({e}); install the tracking extra: {INSTALL}") from None


def check(log: str | None, mlflow_uri: str | None) -> None:
    """The run's --log and --mlflow-uri make sense, and what they need is installed."""
    names = parse_log(log)
    if mlflow_uri is not None and "mlflow" not in names:
        raise DeepstartError(f"--mlflow-uri {mlflow_uri} says where --log mlflow writes, and the "
                             "run logs no MLflow run; add --log mlflow or drop --mlflow-uri.")
    for name in names:
        require(name)
    if "mlflow" in names:
        check_store(absolute_uri(mlflow_uri))


def check_store(uri: str) -> None:
    """Before any work, tried once: a SQLite store's folder exists and is writable, a server
    answers, a database accepts a connection (MLflow's own client retries for minutes)."""
    import os

    import urllib.parse

    if urllib.parse.urlsplit(uri).password:
        raise DeepstartError(f"--mlflow-uri {shown(uri)} holds a password, which config.json and "
                             "the run's recorded command would keep in the run folder; give it "
                             "through ~/.pgpass (PostgreSQL) or MLFLOW_TRACKING_PASSWORD (a "
                             "server) instead.")
    if "://" not in uri or uri.startswith("file:"):
        raise DeepstartError(f"--mlflow-uri {uri} is a file store, which MLflow 3 keeps in "
                             "maintenance mode and refuses; give a database, e.g. "
                             f"{DEFAULT_MLFLOW_URI}, or a server's http://HOST:PORT.")
    if uri.startswith("sqlite:///"):
        folder = Path(uri[len("sqlite:///"):]).parent
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            raise DeepstartError(f"cannot write the MLflow store {uri}: the folder {folder} "
                                 f"{'is not writable' if folder.is_dir() else 'does not exist'}; "
                                 "pass --mlflow-uri with a folder you can write to.")
    elif uri.startswith(("http://", "https://")):
        import urllib.request

        try:  # MLflow's client would retry for minutes; ask once
            with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=5):
                pass
        except Exception as e:
            raise DeepstartError(f"the MLflow tracking server {shown(uri)} does not answer "
                                 f"({type(e).__name__}: {e}); start it (`mlflow server --port "
                                 "PORT`) or pass another --mlflow-uri.") from None
    else:  # a database URL (postgresql://, mysql://, ...): SQLAlchemy, as MLflow opens it
        try:
            from sqlalchemy import create_engine

            engine = create_engine(uri)
            try:
                with engine.connect():
                    pass
            finally:
                engine.dispose()
        except Exception as e:  # no driver, refused, bad password, no such database
            reason = " ".join(str(e).split()).split(" (Background on this error")[0]
            raise DeepstartError(f"cannot open the MLflow store {shown(uri)} ({type(e).__name__}: "
                                 f"{reason[:200]}); pass --mlflow-uri with a store that works, "
                                 f"e.g. {DEFAULT_MLFLOW_URI}.") from None


def shown(uri: str) -> str:
    """The URI with its password hidden, for messages and printed lines."""
    from deepstart.tune import redact

    return redact(uri)


def absolute_uri(uri: str | None) -> str:
    """The MLflow tracking URI with a relative SQLite path made absolute, so that a resumed run
    (from another folder) logs to the same store; other URIs (a server, a database) as given."""
    uri = uri or DEFAULT_MLFLOW_URI
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/") and uri != prefix + ":memory:":
        return prefix + str(Path(uri[len(prefix):]).absolute())
    return uri


def hparams_of(config: dict, prefix: str = "") -> dict:
    """A configuration as flat name -> number, text or bool (what TensorBoard's HParams and MLflow's
    params take): nested dicts as `model_options.hidden`, lists as their JSON text, None left out."""
    import json

    flat = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat |= hparams_of(value, f"{prefix}{key}.")
        elif value is None:
            continue
        elif isinstance(value, (bool, int, float, str)):
            flat[f"{prefix}{key}"] = value
        else:
            flat[f"{prefix}{key}"] = json.dumps(value)
    return flat


def learner_params(learner) -> dict:
    """What a Learner trains with, for a Learner made in Python (a `deepstart run` logs its
    RunConfig instead)."""
    params = {"model": type(learner.model).__name__, "optimizer": learner.optimizer_name,
              "lr": learner.lr, "batch_size": learner.batch_size,
              "weight_decay": learner.weight_decay, "schedule": learner.schedule,
              "warmup_epochs": learner.warmup_epochs, "clip_grad": learner.clip_grad,
              "seed": learner.seed, "loss": learner.loss_name, "metric": learner.metric,
              "problem": learner.problem.name if learner.problem is not None else None,
              "train_rows": len(learner.data.x_train), "val_rows": len(learner.data.x_val)}
    config = getattr(learner.model, "config", None)
    if dataclasses.is_dataclass(config):  # a zoo model: its config (hidden sizes, dropout, ...)
        params["model_options"] = dataclasses.asdict(config)
    return hparams_of(params | learner.settings)


def _settings(config) -> dict:
    """A RunConfig's training settings: what MLflow's params and TensorBoard's HParams show."""
    return {k: v for k, v in dataclasses.asdict(config).items() if k not in _NOT_PARAMS}


def final_scores(row: dict) -> dict:
    """The last epoch's validation scores (training scores when there is no validation split), as
    `val_accuracy` ... : what a Learner made in Python reports at the end of fit."""
    split = "val_" if any(k.startswith("val_") for k in row) else ""
    keep = {k: v for k, v in row.items() if k not in ("epoch", "lr", "seconds")}
    keep = {k: v for k, v in keep.items() if k.startswith("val_")} if split else \
        {f"train_{k}": v for k, v in keep.items()}
    return {k: float(v) for k, v in keep.items() if _finite(v)}


def recorded_scores(metrics: dict) -> dict:
    """metrics.json's scores of the kept model as `test_accuracy`, `final_val_loss`,
    `final_train_accuracy`, ... (undefined scores, such as ROC AUC on one class, left out). The
    validation and training ones are `final_`: history.csv's `val_loss` is each epoch's, and the
    kept model's may differ (--patience keeps the best epoch; training scores are recomputed in
    evaluation mode)."""
    scores = {}
    for split, prefix in (("train", "final_train_"), ("val", "final_val_"), ("test", "test_")):
        for name, value in (metrics.get(split) or {}).items():
            if _finite(value):
                scores[f"{prefix}{name}"] = float(value)
    return scores


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# --- deepstart run ---------------------------------------------------------------------------------
def run_loggers(config, folder: Path, learner) -> list:
    """The loggers `--log` asks for on a run that writes `folder` (rank 0): they train with the
    Learner's callbacks, and `end_run` finishes them once the folder is complete. They start here,
    before the timed training (opening an MLflow store, tracing the graph: seconds), so that
    train_seconds, and the times diagnose expects from it, count training alone."""
    names = parse_log(config.log)
    loggers = []
    params = _settings(config)
    if "tensorboard" in names:
        from deepstart.tracking.tensorboard_logger import TensorBoardLogger

        loggers.append(TensorBoardLogger(folder / "tensorboard", hparams=hparams_of(params),
                                         ends_with_run=True))
    if "mlflow" in names:
        from deepstart.run import model_label
        from deepstart.tracking.mlflow_logger import MLflowLogger

        uri, experiment = absolute_uri(config.mlflow_uri), _experiment(config.problem)
        parent = _STUDY_PARENT.get()  # the retrained best of `deepstart tune`: under the study
        loggers.append(MLflowLogger(
            uri, experiment=experiment, run_name=folder.name, params=hparams_of(params),
            tags={"deepstart.command": config.command}, run_folder=folder,
            parent_run_id=parent[1] if parent and parent[0] == uri else None,
            register=f"{experiment}-{model_label(config.model)}", ends_with_run=True))
    try:
        for logger in loggers:
            logger.on_fit_start(learner)
    except DeepstartError:
        # a store that check() could not try before (a database URL) refused: a new run leaves
        # no folder behind, as when any other setting is refused
        if learner.epoch == 0 and {p.name for p in folder.iterdir()} <= {"config.json", "env.json",
                                                                         "tensorboard"}:
            import shutil

            shutil.rmtree(folder)
        raise
    return loggers


def end_run(loggers: list, learner, folder: Path) -> None:
    """After the run folder is complete: the recorded scores (metrics.json) as the final metrics,
    the folder as MLflow artifacts, the model logged and registered."""
    if not loggers:
        return
    from deepstart.files import read_json

    metrics = read_json(folder / "metrics.json")
    for logger in loggers:  # TensorBoard first: its closed event files are among the artifacts
        logger.end_run(learner, metrics)


def abort(loggers: list, error: BaseException) -> None:
    """A run that stops with an error or Ctrl-C: flush what was logged, end an MLflow run as KILLED
    (Ctrl-C) or FAILED, so that no run stays RUNNING for ever."""
    from deepstart.learner import TrainingInterrupted

    status = "KILLED" if isinstance(error, (KeyboardInterrupt, TrainingInterrupted)) else "FAILED"
    for logger in loggers:
        logger.close(status)


# --- deepstart tune --------------------------------------------------------------------------------
def start_study(config, study: str, storage: str, out: Path) -> dict | None:
    """What the trials of a study log to (None without --log): MLflow's parent run of the study
    (found again when the study resumes) and TensorBoard's folder `<out>/tensorboard/<study>/`."""
    names = parse_log(config.log)
    if not names:
        return None
    spec: dict = {"log": names, "study": study}
    if "tensorboard" in names:
        spec["tensorboard"] = str((Path(out) / "tensorboard" / study).absolute())
    if "mlflow" in names:
        from deepstart.tracking.mlflow_logger import parent_run

        spec["mlflow_uri"] = absolute_uri(config.mlflow_uri)
        spec["experiment"] = _experiment(config.problem)
        spec["parent_run_id"] = parent_run(spec["mlflow_uri"], spec["experiment"], study, storage,
                                           _settings(config))
    return spec


def _experiment(problem: str) -> str:
    return Path(problem).stem  # a built-in name, or a CSV file's or folder's name


def trial_loggers(spec: dict | None, trial, config) -> list:
    """A trial's loggers: a TensorBoard folder `trial-N` and an MLflow run nested under the
    study's, each with the trial's sampled parameters and its last validation scores."""
    if not spec:
        return []
    params = hparams_of(_settings(config))
    loggers = []
    name = f"trial-{trial.number}"
    if "tensorboard" in spec["log"]:
        from deepstart.tracking.tensorboard_logger import TensorBoardLogger

        # the sampled parameters lead: the HParams view's columns that differ between trials
        loggers.append(TensorBoardLogger(Path(spec["tensorboard"]) / name,
                                         hparams=hparams_of(dict(trial.params)) | params))
    if "mlflow" in spec["log"]:
        from deepstart.tracking.mlflow_logger import MLflowLogger

        loggers.append(MLflowLogger(
            spec["mlflow_uri"], experiment=spec["experiment"], run_name=name,
            params=params | hparams_of(dict(trial.params)), parent_run_id=spec["parent_run_id"],
            tags={"deepstart.study": spec["study"], "deepstart.trial": str(trial.number)},
            log_model=False))
    return loggers


def close_trial(loggers: list, pruned_at: int | None = None) -> None:
    """After a trial: a logger still open (the trial failed or diverged, so fit never ended) is
    closed, its MLflow run ended as FAILED. `pruned_at`: the pruner stopped the trial after this
    epoch; its MLflow run (FINISHED: fit ended) gets the tag deepstart.pruned_at."""
    for logger in loggers:
        logger.close("FAILED")
        if pruned_at is not None and hasattr(logger, "tag"):
            logger.tag("deepstart.pruned_at", str(pruned_at))


def end_study(spec: dict | None, best_value: float | None, metric: str, best_trial: int | None,
              folder: Path | None, verbose: int = 0) -> None:
    """The study's parent MLflow run: the best trial's value and number, the retrained run's folder
    and its tuning/ record; FINISHED, or FAILED when nothing was retrained. Says where to look."""
    if not spec:
        return
    lines = []
    if "mlflow" in spec["log"]:
        from deepstart.tracking.mlflow_logger import end_parent

        end_parent(spec["mlflow_uri"], spec["parent_run_id"], best_value, metric, best_trial, folder)
        lines.append(f"mlflow: the study's run {spec['parent_run_id']} in {shown(spec['mlflow_uri'])} "
                     f"(experiment {spec['experiment']}), each trial a run nested under it")
    if "tensorboard" in spec["log"]:
        lines.append(f"tensorboard: a folder per trial in {spec['tensorboard']} (tensorboard "
                     f"--logdir {spec['tensorboard']}: the HParams view compares them)")
    if verbose:
        from deepstart.console import console

        for line in lines:
            console.print(line, soft_wrap=True, highlight=False, markup=False)


def nested_in_study(spec: dict | None):
    """A context in which a `deepstart run` (the retrained best) logs its MLflow run as a child of
    the study's parent run."""
    import contextlib

    @contextlib.contextmanager
    def nested():
        token = _STUDY_PARENT.set((spec["mlflow_uri"], spec["parent_run_id"]))
        try:
            yield
        finally:
            _STUDY_PARENT.reset(token)

    return nested() if spec and "mlflow" in spec["log"] else contextlib.nullcontext()


# Last: they import the helpers above. Neither imports torch, TensorBoard or MLflow until it logs.
from deepstart.tracking.mlflow_logger import MLflowLogger  # noqa: E402
from deepstart.tracking.tensorboard_logger import TensorBoardLogger  # noqa: E402

__all__ = ["MLflowLogger", "TensorBoardLogger", "LOGGERS", "INSTALL", "DEFAULT_MLFLOW_URI"]
