"""A run: train a model on a problem and leave a folder that is enough to reproduce and present it.

    runs/<date>-<problem>-<model>-<n>/
        config.json        everything needed to rerun: problem, model config, hyper-parameters, seed,
                           command line
        env.json           versions, CPU/GPU, threads, git commit
        history.csv        a row per epoch: loss, metric, validation loss and metric, lr, seconds
        metrics.json       train/val/test scores (train on at most 10,000 sampled rows: "train_rows"),
                           the comparison with published references
        model.safetensors  weights; model.json: family, config, preprocessing (no pickle anywhere)
        curves.png         loss and metric curves
        checkpoint.safetensors  training state while unfinished, one file (removed when the run
                           completes)

The folder is claimed with an atomic mkdir, every file is written to a temp name and renamed, and
metrics.json is written last: a folder without it is an unfinished run that `--resume` continues.
What each step guarantees on a crash: docs/guarantees.md.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import threading
import datetime as dt
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from deepstart.errors import DeepstartError
from deepstart.files import write_json

RUN_FORMAT = "deepstart-run-1"
# The training score is a diagnostic (bias against variance, beside the validation score): a random
# sample of 10,000 rows estimates it within about half a point (the standard error of a 0.9 accuracy
# is 0.3 points) and spares a pass over a large training set; on Fashion-MNIST's 54,000 images with
# the convnet recipe's flip TTA that pass took about 20 s.
TRAIN_SCORE_ROWS = 10_000
# A checkpoint after the first epoch, then at most one every 10 s: a crash loses at most that much
# training, and tiny problems with millisecond epochs do not spend their time writing files.
CHECKPOINT_SECONDS = 10


@dataclass
class RunConfig:
    problem: str = "digits"  # a built-in name, or the absolute path of a CSV file or image folder
    # what the path needs to become a problem: target, task, forecast, horizon, season, image_size,
    # color, strict (deepstart.problems.user); empty for built-in problems
    data_options: dict = field(default_factory=dict)
    model: str = "mlp"
    model_options: dict = field(default_factory=dict)
    epochs: int = 20
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: str = "adam"
    val_split: float = 0.1
    lookback: int | None = None
    scale: str | None = None  # "unit" or "standard"; None: the problem's kind decides
    weight_decay: float = 0.0
    schedule: str = "constant"  # constant, step, cosine, onecycle
    warmup_epochs: float = 0.0
    clip_grad: float | None = None
    label_smoothing: float = 0.0
    device: str = "auto"
    precision: str = "auto"  # bf16 on GPUs that support it, else fp32
    compile: bool = False
    augment: str | None = None  # e.g. "crop,flip": batch image augmentation while training
    tta: str | None = None  # "flip": score images by the mean over each image and its mirror
    nproc: int = 1  # processes (torchrun world size) the run trains on
    # the published score of the architecture, for a model class of your own (its PAPER attribute
    # may state it too): shown beside the test score in the output and the report
    paper_score: float | None = None
    # the metric early stopping, the best epoch and diagnose judge (one of the task's,
    # deepstart.problems.TASK_METRICS); None: the problem's own, which its references use
    metric: str | None = None
    # stop once the validation `metric` has not improved for this many epochs, and keep the best
    # epoch's weights (None: train all the epochs). A resumed run counts its patience afresh.
    patience: int | None = None
    # a pretrained family (docs/pretrained.md): `freeze` keeps the body frozen for the whole run,
    # `unfreeze_after` N trains the head alone for N epochs, then everything with discriminative
    # learning rates (its recipe default: 1, fastai's fine_tune); `frozen` trains the head alone on
    # features computed once and cached in the run folder; `weights` a safetensors file of the
    # user's (the family's `weights` option)
    freeze: bool = False
    unfreeze_after: int | None = None
    frozen: bool = False
    weights: str | None = None
    # --log: "tensorboard", "mlflow" or both, comma-separated (deepstart.tracking, docs/tracking.md);
    # `mlflow_uri` the MLflow tracking store (None: sqlite:///mlflow.db in the current folder)
    log: str | None = None
    mlflow_uri: str | None = None
    seed: int = 0
    command: str = ""

    @classmethod
    def for_problem(cls, problem_name: str, data_options: dict | None = None,
                    **overrides) -> RunConfig:
        """The problem's recipe, with the user's choices on top (None means 'not given')."""
        from deepstart.problems import get_problem

        from deepstart.text import FAMILY_TOKENIZERS

        data_options = dict(data_options or {})
        if overrides.get("model") in FAMILY_TOKENIZERS:  # a pretrained text model reads its own ids
            data_options.setdefault("tokenizer", FAMILY_TOKENIZERS[overrides["model"]])
        problem = get_problem(problem_name, data_options)
        fields = {f.name for f in dataclasses.fields(cls)}
        given = {k: v for k, v in overrides.items() if v is not None}
        recipe = problem.recipe_for(given.get("model"))
        if recipe is None:
            recipe = fine_tune_recipe(problem, given["model"], given)
        if recipe is None:
            # no recipe for this family: the default recipe's training settings, without its model
            # options (they belong to the recipe's model)
            recipe = {k: v for k, v in problem.recipe.items() if k in fields}
        options = {k: v for k, v in recipe.items() if k not in fields}
        settings = {k: v for k, v in recipe.items() if k in fields}
        if given.get("frozen"):
            # a head on cached features: an epoch costs milliseconds, and a fine-tune's few epochs
            # leave a linear head far from trained (Fashion-MNIST, 1,000 images at 64 px: 0.752
            # after 4 epochs at lr 1e-3, 0.810 after 30 at 3e-3, quiet machine)
            settings = {k: v for k, v in settings.items() if k not in ("unfreeze_after", "freeze")}
            settings |= FROZEN_HEAD
        settings |= given
        settings["model_options"] = options | given.get("model_options", {})
        settings["problem"] = problem.path or problem.name
        settings["data_options"] = data_options
        return cls(**settings)

    def validate(self) -> None:
        check_fine_tuning(self)
        from deepstart.tracking import check as check_tracking

        check_tracking(self.log, self.mlflow_uri)  # before the data loads: the extra is installed
        from deepstart.learner import OPTIMIZERS, check_positive
        from deepstart.errors import unknown_name
        from deepstart.models import FAMILIES
        from deepstart.models.checks import check_options
        from deepstart.problems import get_problem

        from deepstart.models import custom

        problem = get_problem(self.problem, self.data_options)
        if self.metric is not None:
            from deepstart.problems import check_metric

            check_metric(self.metric, problem.task)
        if custom.is_reference(self.model):  # the user's own class: imported and checked here
            custom.check(self.model, self.model_options)
        elif self.model not in FAMILIES:
            raise unknown_name("model", self.model, FAMILIES)
        else:
            check_options(FAMILIES[self.model][1], self.model_options)  # before the data loads
        if self.model in ("lstm", "gru"):  # a series window too short for the lag it learns around
            from deepstart.models.recurrent import check_window

            check_window(self.model_options.get("difference"), self.lookback or 1)
        if self.optimizer not in OPTIMIZERS:
            raise unknown_name("optimizer", self.optimizer, OPTIMIZERS)
        check_positive("epochs", self.epochs, int)
        if self.patience is not None:
            check_positive("patience", self.patience, int)
            if not self.val_split:
                raise DeepstartError("--patience judges the validation score, and val_split is 0; "
                                     "give --val-split 0.1 or drop --patience.")
        check_positive("batch_size", self.batch_size, int)
        check_positive("lr", self.lr)
        if not 0 <= self.val_split < 1:
            raise DeepstartError(f"val_split must be in [0, 1); received val_split={self.val_split}.")
        from deepstart.devices import PRECISIONS
        from deepstart.schedules import check_schedule

        check_schedule(self.schedule)
        from deepstart.models.tta import parse_tta

        parse_tta(self.tta)
        if self.precision not in PRECISIONS:
            raise unknown_name("precision", self.precision, PRECISIONS)
        if self.paper_score is not None and not (
                isinstance(self.paper_score, (int, float)) and math.isfinite(self.paper_score)):
            raise DeepstartError(f"paper_score must be a number in the problem's metric; received "
                                 f"paper_score={self.paper_score!r}.")


# fastai's fine_tune, the recipe of a pretrained family on a problem that has none for it: the head
# alone for one epoch, then the whole net (discriminative LRs, lr/100 for the earliest layers),
# one-cycle over the run, Adam with decoupled weight decay 0.01 (fastai's defaults), batch 64;
# 4 epochs as fastai's first lesson (fine_tune(3): one frozen epoch, three unfrozen). The problem's
# own recipe keeps only what shapes the data (its validation split, a series' lookback).
FINE_TUNE = {"epochs": 4, "batch_size": 64, "lr": 1e-3, "optimizer": "adamw", "weight_decay": 0.01,
             "schedule": "onecycle", "unfreeze_after": 1}
# --frozen: the head's training on the cached features (the user's --epochs/--lr win)
FROZEN_HEAD = {"epochs": 30, "lr": 3e-3, "schedule": "onecycle"}
FINE_TUNE_FLAGS = {"freeze": "--freeze", "unfreeze_after": "--unfreeze-after", "frozen": "--frozen",
                   "weights": "--weights"}


def fine_tune_recipe(problem, model: str, given: dict) -> dict | None:
    """FINE_TUNE for a pretrained family (None for any other). `--freeze` or `--frozen` given
    without `--unfreeze-after` means no unfreezing; `--epochs 1` alone trains the head alone (the
    one epoch is the frozen one)."""
    from deepstart.models import FAMILIES

    if model not in FAMILIES or not _family_is_pretrained(model):
        return None
    recipe = {k: problem.recipe[k] for k in ("val_split", "lookback") if k in problem.recipe}
    recipe |= FINE_TUNE
    if given.get("unfreeze_after") is None:
        epochs = given.get("epochs", recipe["epochs"])
        short = isinstance(epochs, int) and epochs <= recipe["unfreeze_after"]
        if given.get("freeze") or given.get("frozen") or short:
            del recipe["unfreeze_after"]
            recipe["freeze"] = not given.get("frozen")
    return recipe


def _family_is_pretrained(model: str) -> bool:
    from deepstart.pretrained import is_pretrained

    return is_pretrained(model)


def check_fine_tuning(config: RunConfig) -> None:
    """The fine-tuning settings fit the model and each other (one sentence each otherwise)."""
    given = [FINE_TUNE_FLAGS[k] for k in FINE_TUNE_FLAGS if getattr(config, k) not in (None, False)]
    if not given:
        return
    from deepstart.models import FAMILIES

    if config.model not in FAMILIES or not _family_is_pretrained(config.model):
        from deepstart.models.finetune import pretrained_families

        raise DeepstartError(f"{given[0]} fine-tunes a pretrained model, and '{config.model}' is not "
                             f"one; the pretrained families are: {', '.join(pretrained_families())}.")
    after = config.unfreeze_after
    if after is not None:
        if isinstance(after, bool) or not isinstance(after, int) or after < 0:
            raise DeepstartError(f"--unfreeze-after takes a whole number of epochs >= 0; received "
                                 f"{after!r}.")
        if config.freeze or config.frozen:
            flag = "--freeze" if config.freeze else "--frozen"
            raise DeepstartError(f"{flag} keeps the body frozen for the whole run and "
                                 f"--unfreeze-after {after} unfreezes it; give one of the two.")
        if isinstance(config.epochs, int) and after >= config.epochs:
            raise DeepstartError(f"--unfreeze-after {after} leaves no epoch to train unfrozen in a run "
                                 f"of {config.epochs}; give more --epochs, fewer frozen ones, or "
                                 "--freeze to keep the body frozen throughout.")
    if config.frozen and config.augment not in (None, "", "none"):
        raise DeepstartError(f"--frozen computes each image's features once, so training batches "
                             f"cannot be augmented (--augment {config.augment}); drop --augment or "
                             "--frozen.")
    if config.weights is not None:
        path = Path(config.weights)
        if path.suffix != ".safetensors":
            raise DeepstartError(f"--weights {config.weights}: give a .safetensors file (weights are "
                                 "never read from pickles; convert a .pth/.bin with safetensors' "
                                 "save_file).")
        if not path.is_file():
            raise DeepstartError(f"--weights {config.weights}: the file does not exist; give the path "
                                 "of a .safetensors file.")
        if "weights" in config.model_options:
            raise DeepstartError("the weights are given twice (--weights and --option weights=...); "
                                 "give --weights alone.")


def environment() -> dict:
    """Versions, hardware and threads: what it takes to judge whether a result will repeat."""
    import platform

    from importlib.metadata import version

    import numpy
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "deepstart": _version(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "scikit-learn": version("scikit-learn"),  # without importing it (1.1 s)
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": gpu,
        "git_commit": _git_commit(),
    }


def _version() -> str:
    from deepstart import __version__

    return __version__


def _git_commit() -> str | None:
    import subprocess

    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def check_writable(out: Path, what: str = "runs", flag: str = "--out", create: bool = True) -> None:
    """Fail before any work if the runs folder could not be written, without creating it yet (a
    run that fails later, on bad data or a bad model setting, leaves nothing behind). `create`:
    missing folders on the way would be made; else `out` must exist."""
    existing = out
    while create and not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.exists():
        raise DeepstartError(f"cannot write {what}: the folder {out} does not exist; create it or "
                             f"pass another {flag}.")
    why = "is not a folder" if not existing.is_dir() else None
    if why is None:
        # os.access says yes to root everywhere, /proc included: make (and remove) a folder there
        try:
            os.rmdir(tempfile.mkdtemp(dir=existing, prefix=".deepstart-probe-"))
        except OSError:
            why = "is not writable"
    if why:
        raise DeepstartError(f"cannot write {what} to {out} ({existing} {why}); pass {flag} with a "
                             "folder you can write to.")


def claim_run_dir(out: Path, problem: str, model: str) -> Path:
    """runs/<date>-<problem>-<model>-<n>: mkdir is atomic, so two runs never share a folder."""
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{dt.date.today().isoformat()}-{problem}-{model}"
    n = 1 + sum(1 for p in out.glob(f"{stem}-*") if p.is_dir())
    while True:
        folder = out / f"{stem}-{n}"
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            n += 1


def model_label(model: str) -> str:
    """The model's name in a run folder's name: the family, or a custom class's name."""
    from deepstart.models.custom import is_reference, short_name

    return short_name(model) if is_reference(model) else model


