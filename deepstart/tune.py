"""Improve: search a model family's hyper-parameters with Optuna, then retrain the best on
train + validation and score it on the test split once.

    deepstart tune digits --model mlp --trials 30 --workers 2

Each trial trains the problem's recipe with sampled settings on the training rows and is scored
on the validation rows (the last epoch's validation accuracy, or RMSE); the test split is never
looked at while searching. Sampler: TPE (Optuna's TPESampler, seeded; 10 random trials first,
`constant_liar` so parallel workers do not pick the same point). Pruner: median pruning fed by the
per-epoch validation score (MedianPruner: once 3 trials have completed, a trial whose score at
an epoch is worse than the median of the earlier trials at that epoch stops there; never before
epoch max(2, epochs // 4), when one-cycle and warm-up schedules are still warming up, and never
at the last epoch, where stopping saves nothing).

Search space (a setting given on the command line, e.g. `--batch-size 64` or `--option depth=20`,
is fixed and left out of the search; epochs are always fixed: `--epochs`, else the recipe's, since
more epochs nearly always score better and the pruner already stops hopeless trials early):

    family                      parameter      values
    every family                lr             log-uniform, recipe lr / 30 to recipe lr x 10
                                batch_size     32, 64, 128, 256
                                weight_decay   log-uniform, 1e-6 to 1e-2
                                schedule       constant, cosine, onecycle
    mlp                         layers         1 to 3 hidden layers ...
                                units          ... of 32, 64, 128, 256 or 512 units each
                                dropout        0 to 0.5
    convnet                     width          16, 32 or 64 channels in the first stage, doubling
                                               per stage (as many stages as the recipe has)
                                dropout        0 to 0.5
    resnet                      depth          8, 14, 20, 32 (6n + 2)
                                width          1 or 2 (multiplies 16, 32, 64 channels)
    googlenet                   width          0.25, 0.5, 1.0 (multiplies every branch)
    transformer                 dim            32, 64, 128 (the recipe's heads, default 4)
                                depth          1 to 4 encoder blocks
                                dropout        0 to 0.3
    lstm, gru                   hidden_size    16, 32, 64, 128
                                num_layers     1 or 2
                                dropout        0 to 0.3 (between the 2 layers; only when 2)
    bag (text)                  dim            16, 32, 64, 128 (each word's and bigram's embedding)
                                hidden         0 (linear, fastText's) or 64 units
                                dropout        0 to 0.5 (on the text's vector)
    perceptron, linear,         (the four settings of every family)
    logistic
    your own class              (the four settings, and the space it states: below)

A stated space adds model options (constructor arguments of your own class, config fields of a zoo
family) to the search, or replaces the range of a parameter above of the same name (e.g. lr). Your
class states it as a class attribute, the command line with `--space` (repeatable), which wins over
the class for the same name; a name the command line also fixes (`--option width=64`, `--lr`) is
refused with --space and left out of the class's space:

    SEARCH_SPACE = {"width": [32, 64, 128],        a list: one of the values (categorical)
                    "depth": (1, 4),               (low, high) whole numbers: an integer range
                    "dropout": (0.0, 0.5),         (low, high) otherwise: a uniform float
                    "decay": {"low": 1e-4, "high": 1e-1, "log": True}}   log scale ("step": also)
    --space width=32,64,128   --space depth=1:4   --space dropout=0.0:0.5   --space lr=1e-4:1e-1:log

Values of a list are numbers, texts, true/false or null (JSON on the command line, else text). A
bad entry is one line naming it (`--space dropout=0.5:0.1`, `MyNet.SEARCH_SPACE['width']`), exit 2.
The study records the stated space (resuming with another is refused) and study.json keeps it as
`stated_space`, with `best_command`: the `deepstart run` command of the retrained best (the model as
given: a zoo name or `PATH.py:Class`). A class's study and storage are named by its class in lower
case: `tune-<problem>-mynet.db`, study `<problem>-mynet`.

Storage: every study lives in an RDB storage, so it survives the command and can be shared. By
default a SQLite file `<out>/tune-<problem>-<model>.db` (WAL journal, 60 s lock timeout) holding
the study `<problem>-<model>`; `--storage URL` takes any SQLAlchemy URL (e.g.
`postgresql://user:pw@host/db`, with its driver installed), so workers on several machines can
share one study (SQLite only on one machine: its locks do not work over network file systems).
Running the command again resumes the study: finished trials (complete or pruned) count toward
`--trials`, and only the rest run. A study remembers its settings (problem, recipe, epochs,
validation split, seed, fixed settings); resuming it with others is refused.

Workers: `--workers 1` runs the trials in the command's own process; `--workers N` starts N
processes (`python -m deepstart.tune --worker`, the settings as JSON on stdin), each using
cpu_count / N torch threads. Each loads the study from the storage and runs trials until the study
holds `--trials` finished or running trials (two workers that check at the same moment may start
one too many between them), or until `--timeout` seconds have passed (no trial starts after that;
running ones finish). A killed worker loses only its running trial: on every start the command
fails the RUNNING trials of this machine whose process is gone (each trial records host and pid),
and Optuna's heartbeat (every 10 s; failed after 60 s without one) fails those of workers on other
machines.

Output: one line per finished trial (number, state, score, best so far, parameters), then the best
configuration is retrained with `val_split 0` through deepstart.run, which writes a normal run
folder, plus:

    runs/<date>-<problem>-<model>-<n>/     a normal run folder (config.json, metrics.json, ...)
        tuning/
            trials.csv       a row per trial: number, state, value (validation score), epochs
                             run, seconds, worker (host:pid), start time, one column per parameter
            study.json       study name, storage (password hidden), direction, metric, trial counts,
                             best trial (number, value, params), the search space (Optuna's
                             distributions as JSON), the fixed settings, sampler and pruner,
                             parameter importances
            history.png      optimization history (matplotlib): each trial's value, best so far
            importances.png  parameter importances (fANOVA); absent when fewer than 2 trials
                             completed or no parameter varied (study.json says why)

`tuning/` is written under a temporary name and renamed whole, so a reader never sees half of it.
The report includes these files when a run folder has them.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Collection
from pathlib import Path

from deepstart.errors import DeepstartError
from deepstart.run import RunConfig

# Parameters of every family; the family's own come after them.
COMMON = ("lr", "batch_size", "weight_decay", "schedule")
FAMILY_PARAMS = {
    "mlp": ("layers", "units", "dropout"),
    "convnet": ("width", "dropout"),
    "resnet": ("depth", "width"),
    "googlenet": ("width",),
    "transformer": ("dim", "depth", "dropout"),
    "lstm": ("hidden_size", "num_layers", "dropout"),
    "gru": ("hidden_size", "num_layers", "dropout"),
    "bag": ("dim", "hidden", "dropout"),
}
BATCH_SIZES = (32, 64, 128, 256)
SCHEDULES = ("constant", "cosine", "onecycle")
HEARTBEAT_SECONDS = 10
GRACE_SECONDS = 60
PRUNER_STARTUP_TRIALS = 3
FINISHED = ("COMPLETE", "PRUNED")
# Settings that may differ between the workers of one study (each machine has its own hardware).
MACHINE_SETTINGS = ("command", "device", "precision", "compile", "nproc")


def _setting(model: str, name: str) -> str:
    """The setting that fixes a searched parameter when the user gives it on the command line."""
    if name in ("layers", "units"):
        return "hidden"  # --hidden 128,64
    if model == "convnet" and name == "width":
        return "widths"  # --option widths=[16,32,64]
    return name


def searched(model: str, fixed: Collection[str] = ()) -> list[str]:
    """The parameters searched for `model`, less those fixed by a setting given by the user."""
    return [n for n in (*COMMON, *FAMILY_PARAMS.get(model, ())) if _setting(model, n) not in fixed]


# --- a search space the user states --------------------------------------------------------------
SPACE_SYNTAX = ("a list of values (one of them), (low, high) (whole numbers: an integer range, "
                "else a uniform float), or {\"low\": .., \"high\": .., \"log\": true, \"step\": ..}")


def parse_space(text: str, where: str | None = None) -> tuple[str, dict]:
    """`--space NAME=V1,V2,...` (one of the values, each read as JSON, else as text) or
    `--space NAME=LOW:HIGH[:log]` (a range: two whole numbers give an integer range, otherwise a
    uniform float; `:log` samples it on a log scale)."""
    name, sep, values = text.partition("=")
    where = where or f"--space {text}"
    if not sep or not name.isidentifier() or not values:
        raise DeepstartError(f"{where}: expected NAME=V1,V2,... or NAME=LOW:HIGH[:log], e.g. "
                             "width=32,64,128 or dropout=0.0:0.5.")
    if ":" in values and "," not in values:
        parts = values.split(":")
        log = parts[-1] == "log"
        bounds = parts[:-1] if log else parts
        if len(bounds) != 2:
            raise DeepstartError(f"{where}: a range is LOW:HIGH or LOW:HIGH:log, e.g. 0.0:0.5 or "
                                 f"1e-4:1e-1:log; received {values!r}.")
        low, high = (_json_or_text(b) for b in bounds)
        return name, space_entry(name, {"low": low, "high": high, "log": log}, where)
    return name, space_entry(name, [_json_or_text(part) for part in values.split(",")], where)


def _json_or_text(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return text.strip()  # a bare word, e.g. pooling=mean,cls


def space_entry(name: str, value, where: str) -> dict:
    """A stated space entry as a distribution: {"type": "categorical", "choices": [...]}, or
    {"type": "int" | "float", "low", "high", "log", "step"}; a DeepstartError that names `where`
    (the flag or the class attribute) and what was expected otherwise."""
    if isinstance(value, list):
        bad = [c for c in value if not isinstance(c, (bool, int, float, str, type(None)))
               or (isinstance(c, float) and not math.isfinite(c))]
        if not value or bad:
            raise DeepstartError(f"{where}: the values of {name} must be one or more numbers, "
                                 f"texts, true/false or null; received {value!r}.")
        return {"type": "categorical", "choices": value}
    if isinstance(value, tuple) and len(value) == 2:
        value = {"low": value[0], "high": value[1]}
    if not isinstance(value, dict) or set(value) - {"low", "high", "log", "step"}:
        raise DeepstartError(f"{where}: {name} must be {SPACE_SYNTAX}; received {value!r}.")
    low, high, log, step = value.get("low"), value.get("high"), value.get("log", False), value.get("step")

    def number(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

    if not (number(low) and number(high) and low < high):
        raise DeepstartError(f"{where}: the range of {name} needs two numbers, low < high; "
                             f"received low={low!r}, high={high!r}.")
    if not isinstance(log, bool) or (log and low <= 0):
        raise DeepstartError(f"{where}: a log-scale range of {name} needs low > 0 and log true or "
                             f"false; received low={low!r}, log={log!r}.")
    whole = all(isinstance(v, int) for v in (low, high)) and (step is None or isinstance(step, int))
    if step is not None and (not number(step) or step <= 0 or log):
        raise DeepstartError(f"{where}: the step of {name} must be a positive number, and a "
                             f"log-scale range has none; received step={step!r}, log={log}.")
    return {"type": "int" if whole else "float", "low": low if whole else float(low),
            "high": high if whole else float(high), "log": log, "step": step}


def class_space(model: str) -> dict:
    """The SEARCH_SPACE a user's model class states (name -> space_entry); {} for a zoo family
    and for a class without one. Its entries take the syntax of `space_entry`, e.g.
    SEARCH_SPACE = {"width": [32, 64, 128], "depth": (1, 3), "dropout": (0.0, 0.5),
                    "lr_decay": {"low": 1e-4, "high": 1e-1, "log": True}}."""
    from deepstart.models.custom import is_reference, load_class

    if not is_reference(model):
        return {}
    cls = load_class(model)
    stated = getattr(cls, "SEARCH_SPACE", None)
    if stated is None:
        return {}
    where = f"{cls.__name__}.SEARCH_SPACE"
    if not isinstance(stated, dict) or not all(isinstance(k, str) and k.isidentifier()
                                               for k in stated):
        raise DeepstartError(f"{where} must be a dict of option name -> values, e.g. "
                             f'{{"width": [32, 64, 128], "dropout": (0.0, 0.5)}}; received '
                             f"{stated!r:.200}.")
    return {k: space_entry(k, v, f"{where}[{k!r}]") for k, v in stated.items()}


def stated_space(model: str, given: dict, fixed: Collection[str]) -> dict:
    """The --space entries over the model class's SEARCH_SPACE. A --space name the command line
    also fixes is refused; a SEARCH_SPACE one is left out of the search (what is given is fixed)."""
    for name in given:
        if name in fixed or _setting(model, name) in fixed:
            flag = f"--{name.replace('_', '-')}" if name in COMMON else f"--option {name}=..."
            raise DeepstartError(f"--space {name}=... searches {name}, which {flag} fixes; give "
                                 "one of them.")
    own = {k: d for k, d in class_space(model).items() if k not in fixed}
    return own | given


def _first(d: dict):
    return d["choices"][0] if d["type"] == "categorical" else d["low"]


def _model_name(model: str) -> str:
    """The model as a file or study name: a zoo family, or a reference's class name (in lower
    case, as run folders name it)."""
    from deepstart.models.custom import is_reference, short_name

    return short_name(model) if is_reference(model) else model


def best_command(config: RunConfig, params: dict, fixed: Collection[str] = (),
                 space: dict | None = None) -> str:
    """The `deepstart run` command that trains what the tuned run folder holds: the best trial's
    configuration on train + validation (the model as given: a zoo name or a reference)."""
    from deepstart.diagnose import RunFacts

    final = config_from_params(config, params, fixed, space)
    final.val_split = 0.0
    facts = RunFacts(metric="", greater_is_better=True, train=None, val=None, test=None,
                     problem=config.problem, data_options=config.data_options, model=config.model,
                     config=dataclasses.asdict(final))
    return facts.command()


def _sample(trial, name: str, d: dict):
    if d["type"] == "categorical":
        return trial.suggest_categorical(name, d["choices"])
    if d["type"] == "int":
        return trial.suggest_int(name, d["low"], d["high"], log=d["log"], step=d["step"] or 1)
    return trial.suggest_float(name, d["low"], d["high"], log=d["log"], step=d["step"])


def suggest(trial, base: RunConfig, fixed: Collection[str] = (), space: dict | None = None) -> RunConfig:
    """The trial's configuration: the base (the recipe with the user's settings) with the searched
    parameters sampled from the table in the module docstring, and those of the stated `space`
    (name -> space_entry), which replace a built-in parameter of the same name."""
    space = space or {}
    config = dataclasses.replace(base, model_options=dict(base.model_options))
    options = config.model_options
    for name, d in space.items():
        if name in COMMON:
            setattr(config, name, _sample(trial, name, d))
        else:
            options[name] = _sample(trial, name, d)
    names = set(searched(base.model, fixed)) - set(space)
    if "lr" in names:
        config.lr = trial.suggest_float("lr", base.lr / 30, base.lr * 10, log=True)
    if "batch_size" in names:
        config.batch_size = trial.suggest_categorical("batch_size", BATCH_SIZES)
    if "weight_decay" in names:
        config.weight_decay = trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True)
    if "schedule" in names:
        config.schedule = trial.suggest_categorical("schedule", SCHEDULES)
    model = base.model
    if model == "mlp":
        if "layers" in names:
            layers = trial.suggest_int("layers", 1, 3)
            options["hidden"] = [trial.suggest_categorical("units", (32, 64, 128, 256, 512))] * layers
    elif model == "convnet" and "width" in names:
        stages = len(options.get("widths", [32, 64, 128]))
        first = trial.suggest_categorical("width", (16, 32, 64))
        options["widths"] = [first * 2 ** i for i in range(stages)]
    elif model == "resnet":
        if "depth" in names:
            options["depth"] = trial.suggest_categorical("depth", (8, 14, 20, 32))
        if "width" in names:
            options["width"] = trial.suggest_categorical("width", (1, 2))
    elif model == "googlenet" and "width" in names:
        options["width"] = trial.suggest_categorical("width", (0.25, 0.5, 1.0))
    elif model == "bag":
        if "dim" in names:
            options["dim"] = trial.suggest_categorical("dim", (16, 32, 64, 128))
        if "hidden" in names:
            options["hidden"] = trial.suggest_categorical("hidden", (0, 64))
    elif model == "transformer":
        if "dim" in names:  # each a multiple of 1, 2, 4, 8 and 16 heads
            options["dim"] = trial.suggest_categorical("dim", (32, 64, 128))
        if "depth" in names:
            options["depth"] = trial.suggest_int("depth", 1, 4)
    elif model in ("lstm", "gru"):
        if "hidden_size" in names:
            options["hidden_size"] = trial.suggest_categorical("hidden_size", (16, 32, 64, 128))
        if "num_layers" in names:
            options["num_layers"] = trial.suggest_int("num_layers", 1, 2)
        if "dropout" in names:  # PyTorch applies it between stacked layers only
            two = options.get("num_layers", 1) > 1
            options["dropout"] = trial.suggest_float("dropout", 0.0, 0.3) if two else 0.0
        return config
    if "dropout" in names:
        options["dropout"] = trial.suggest_float("dropout", 0.0, 0.3 if model == "transformer" else 0.5)
    return config


def config_from_params(base: RunConfig, params: dict, fixed: Collection[str] = (),
                       space: dict | None = None) -> RunConfig:
    """The configuration a finished trial trained, rebuilt from its parameters."""
    import optuna

    return suggest(optuna.trial.FixedTrial(params), base, fixed, space)


# --- storage ----------------------------------------------------------------------------------------
def default_storage(out: Path, problem: str, model: str) -> str:
    return f"sqlite:///{(Path(out) / f'tune-{problem}-{model}.db').resolve()}"


def redact(url: str) -> str:
    """The URL with its password hidden, for printing and for study.json."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: nothing to hide that parses
        return url.split("@")[-1] if "@" in url else url


