"""MLflowLogger: a Learner callback that records a training as an MLflow run.

What one MLflow run holds:
    params       the settings (a `deepstart run`'s config.json, flattened: `model_options.hidden`)
    metrics      each history.csv column per epoch (step = epoch; undefined scores left out), and
                 for `deepstart run` the kept model's recorded scores at the last step:
                 `test_accuracy`, `final_val_accuracy`, `final_train_loss`, ... (metrics.json)
    artifacts    the run folder (config.json, metrics.json, history.csv, curves.png, model files,
                 tensorboard/), for `deepstart run`
    model        the trained network as an MLflow model (torch.export's pt2 format, not a pickle)
                 with its signature (inputs: the prepared features, as model.json's preprocessing
                 makes them; outputs: logits or values), registered as `<problem>-<model>`

Everything goes through MlflowClient with the run's id, so the user's own active MLflow run (if
any) is left alone; only logging the model needs MLflow's fluent API, which it gets for the call.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import time
from pathlib import Path

from deepstart.tracking import DEFAULT_MLFLOW_URI, learner_params, recorded_scores, shown

# MLflow's limit on a param's value (mlflow.utils.validation: 6000 characters)
MAX_PARAM = 6000
# rows of the model's signature and input example: more than 1, so the exported batch axis stays
# dynamic (torch.export makes a size-1 axis a constant)
EXAMPLE_ROWS = 4
# tags deepstart sets, for finding a run again and telling runs apart in the UI
RUN_FOLDER_TAG = "deepstart.run_folder"
STUDY_TAG = "deepstart.study"


@contextlib.contextmanager
def _quiet():
    """MLflow's own INFO lines (creating tables, registering a version) are not the run's output:
    deepstart prints one line per logger itself."""
    from deepstart.tracking import no_telemetry

    no_telemetry()
    import mlflow  # noqa: F401  (its import sets the level of its logger: first, then ours)

    logger = logging.getLogger("mlflow")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _experiment_id(client, name: str) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        if experiment.lifecycle_stage == "deleted":
            client.restore_experiment(experiment.experiment_id)
        return experiment.experiment_id
    try:
        return client.create_experiment(name)
    except Exception:  # another process created it between the two calls
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id


def _params(params: dict):
    from mlflow.entities import Param

    return [Param(k, str(v)[:MAX_PARAM]) for k, v in params.items()]


def _connect_error(uri: str, e: Exception):
    from deepstart.errors import DeepstartError
    from deepstart.tracking import shown

    reason = " ".join(str(e).split())[:200].replace(uri, shown(uri))
    return DeepstartError(f"cannot log to the MLflow tracking store {shown(uri)} ({type(e).__name__}: "
                          f"{reason}); pass --mlflow-uri with a store that works, e.g. "
                          f"{DEFAULT_MLFLOW_URI} or http://127.0.0.1:5000 for a running "
                          "`mlflow server`.")


class MLflowLogger:
    """Record the training of a Learner as a run in an MLflow tracking store.

    >>> learner = Learner("mlp", "iris", callbacks=[MLflowLogger(experiment="iris")])  # doctest: +SKIP

    `tracking_uri`: MLflow 3's default SQLite store (`mlflow ui` in the same folder shows it), a
    database URL, or a tracking server (http://...). `experiment`: default the problem's name.
    `params`, `tags`: default the Learner's settings. `parent_run_id`: make this a nested run
    (default: the user's active MLflow run in the same store, if any). `log_model`: log the
    trained model with its signature at the end; `register`: also register it, under this name
    (True: `<problem>-<model class>`). `run_folder`: a `deepstart run` folder, logged as the run's
    artifacts; a resumed run finds its MLflow run again by it. `ends_with_run`: `deepstart run`
    finishes the run itself (end_run) once it has scored the kept model.
    """

    def __init__(self, tracking_uri: str = DEFAULT_MLFLOW_URI, experiment: str | None = None,
                 run_name: str | None = None, *, params: dict | None = None,
                 tags: dict | None = None, parent_run_id: str | None = None,
                 log_model: bool = True, register: bool | str = True,
                 run_folder: str | Path | None = None, ends_with_run: bool = False):
        from deepstart.tracking import no_telemetry

        no_telemetry()  # before the first `import mlflow` of this process
        self.tracking_uri, self.experiment, self.run_name = tracking_uri, experiment, run_name
        self.params, self.tags, self.parent_run_id = params, tags or {}, parent_run_id
        self.log_model, self.register = log_model, register
        self.run_folder = Path(run_folder).absolute() if run_folder is not None else None
        self.ends_with_run = ends_with_run
        self.client = None
        self.run_id: str | None = None
        self.logged_until = 0  # epochs already in the run (a resumed run does not log them twice)
        self.open = False
        self.model_uri: str | None = None
        self.registered: tuple[str, str] | None = None  # (name, version)

    # --- the hooks ---------------------------------------------------------------------------------
    def on_fit_start(self, learner) -> None:
        try:
            with _quiet():
                self._start(learner)
        except Exception as e:
            from deepstart.errors import DeepstartError

            if isinstance(e, DeepstartError):
                raise
            raise _connect_error(self.tracking_uri, e) from None

    def _start(self, learner) -> None:
        if self.open:  # started already (deepstart run starts its loggers before the timed fit)
            return
        if self.client is None:
            self.client = _client(self.tracking_uri)
        if self.run_id is not None:  # another fit of the same learner: the same run goes on
            self.client.update_run(self.run_id, status="RUNNING")
            self.open = True
            return
        problem = learner.problem.name if learner.problem is not None else "deepstart"
        experiment_id = _experiment_id(self.client, self.experiment or problem)
        # a resumed run (the learner starts past epoch 0) goes on in its MLflow run; a new run
        # never does, even in a folder of the same name as a removed one
        resumed = self.run_folder is not None and learner.epoch > 0
        found = self._find_resumed(experiment_id) if resumed else None
        if found is not None:
            self.run_id = found.info.run_id
            self.client.update_run(self.run_id, status="RUNNING")
            history = self.client.get_metric_history(self.run_id, "loss")
            self.logged_until = max((m.step for m in history), default=0)
        else:
            tags = dict(self.tags)
            parent = self.parent_run_id or self._active_parent()
            if parent:
                tags["mlflow.parentRunId"] = parent
            if self.run_folder is not None:
                tags[RUN_FOLDER_TAG] = str(self.run_folder)
            name = self.run_name or f"{problem}-{type(learner.model).__name__.lower()}"
            run = self.client.create_run(experiment_id, run_name=name, tags=tags)
            self.run_id = run.info.run_id
            params = self.params if self.params is not None else learner_params(learner)
            self.client.log_batch(self.run_id, params=_params(params))
        self.open = True

    def _find_resumed(self, experiment_id: str):
        folder = str(self.run_folder).replace("'", "\\'")
        runs = self.client.search_runs([experiment_id], f"tags.`{RUN_FOLDER_TAG}` = '{folder}'",
                                       max_results=1, order_by=["attributes.start_time DESC"])
        return runs[0] if runs else None

    def _active_parent(self) -> str | None:
        """The user's active MLflow run, when it is in this store: a Learner fitted inside `with
        mlflow.start_run():` logs a child run of it."""
        import mlflow

        active = mlflow.active_run()
        if active is None or mlflow.get_tracking_uri() != self.tracking_uri:
            return None
        return active.info.run_id

    def on_epoch_end(self, learner, row: dict) -> None:
        epoch = row["epoch"]
        if epoch <= self.logged_until:
            return  # a resumed run trains again what it logged before the crash: same values
        self._log_metrics({k: v for k, v in row.items() if k != "epoch"}, epoch)

    def _log_metrics(self, values: dict, step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(k, float(v), now, step) for k, v in values.items()
                   if isinstance(v, (int, float)) and math.isfinite(v)]
        self.client.log_batch(self.run_id, metrics=metrics)

    def on_fit_end(self, learner) -> None:
        if not self.ends_with_run:  # the last epoch's scores are the final ones, logged already
            self._finish(learner, "FINISHED")

    def end_run(self, learner, metrics: dict) -> None:
        """`deepstart run`, once the folder is complete: the kept model's recorded scores, the
        folder as artifacts, the model; the run ends FINISHED (FAILED when training diverged)."""
        if self.client is None:  # nothing trained in this process (a resumed, complete run)
            self.on_fit_start(learner)
        self._log_metrics(recorded_scores(metrics), learner.epoch)
        self.client.set_tag(self.run_id, "deepstart.status", metrics.get("status", "finished"))
        if self.run_folder is not None:
            self._log_folder(self.run_folder)
        finished = metrics.get("status") == "finished"
        if not finished:
            self.register = False  # a diverged run's model is logged with it, not put forward
        self._finish(learner, "FINISHED" if finished else "FAILED")

    def _log_folder(self, folder: Path) -> None:
        """The run folder's files, less the training state a finished run no longer needs (the
        checkpoint, a frozen run's feature cache) and temp files."""
        for path in sorted(folder.iterdir()):
            if path.name.startswith((".", "checkpoint.", "features.")):
                continue
            if path.is_dir():
                self.client.log_artifacts(self.run_id, str(path), artifact_path=path.name)
            else:
                self.client.log_artifact(self.run_id, str(path))

    def _finish(self, learner, status: str) -> None:
        with _quiet():
            if self.log_model:
                self._log_model(learner)
            self.client.set_terminated(self.run_id, status)
        self.open = False
        if learner.verbose:
            from deepstart.console import console

            console.print(self.summary(), soft_wrap=True, highlight=False, markup=False)

    def summary(self) -> str:
        line = f"mlflow: run {self.run_id} in {shown(self.tracking_uri)}"
        if self.registered:
            line += f"; model registered as {self.registered[0]} version {self.registered[1]}"
        elif self.model_uri:
            line += f"; model {self.model_uri}"
        return line

    def _log_model(self, learner) -> None:
        """The network as an MLflow model: torch.export's pt2 format (a graph and its weights, no
        pickle; MLflow's default for PyTorch), a signature inferred from EXAMPLE_ROWS training rows
        and the model's outputs, pip requirements pinned to the torch that trained it (so serving
        it installs no second torch). A model that torch.export cannot take is not logged: one
        line says so, and the run folder's model.safetensors stays among the artifacts."""
        import copy
        import warnings

        import mlflow
        import numpy as np
        import torch
        from mlflow.models import infer_signature

        model = copy.deepcopy(learner.model).cpu().eval()  # the exported graph: inference, CPU
        x = learner.data.x_train[:EXAMPLE_ROWS].cpu()
        with torch.no_grad():
            y = model(x)
        if isinstance(y, tuple):  # main output + auxiliary classifiers (GoogLeNet in training)
            y = y[0]
        example = x.numpy()
        signature = infer_signature(example, y.float().numpy().astype(np.float32))
        name = (self.register if isinstance(self.register, str) else
                f"{learner.problem.name if learner.problem else 'deepstart'}-"
                f"{type(learner.model).__name__.lower()}") if self.register else None
        requirements = [f"torch=={torch.__version__.split('+')[0]}", f"mlflow=={mlflow.__version__}",
                        f"numpy=={np.__version__}"]
        previous = mlflow.get_tracking_uri()
        mlflow.set_tracking_uri(self.tracking_uri)
        try:
            # stderr: MLflow prints "Successfully registered model ..." there; the summary line says it
            with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()), \
                    mlflow.start_run(run_id=self.run_id, nested=True):
                warnings.simplefilter("ignore")
                info = mlflow.pytorch.log_model(
                    model, name="model", signature=signature, input_example=example,
                    serialization_format="pt2", pip_requirements=requirements,
                    registered_model_name=name)
        except Exception as e:  # torch.export refused the model (data-dependent shapes, ...)
            if learner.verbose:
                from deepstart.console import console

                console.print(f"mlflow: the model was not logged as an MLflow model ("
                              f"{type(e).__name__}: {' '.join(str(e).split())[:160]}); its weights "
                              "are among the run's artifacts when it is a run folder's",
                              soft_wrap=True, highlight=False, markup=False)
            return
        finally:
            mlflow.set_tracking_uri(previous)
        self.model_uri = info.model_uri
        if info.registered_model_version is not None:
            self.registered = (name, str(info.registered_model_version))

    def tag(self, key: str, value: str) -> None:
        """Set a tag on the run (after it ended too)."""
        if self.run_id is not None:
            self.client.set_tag(self.run_id, key, value)

    def close(self, status: str = "FAILED") -> None:
        """End the run with `status` if it is still open (the fit stopped with an error or Ctrl-C);
        safe to call twice."""
        if self.open and self.client is not None:
            with contextlib.suppress(Exception):  # already failing: do not hide the first error
                self.client.set_terminated(self.run_id, status)
            self.open = False


# --- deepstart tune: the study's parent run ----------------------------------------------------------
def parent_run(uri: str, experiment: str, study: str, storage: str, config: dict) -> str:
    """The id of the study's parent run: found again by its study and storage when the study
    resumes, else created with the study's settings as params."""
    from deepstart.tracking import hparams_of
    from deepstart.tune import redact

    try:
        with _quiet():
            client = _client(uri)
            experiment_id = _experiment_id(client, experiment)
            where = redact(storage).replace("'", "\\'")
            found = client.search_runs(
                [experiment_id], f"tags.`{STUDY_TAG}` = '{study}' and "
                f"tags.`deepstart.storage` = '{where}'", max_results=1)
            if found:
                client.update_run(found[0].info.run_id, status="RUNNING")
                return found[0].info.run_id
            run = client.create_run(experiment_id, run_name=f"tune {study}", tags={
                STUDY_TAG: study, "deepstart.storage": redact(storage)})
            client.log_batch(run.info.run_id, params=_params(hparams_of(config)))
            return run.info.run_id
    except Exception as e:
        raise _connect_error(uri, e) from None


def end_parent(uri: str, run_id: str, best_value: float | None, metric: str,
               best_trial: int | None, folder: Path | None) -> None:
    with _quiet():
        client = _client(uri)
        if best_value is not None:
            client.log_metric(run_id, f"best_val_{metric}", best_value)
        if best_trial is not None:
            client.set_tag(run_id, "deepstart.best_trial", str(best_trial))
        if folder is not None:
            client.set_tag(run_id, "deepstart.retrained_run", str(Path(folder).absolute()))
            if (Path(folder) / "tuning").is_dir():  # trials.csv, study.json and the plots
                client.log_artifacts(run_id, str(Path(folder) / "tuning"), artifact_path="tuning")
        client.set_terminated(run_id, "FINISHED" if folder is not None else "FAILED")