def is_run_dir(folder: Path) -> bool:
    """A folder with deepstart's config.json. One whose config.json is damaged counts too, so that
    reading it names the damage instead of calling the folder no run at all."""
    cfg = folder / "config.json"
    if not cfg.is_file():
        return False
    try:
        data = json.loads(cfg.read_bytes())
    except (ValueError, OSError):
        return True
    return not isinstance(data, dict) or data.get("format") == RUN_FORMAT


def comparison(problem, value: float | None) -> list[dict]:
    """Each published reference beside our score: difference, and whether ours is at least as good
    (none when our score is undefined: a test split of one class has no ROC AUC)."""
    rows = []
    if value is None:
        return rows
    for ref in problem.references:
        better = value >= ref.value if problem.greater_is_better else value <= ref.value
        rows.append({"value": ref.value, "model": ref.model, "source": ref.source,
                     "difference": value - ref.value, "ours_at_least_as_good": better})
    return rows


def _learner(config: RunConfig, verbose: int, data_dir: Path | None, download: bool):
    """Load and prepare the data (the step that may fail for want of data), then the Learner."""
    from deepstart.learner import Learner
    from deepstart.prepare import prepare
    from deepstart.problems import get_problem

    problem = get_problem(config.problem, config.data_options)
    data = prepare(problem.load(data_dir=data_dir, download=download), problem,
                   val_split=config.val_split, seed=config.seed, lookback=config.lookback,
                   scale=config.scale)
    learner = Learner(config.model, data, optimizer=config.optimizer, lr=config.lr,
                      batch_size=config.batch_size, seed=config.seed,
                      weight_decay=config.weight_decay, schedule=config.schedule,
                      warmup_epochs=config.warmup_epochs, clip_grad=config.clip_grad,
                      label_smoothing=config.label_smoothing, device=config.device,
                      precision=config.precision, compile=config.compile, augment=config.augment,
                      tta=config.tta, metric=config.metric or problem.metric,
                      model_options=config.model_options | (
                          {"weights": config.weights} if config.weights else {}),
                      freeze=config.freeze, unfreeze_after=config.unfreeze_after,
                      frozen=config.frozen, verbose=verbose)
    learner.problem = problem
    if config.patience:
        from deepstart.callbacks import EarlyStopping

        learner.callbacks.append(EarlyStopping(f"val_{learner.metric}", patience=config.patience))
    return learner