def open_storage(url: str):
    """An RDB storage with heartbeats; a URL that cannot be opened is a one-line DeepstartError.
    SQLite gets a write-ahead journal (readers do not block the writer) and a 60 s lock timeout,
    so several worker processes can share the file."""
    import optuna

    engine_kwargs = {}
    if url.startswith("sqlite"):
        engine_kwargs = {"connect_args": {"timeout": 60}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        try:
            _sqlite_wal(url)
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs,
                                              heartbeat_interval=HEARTBEAT_SECONDS,
                                              grace_period=GRACE_SECONDS)
        except Exception as e:  # driver missing, host unreachable, bad URL, unwritable file
            reason = " ".join(str(e).split())
            reason = reason.split(" (Background on this error")[0].split("[SQL:")[0].strip()
            raise DeepstartError(
                f"cannot open the study storage {redact(url)} ({type(e).__name__}: {reason[:200]}); "
                "pass --storage with a SQLAlchemy URL that works, e.g. sqlite:///runs/tune.db or "
                "postgresql://user:password@host/db with its driver installed.") from None


def _sqlite_wal(url: str) -> None:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return
    import sqlite3

    if not Path(parsed.database).parent.is_dir():
        raise FileNotFoundError(f"no folder {Path(parsed.database).parent}")
    with sqlite3.connect(parsed.database, timeout=60) as db:
        db.execute("PRAGMA journal_mode=WAL")