def run(config: RunConfig, out: str | Path = "runs", data_dir: Path | None = None,
        download: bool = True, verbose: int = 1, on_data=None) -> Path | None:
    """Validate, load the data, train, write the run folder; returns the folder (None on the
    ranks other than 0 of a multi-process run: only rank 0 writes). `on_data(problem)` is called
    on rank 0 once the data is prepared and the model built, before training (the CLI prints its
    data report there, so a bad setting fails before the report)."""
    from deepstart import distributed

    config.nproc = distributed.world_size()
    if config.nproc > 1 and config.command:
        # torchrun started each process without --nproc, --nnodes, ... (it would take them for its
        # own): they come back from torchrun's environment, so the recorded command repeats the run
        config.command = distributed.with_process_flags(config.command)
    config.validate()
    out = Path(out)
    main = distributed.is_main()
    if main:
        check_writable(out)
    learner = _learner(config, verbose, data_dir, download)  # fails before a folder exists
    problem = learner.problem
    folder = None
    if main and on_data is not None:
        on_data(problem)
    if main:
        folder = claim_run_dir(out, problem.name, model_label(config.model))
        write_json(folder / "config.json", {"format": RUN_FORMAT, **dataclasses.asdict(config)})
        write_json(folder / "env.json", environment() | _model_source(learner.model))
    return _train_and_record(learner, config, folder, problem)


def resume(folder: str | Path, epochs: int | None = None, data_dir: Path | None = None,
           download: bool = True, verbose: int = 1) -> Path:
    """Continue an unfinished run from its checkpoint, to the same result an uninterrupted run gets."""
    from deepstart.checkpoint import read_meta

    folder = Path(folder)
    if not is_run_dir(folder):
        raise DeepstartError(f"{folder} is not a run folder (no deepstart config.json); pass a folder "
                             "under runs/ that a `deepstart run` started.")
    if (folder / "metrics.json").is_file():
        raise DeepstartError(f"{folder} has nothing to resume: the run already finished.")
    if not (folder / "checkpoint.safetensors").is_file() and not (folder / "checkpoint.json").is_file():
        writing = any(folder.glob(".checkpoint.safetensors.*.part"))
        # named as the file a resume needs: it may never have been written, or have been removed
        raise DeepstartError(f"{folder / 'checkpoint.safetensors'} does not exist, so there is "
                             "nothing to resume from: " + (
            "the run was stopped while its first checkpoint was being written" if writing else
            "the run stopped before its first checkpoint (the end of epoch 1), or the file was "
            "removed") + "; start the run again.")
    from deepstart import distributed

    from deepstart.record import read_config

    raw = read_config(folder)
    raw.pop("format", None)
    config = RunConfig(**raw)
    if config.nproc != distributed.world_size():
        raise DeepstartError(
            f"{folder} was trained on {config.nproc} process(es); resume it with --nproc "
            f"{config.nproc} (each process's share of the data depends on the count, so another "
            "count would not continue the same run).")
    if epochs is not None:
        config.epochs = epochs
        config.validate()
        if distributed.is_main():
            write_json(folder / "config.json", {"format": RUN_FORMAT, **dataclasses.asdict(config)})
    read_meta(folder / "checkpoint")  # a damaged checkpoint fails before the data is loaded
    _check_model_source(folder)
    learner = _learner(config, verbose, data_dir, download)
    learner.resume(folder / "checkpoint")
    return _train_and_record(learner, config, folder if distributed.is_main() else None,
                             learner.problem)