class _BudgetLock:
    """An exclusive lock beside a SQLite study (`<file>.lock`, flock), held by a worker from
    counting the study's trials until its new trial is stored, so that workers never start more
    trials than asked. Workers sharing a server database from several machines have no common
    file: there each extra worker may start one trial too many (the README says so).
    release() is safe to call when not held."""

    def __init__(self, url: str):
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        local = parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:")
        self.path = Path(f"{parsed.database}.lock") if local and os.name == "posix" else None
        self.handle = None

    def acquire(self) -> None:
        if self.path is not None:
            import fcntl

            self.handle = open(self.path, "a")
            fcntl.flock(self.handle, fcntl.LOCK_EX)

    def release(self) -> None:
        if self.handle is not None:
            self.handle.close()  # closing the file releases the flock
            self.handle = None


def _study_settings(config: RunConfig, fixed: Collection[str], space: dict | None = None) -> dict:
    """What a study's trials depend on: resuming with other values would mix incomparable trials.
    (A stated space is recorded only when there is one: studies from before it resume as they were.)"""
    settings = {k: v for k, v in dataclasses.asdict(config).items() if k not in MACHINE_SETTINGS}
    return settings | {"fixed": sorted(fixed)} | ({"space": space} if space else {})


def open_study(url: str, name: str, config: RunConfig, fixed: Collection[str], direction: str,
               space: dict | None = None):
    """Create the study, or load it and check it was run with the same settings."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = open_storage(url)
    study = optuna.create_study(study_name=name, storage=storage, direction=direction,
                                load_if_exists=True)
    settings = json.loads(json.dumps(_study_settings(config, fixed, space)))  # tuples -> lists
    saved = study.user_attrs.get("deepstart")
    if saved is None:
        study.set_user_attr("deepstart", settings)
    elif saved != settings:
        diff = [f"{k}={saved.get(k)!r} (now {settings.get(k)!r})"
                for k in sorted(set(saved) | set(settings)) if saved.get(k) != settings.get(k)]
        raise DeepstartError(
            f"study '{name}' in {redact(url)} was run with {', '.join(diff)}; resume it with the "
            "same settings, or start another with --study NAME.")
    return study


def fail_lost_trials(study) -> list[int]:
    """Fail the RUNNING trials whose worker is gone: on this machine, those whose process no longer
    exists; elsewhere, those without a heartbeat for GRACE_SECONDS (Optuna's stale-trial check)."""
    import optuna
    from optuna.trial import TrialState

    host = socket.gethostname()
    lost = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = trial.user_attrs.get("worker", {})
        if worker.get("host") == host and not _alive(worker.get("pid", 0)):
            try:
                if study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
                    lost.append(trial.number)
            except optuna.exceptions.UpdateFinishedTrialError:
                pass  # it finished after all
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    return lost


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _count(study, states=FINISHED) -> int:
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=tuple(TrialState[s] for s in states)))