def _model_source(model) -> dict:
    """For a class of your own, its file and sha256 as the run starts (env.json): --resume checks
    that it trains on the same code."""
    from deepstart.models.custom import ATTRIBUTE

    entry = getattr(model, ATTRIBUTE, None)
    if entry is None or not entry.get("file"):
        return {}
    return {"model_source": {"file": entry["file"], "sha256": entry["sha256"]}}


def _check_model_source(folder: Path) -> None:
    from deepstart.files import read_json
    from deepstart.models.custom import sha256_file

    env = read_json(folder / "env.json") if (folder / "env.json").is_file() else {}
    source = env.get("model_source")
    if not isinstance(source, dict) or not source.get("file"):
        return
    file = Path(source["file"])
    if not file.is_file():
        raise DeepstartError(f"{file} is missing, and the run {folder} trains the class it holds; "
                             "put the file back to resume, or start the run again.")
    if sha256_file(file) != source.get("sha256"):
        raise DeepstartError(f"{file} has changed since the run {folder} started (its sha256 "
                             "differs from the one in env.json), so resuming would continue "
                             "other code's training; restore the file as it was to resume, or "
                             "start the run again.")


def _train_and_record(learner, config: RunConfig, folder: Path | None, problem) -> Path | None:
    """Train, then write the folder. `folder` is None on the ranks that do not write; they still
    take part in training and in the (collective) evaluations."""
    from deepstart.callbacks import Checkpoint
    from deepstart.learner import TrainingInterrupted
    from deepstart import tracking

    # Import matplotlib (0.7 s) on the other core while training runs, for curves.png at the end:
    # torch releases the GIL inside its kernels, so the two overlap.
    warm_up = threading.Thread(target=importlib.import_module, args=("matplotlib.pyplot",), daemon=True)
    loggers = []
    if folder is not None:
        warm_up.start()
        learner.checkpoint_path = folder / "checkpoint"
        learner.features_path = folder / "features"  # --frozen: features.safetensors + .json
        learner.callbacks.append(Checkpoint(folder / "checkpoint", min_seconds=CHECKPOINT_SECONDS))
        loggers = tracking.run_loggers(config, folder, learner)  # --log: TensorBoard, MLflow (rank 0 only)
        learner.callbacks += loggers
    try:
        _fit_and_write(learner, config, folder, problem, warm_up)
    except BaseException as e:
        tracking.abort(loggers, e)  # no MLflow run left RUNNING; the events so far are flushed
        if not isinstance(e, KeyboardInterrupt):
            raise
        # Ctrl-C outside the epochs (after the last one, while scoring or writing; fit handles the
        # ones inside): save the trained state, so that --resume scores and writes without
        # training again. metrics.json, written last, is not there yet.
        if folder is None:
            raise TrainingInterrupted(learner.epoch, None) from None
        if (folder / "metrics.json").is_file():
            raise  # the run is complete: nothing to resume
        learner.save_checkpoint(folder / "checkpoint")
        raise TrainingInterrupted(learner.epoch, folder / "checkpoint") from None
    if folder is None:
        return None
    for leftover in ("checkpoint.safetensors", "checkpoint.json"):  # .json: an older format's
        (folder / leftover).unlink(missing_ok=True)
    tracking.end_run(loggers, learner, folder)  # the complete folder: final scores, artifacts, model
    return folder


def save_learner(learner, out: str | Path = "runs") -> Path:
    """The run folder of a Learner trained from Python (Learner.save): the same files as `deepstart
    run`, with a config.json whose settings rebuild the learner from the command line."""
    from deepstart.models import model_spec

    problem = learner.problem
    if problem is None:
        raise DeepstartError("Learner.save writes the run folder of a problem, and this learner was "
                             "given arrays or a Prepared; give Learner a problem name (e.g. "
                             "'fashion-mnist') or a CSV path instead.")
    if learner.epoch == 0:
        raise DeepstartError("Learner.save writes the run folder of a trained model, and this "
                             "learner has not trained yet; call learner.fit(epochs) first.")
    spec = model_spec(learner.model)  # a model that cannot be recorded fails before any file
    model = (spec["custom"]["reference"] if spec["family"] == "custom" else spec["family"])
    config = RunConfig(
        problem=problem.path or problem.name, model=model,
        model_options=_options(spec), epochs=learner.epoch, batch_size=learner.batch_size,
        lr=learner.lr, optimizer=learner.optimizer_name, lookback=learner.data.lookback,
        scale=None, weight_decay=learner.weight_decay,
        schedule=learner.schedule, warmup_epochs=learner.warmup_epochs,
        clip_grad=learner.clip_grad, tta=learner.tta, nproc=learner.world_size, seed=learner.seed,
        metric=learner.metric if learner.metric != problem.metric else None,
        **learner.settings)
    config.validate()
    out = Path(out)
    check_writable(out)
    folder = claim_run_dir(out, problem.name, model_label(config.model))
    write_json(folder / "config.json", {"format": RUN_FORMAT, **dataclasses.asdict(config)})
    write_json(folder / "env.json", environment())
    seconds = sum(r.get("seconds", 0.0) for r in learner.history.rows)
    _score_and_write(learner, config, folder, problem, None, seconds, "finished")
    return folder