# --- the trials -------------------------------------------------------------------------------------
class PruneOnValidation:
    """A Learner callback: report each epoch's validation score to the trial and stop training when
    the pruner says the trial is worse than the median of the earlier ones at that epoch."""

    def __init__(self, trial, key: str, epochs: int):
        self.trial, self.key, self.epochs = trial, key, epochs
        self.pruned_at: int | None = None

    def on_epoch_end(self, learner, row: dict) -> None:
        self.trial.report(row[self.key], row["epoch"])
        if row["epoch"] < self.epochs and self.trial.should_prune():
            self.pruned_at = row["epoch"]
            learner.stop_training = True


def make_objective(base: RunConfig, fixed: Collection[str], data_dir=None, download: bool = True,
                   space: dict | None = None):
    """The function Optuna calls per trial: train the trial's configuration, return the last
    epoch's validation score (raising TrialPruned when the pruner stopped it)."""
    import optuna

    from deepstart.learner import TrainingDiverged
    from deepstart.run import _learner

    def objective(trial) -> float:
        trial.set_user_attr("worker", {"host": socket.gethostname(), "pid": os.getpid()})
        learner = None
        try:
            config = suggest(trial, base, fixed, space)
            learner = _learner(config, 0, data_dir, download)
            key = f"val_{learner.metric}"
            pruning = PruneOnValidation(trial, key, config.epochs)
            learner.callbacks.append(pruning)
            learner.fit(config.epochs)
        except TrainingDiverged:  # a hopeless configuration, as far as the sampler should know
            trial.set_user_attr("epochs", learner.epoch)
            trial.set_user_attr("diverged", True)
            raise optuna.TrialPruned(f"diverged in epoch {learner.epoch + 1}") from None
        except DeepstartError as e:  # a sampled setting the model refuses: the trial fails
            trial.set_user_attr("error", str(e))
            raise
        trial.set_user_attr("epochs", learner.epoch)
        if pruning.pruned_at is not None:
            raise optuna.TrialPruned(f"pruned at epoch {pruning.pruned_at}")
        return float(learner.history.rows[-1][key])

    return objective


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def trial_line(study, trial, metric: str, worker: str = "") -> str:
    """One line per finished trial: number, state, score, best so far, parameters."""
    from optuna.trial import TrialState

    params = " ".join(f"{k}={_fmt(v)}" for k, v in trial.params.items())
    seconds = trial.duration.total_seconds() if trial.duration else 0.0
    if trial.state == TrialState.COMPLETE:
        what = f"[green]complete[/green]  {metric} {trial.value:.4f}"
    elif trial.state == TrialState.PRUNED:
        epochs = trial.user_attrs.get("epochs", "?")
        why = "diverged" if trial.user_attrs.get("diverged") else "pruned"
        what = f"[yellow]{why}[/yellow] after epoch {epochs}"
        if trial.intermediate_values:
            what += f" ({metric} {trial.intermediate_values[max(trial.intermediate_values)]:.4f})"
    else:
        what = f"[red]{trial.state.name.lower()}[/red]"
        if "error" in trial.user_attrs:
            what += f" ({trial.user_attrs['error']})"
    try:
        best = study.best_trial
        best_text = f"best {best.value:.4f} (trial {best.number})"
    except ValueError:
        best_text = "best -"
    tag = f"  [dim]{worker}[/dim]" if worker else ""
    return f"trial {trial.number:>3}  {what}  {best_text}  {seconds:.1f} s  {params}{tag}"