def _options(spec: dict) -> dict:
    """What `--option` would pass to build this model again: a custom class's recorded options,
    a zoo config's fields less the ones build_model derives from the data."""
    if spec["family"] == "custom":
        return dict(spec["config"])
    derived = {"in_features", "out_features", "in_channels", "image_size", "input_shape", "cell",
               "text_start", "text_length", "vocab_size", "source"}
    return {k: v for k, v in spec["config"].items() if k not in derived}


def _fit_and_write(learner, config: RunConfig, folder: Path | None, problem, warm_up) -> None:
    from deepstart.learner import TrainingDiverged

    started = time.perf_counter()
    remaining = config.epochs - learner.epoch
    status = "finished"
    try:
        if remaining > 0:
            learner.fit(remaining)
    except TrainingDiverged as e:
        status = "diverged"
        if folder is not None:
            import sys

            sys.stderr.write(f"deepstart: {e}\n")
    seconds = time.perf_counter() - started
    _score_and_write(learner, config, folder, problem, warm_up, seconds, status)


def _score_and_write(learner, config: RunConfig, folder: Path | None, problem, warm_up,
                     seconds: float, status: str) -> None:
    from deepstart.models import save_model

    data = learner.data
    scores = {split: learner.evaluate(split, TRAIN_SCORE_ROWS if split == "train" else None)
              for split in ("train", "val", "test") if len(getattr(data, f"x_{split}"))}
    if folder is None:
        return
    learner.history.to_csv(folder / "history.csv")
    if warm_up is not None:
        warm_up.join()  # plotting while pyplot is half imported would fail
    learner.history.plot(folder / "curves.png",
                         title=f"{problem.name} — {config.model}")
    save_model(learner.model, folder, extra={
        "problem": problem.name, "task": data.task, "input_shape": list(data.input_shape),
        "class_names": list(data.class_names), "feature_names": list(data.feature_names),
        "scaling": data.scaling, "lookback": data.lookback, "horizon": data.horizon,
        "loss": learner.loss_name, "tta": learner.tta, "pixel_max": data.pixel_max,
        # own data: how raw input became features ("columns"/"target", "image" or "series"), so the
        # model folder alone can take raw rows, images or values
        **problem.schema})
    metric = learner.metrics[0]  # the problem's, which its references use
    test_value = scores["test"][metric]
    metrics = {
        "status": status,
        "problem": problem.name,
        "metric": metric,
        "greater_is_better": problem.greater_is_better,
        # every split's scores, in this order: the problem's metric, the task's others (None: a
        # score undefined on the split's rows), and the loss
        "metrics": list(learner.metrics),
        "judged_by": learner.metric,  # what early stopping and the best epoch went by
        # --patience: the epoch whose weights were kept (the scores above are its)
        "best_epoch": next((cb.best_epoch for cb in learner.callbacks
                            if getattr(cb, "best_weights", None) is not None), None),
        "test": scores["test"],
        "test_rows": len(data.x_test),
        "train": scores.get("train"),
        "train_rows": min(len(data.x_train), TRAIN_SCORE_ROWS),
        "val": scores.get("val"),
        "val_rows": len(data.x_val),
        "epochs": learner.epoch,
        "train_seconds": seconds,
        "compile_seconds": learner.compile_seconds,
        "processes": learner.world_size,
        "references": comparison(problem, test_value),
    }
    if problem.path:  # your own data: the content trained on (diagnose matches evaluations by it)
        from deepstart.files import data_sha256

        metrics["data_sha256"] = data_sha256(problem.path)
    baselines = problem.schema.get("series", {}).get("baselines")
    if baselines:  # a forecast's baselines, scored on the same test values as the model
        metrics["baselines"] = baselines | {"model": test_value}
    from deepstart.models.custom import paper_claim
    from deepstart.summary import model_size

    metrics["model_size"] = model_size(learner.model, data.input_shape, learner.device)
    paper = paper_claim(type(learner.model), config.paper_score)
    if paper is not None:
        metrics["paper"] = paper
    write_json(folder / "metrics.json", metrics)