def run_trials(spec: dict) -> int:
    """A worker: load the study from its storage and run trials until it holds `trials` finished or
    running ones, or the deadline passes. Returns the number of trials this worker ran."""
    import optuna
    from optuna.trial import TrialState

    from deepstart.console import console
    from deepstart.learner import TrainingInterrupted

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    base = RunConfig(**spec["config"])
    fixed = spec["fixed"]
    storage = open_storage(spec["storage"])
    study = optuna.load_study(study_name=spec["study"], storage=storage)
    # Seeded, but not the same stream in every worker or on every resume: the seed moves on with
    # the worker's index and the trials already in the study, or a resumed study would re-sample
    # the points of its first trials.
    seed = base.seed + 1000 * spec["worker"] + len(study.trials)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=True)
    study.pruner = optuna.pruners.MedianPruner(n_startup_trials=PRUNER_STARTUP_TRIALS,
                                               n_warmup_steps=max(2, base.epochs // 4))
    metric = spec["metric"]
    tag = f"worker {spec['worker'] + 1}/{spec['workers']}" if spec["workers"] > 1 else ""

    failures = []  # the states of this worker's trials, to stop after 3 failures in a row

    def progress(study, trial):
        failures.append(trial.state == TrialState.FAIL)
        if spec.get("verbose", 1) or trial.state == TrialState.FAIL:
            console.print(trial_line(study, trial, f"val_{metric}", tag), soft_wrap=True)

    objective = make_objective(base, fixed, spec.get("data_dir") and Path(spec["data_dir"]),
                               spec.get("download", True), spec.get("space"))
    deadline = spec.get("deadline")
    budget = _BudgetLock(spec["storage"])

    def started(trial):  # the trial is in the study as RUNNING: the next worker may count it
        budget.release()
        return objective(trial)

    ran = 0
    while deadline is None or time.time() < deadline:
        # Counting and starting a trial are one step: two workers that both counted 3 of 4
        # would otherwise both start a fourth.
        budget.acquire()
        if _count(study, (*FINISHED, "RUNNING")) >= spec["trials"]:
            budget.release()
            break
        try:
            study.optimize(started, n_trials=1, callbacks=[progress], catch=(DeepstartError,))
        except TrainingInterrupted:
            raise KeyboardInterrupt from None
        finally:
            budget.release()
        ran += 1
        if failures[-3:] == [True] * 3:
            raise DeepstartError("3 trials in a row failed on their settings (see the lines "
                                 "above); fix the fixed settings and run the command again.")
    return ran


def _worker_main() -> int:
    """`python -m deepstart.tune --worker`, the spec as JSON on stdin (not in argv, where `ps`
    would show a storage URL's password): a worker process started by tune()."""
    spec = json.loads(sys.stdin.read())
    if spec.get("threads"):
        import torch

        torch.set_num_threads(spec["threads"])
    try:
        run_trials(spec)
    except KeyboardInterrupt:
        return 130
    except DeepstartError as e:
        sys.stderr.write(f"deepstart: error: {e}\n")
        return 2
    return 0


def _run_workers(spec: dict, workers: int) -> list[int]:
    """Start `workers` worker processes and wait for them; returns their exit codes. Ctrl-C is
    passed on as SIGINT, so each worker marks its running trial failed before it stops."""
    import signal

    threads = max(1, (os.cpu_count() or 1) // workers)
    procs = []
    for i in range(workers):
        child = dict(spec, worker=i, workers=workers, threads=threads)
        proc = subprocess.Popen([sys.executable, "-m", "deepstart.tune", "--worker"],
                                stdin=subprocess.PIPE, text=True)
        proc.stdin.write(json.dumps(child))
        proc.stdin.close()
        procs.append(proc)
    try:
        return [p.wait() for p in procs]
    except KeyboardInterrupt:
        # Ctrl-C in a terminal reached the workers too; give them a moment to fail their trials
        # cleanly, then pass it on to any that did not get it (a `kill -INT` of this process).
        deadline = time.time() + 5
        for p in procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                p.send_signal(signal.SIGINT)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        raise


# --- the whole command ------------------------------------------------------------------------------
@dataclasses.dataclass
class TuneResult:
    folder: Path | None  # the retrained best run; None when no trial completed
    study_name: str
    storage: str  # password hidden
    finished: int  # complete + pruned trials in the study
    complete: int
    best_value: float | None
    best_params: dict
    worker_codes: list[int]
    best_command: str = ""  # `deepstart run ...` that trains the retrained best configuration


def tune(config: RunConfig, *, trials: int, workers: int = 1, timeout: float | None = None,
         storage: str | None = None, study_name: str | None = None, fixed: Collection[str] = (),
         out: str | Path = "runs", data_dir: Path | None = None, download: bool = True,
         verbose: int = 1, space: dict | None = None) -> TuneResult:
    """Search `config.model`'s hyper-parameters on `config.problem` until the study holds `trials`
    finished trials, then retrain the best configuration on train + validation, score it on the
    test split once, and write its run folder with `tuning/` (see the module docstring). `space`
    (name -> space_entry, from --space) adds model options to the search, or replaces a built-in
    parameter's range; a model class's SEARCH_SPACE adds its entries under the given ones."""
    from deepstart.console import console
    from deepstart.learner import check_positive
    from deepstart.run import _learner, check_writable

    check_positive("trials", trials, int)
    check_positive("workers", workers, int)
    if timeout is not None:
        check_positive("timeout", timeout)
    config.validate()
    if config.val_split <= 0:
        raise DeepstartError("tuning scores each trial on validation rows; --val-split must be > 0 "
                             f"(received {config.val_split}).")
    out = Path(out)
    check_writable(out)
    space = stated_space(config.model, space or {}, fixed)
    # Loads the data and builds the model once, with the first value of each stated option: a
    # model that does not fit the problem or takes no such option, or data that is not there,
    # fails here, before the storage is created.
    probe_config = dataclasses.replace(config, model_options=dict(config.model_options) | {
        k: _first(d) for k, d in space.items() if k not in COMMON})
    probe = _learner(probe_config, 0, data_dir, download)
    problem, metric = probe.problem, probe.metric
    del probe
    model_name = _model_name(config.model)
    name = study_name or f"{problem.name}-{model_name}"
    if storage is None:
        out.mkdir(parents=True, exist_ok=True)
        storage = default_storage(out, problem.name, model_name)
    from deepstart.problems import METRICS

    # the metric the trials are judged by: --metric, else the problem's (the probe's)
    direction = "maximize" if METRICS[metric] else "minimize"
    study = open_study(storage, name, config, fixed, direction, space)
    lost = fail_lost_trials(study)
    if lost and verbose:
        console.print(f"failed trial(s) {', '.join(map(str, lost))} left running by a stopped worker")
    done = _count(study)
    shown = ", ".join([n for n in searched(config.model, fixed) if n not in space] + list(space))
    if verbose:
        todo = max(0, trials - done)
        console.print(f"study [bold]{name}[/bold] in {redact(storage)}: {done} finished trial(s); "
                      f"{todo} to run on {workers} worker(s); searching {shown}", soft_wrap=True)
    spec = {"config": dataclasses.asdict(config), "fixed": sorted(fixed), "storage": storage,
            "study": name, "trials": trials, "metric": metric, "space": space,
            "deadline": time.time() + timeout if timeout else None,
            "data_dir": str(data_dir) if data_dir else None, "download": download,
            "worker": 0, "workers": workers, "verbose": verbose}
    codes: list[int] = []
    if done < trials:
        if workers == 1:
            run_trials(spec)  # in this process: no start-up cost, Ctrl-C handled by the caller
        else:
            codes = _run_workers(spec, workers)
    study = open_study(storage, name, config, fixed, direction, space)  # fresh, after the workers
    finished, complete = _count(study), _count(study, ("COMPLETE",))
    timed_out = spec["deadline"] is not None and time.time() >= spec["deadline"]
    result = TuneResult(None, name, redact(storage), finished, complete, None, {}, codes)
    if complete == 0 or (finished < trials and not timed_out):
        return result  # nothing to retrain, or workers stopped early: the caller says so
    if verbose and finished < trials:
        console.print(f"--timeout reached after {finished} of {trials} finished trials")
    best = study.best_trial
    result.best_value, result.best_params = best.value, dict(best.params)
    if verbose:
        console.print(f"best trial {best.number}: val_{metric} {best.value:.4f}; retraining it on "
                      f"train + validation and scoring it on the test split", soft_wrap=True)
    final = config_from_params(config, best.params, fixed, space)
    final.val_split = 0.0
    from deepstart.run import run

    folder = run(final, out=out, data_dir=data_dir, download=download, verbose=0)
    write_tuning(folder / "tuning", study, storage=storage, metric=metric, trials=trials,
                 config=config, fixed=fixed, space=space)
    result.folder = folder
    result.best_command = best_command(config, best.params, fixed, space)
    return result


# --- the record -------------------------------------------------------------------------------------
def write_tuning(target: Path, study, *, storage: str, metric: str, trials: int,
                 config: RunConfig, fixed: Collection[str], space: dict | None = None) -> Path:
    """trials.csv, study.json, history.png and importances.png, written into a temporary folder
    that is renamed to `target` at the end."""
    import shutil

    from deepstart.files import write_json, write_text

    tmp = target.with_name(f".{target.name}.part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        write_text(tmp / "trials.csv", trials_csv(study))
        importances, note = _importances(study)
        write_json(tmp / "study.json", study_record(study, storage=storage, metric=metric,
                                                    trials=trials, config=config, fixed=fixed,
                                                    importances=importances, note=note,
                                                    space=space))
        _plots(tmp, study, metric, importances)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def trials_csv(study) -> str:
    params = sorted({k for t in study.trials for k in t.params})
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["number", "state", "value", "epochs", "seconds", "worker", "started", *params])
    for t in study.trials:
        worker = t.user_attrs.get("worker", {})
        writer.writerow([
            t.number, t.state.name, "" if t.value is None else repr(t.value),
            t.user_attrs.get("epochs", ""),
            f"{t.duration.total_seconds():.3f}" if t.duration else "",
            f"{worker['host']}:{worker['pid']}" if worker else "",
            t.datetime_start.isoformat(timespec="seconds") if t.datetime_start else "",
            *[t.params.get(k, "") for k in params]])
    return buf.getvalue()


def study_record(study, *, storage: str, metric: str, trials: int, config: RunConfig,
                 fixed: Collection[str], importances: dict | None, note: str | None,
                 space: dict | None = None) -> dict:
    from optuna.distributions import distribution_to_json

    searched_space = {}
    for t in study.trials:
        for k, dist in t.distributions.items():
            searched_space.setdefault(k, json.loads(distribution_to_json(dist)))
    states: dict[str, int] = {}
    for t in study.trials:
        states[t.state.name] = states.get(t.state.name, 0) + 1
    best = study.best_trial
    return {
        "study_name": study.study_name,
        "storage": redact(storage),
        "direction": study.direction.name.lower(),
        "metric": f"val_{metric}",
        "n_trials": len(study.trials),
        "requested_trials": trials,
        "states": states,
        "best_trial": best.number,
        "best_value": best.value,
        "best_params": best.params,
        "search_space": searched_space,
        # the entries the user stated (--space, the model class's SEARCH_SPACE), as parsed
        "stated_space": space or {},
        "best_command": best_command(config, best.params, fixed, space),
        "fixed": {"epochs": config.epochs, "val_split": config.val_split, "seed": config.seed,
                  "settings": sorted(fixed)},
        "base_config": {k: v for k, v in dataclasses.asdict(config).items()
                        if k not in MACHINE_SETTINGS},
        "sampler": "TPESampler (seeded, constant_liar)",
        "pruner": f"MedianPruner(n_startup_trials={PRUNER_STARTUP_TRIALS}, "
                  f"n_warmup_steps={max(2, config.epochs // 4)}) on per-epoch val_{metric}",
        "importances": importances,
        "importances_note": note,
        "retrained": "the best parameters, on train + validation (val_split 0), scored on test once: "
                     "see ../metrics.json",
    }


def _importances(study) -> tuple[dict | None, str | None]:
    import optuna
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 2:
        return None, f"{len(complete)} complete trial(s); importances need at least 2"
    try:
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
        values = optuna.importance.get_param_importances(study, evaluator=evaluator)
    except (ValueError, RuntimeError) as e:
        return None, f"not computed: {e}"
    values = {k: float(v) for k, v in values.items() if math.isfinite(v)}
    return (values, None) if values else (None, "no parameter varied between complete trials")


def _plots(folder: Path, study, metric: str, importances: dict | None) -> None:
    import matplotlib

    from deepstart.console import offscreen_figures

    offscreen_figures()
    import matplotlib.pyplot as plt
    import optuna
    from optuna.visualization.matplotlib import plot_optimization_history, plot_param_importances

    from deepstart.files import atomic_path

    # rc_context: Optuna's plots switch matplotlib's global style; put it back afterwards
    with warnings.catch_warnings(), matplotlib.rc_context():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        plots = [("history.png", lambda: plot_optimization_history(study, target_name=f"val_{metric}"))]
        if importances:
            plots.append(("importances.png", lambda: plot_param_importances(
                study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0),
                target_name=f"val_{metric}")))
        for filename, draw in plots:
            ax = draw()
            fig = ax.figure
            fig.set_size_inches(7, 4)
            fig.tight_layout()
            with atomic_path(folder / filename) as tmp:
                fig.savefig(tmp, format="png", dpi=100)
            plt.close(fig)


if __name__ == "__main__" and sys.argv[1:] == ["--worker"]:
    sys.exit(_worker_main())
