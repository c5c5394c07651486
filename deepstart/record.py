"""A run folder read back to present it: its JSON files, its history, the saved model, the prepared
data of its problem and the model's outputs on the test set. No training code runs here: the model
comes from model.json + model.safetensors (no pickle), the data from the problem in config.json
(a built-in name, or the user's file with its data options) through the same `prepare`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from deepstart.errors import DeepstartError
from deepstart.files import RESTORE, check_type, read_json

if TYPE_CHECKING:  # annotations only: importing this module stays light
    import numpy as np
    import torch

EVAL_BATCH = 4096


@dataclass
class RunRecord:
    folder: Path
    config: dict
    env: dict
    metrics: dict | None  # None while the run is unfinished
    history: list[dict]
    spec: dict | None  # model.json: family, config, preprocessing

    @property
    def finished(self) -> bool:
        return self.metrics is not None

    @property
    def metric(self) -> str | None:
        return self.metrics["metric"] if self.metrics else None

    def _repr_html_(self) -> str:
        from deepstart.notebook import run_html

        return run_html(self)


def not_a_run(folder: Path) -> DeepstartError:
    return DeepstartError(f"{folder} is not a run folder (no deepstart config.json); pass a folder "
                          "under runs/ that `deepstart run` wrote.")


def read_run(folder: str | Path) -> RunRecord:
    """The run's files, each checked as it is read: a damaged one is a DeepstartError that names it.
    An unfinished run (no metrics.json) has its history so far from the checkpoint's header, when one
    was written; a finished one must have all of its files."""
    from deepstart.history import History
    from deepstart.run import is_run_dir

    folder = Path(folder)
    if not is_run_dir(folder):
        raise not_a_run(folder)
    config = read_config(folder)
    metrics = read_metrics(folder / "metrics.json") if (folder / "metrics.json").exists() else None
    # metrics.json is written last: the other files were written before it. (Not the weights: a
    # run copied without them is still listed by the portfolio; loading the model names them.)
    if metrics is not None:
        for name in ("env.json", "history.csv", "model.json"):
            if not (folder / name).exists():
                raise DeepstartError(f"{folder / name}: the file is missing, though the run finished "
                                     f"(metrics.json is there); {RESTORE}.")
    env = read_json(folder / "env.json") if (folder / "env.json").exists() else {}
    spec = read_spec(folder / "model.json") if (folder / "model.json").exists() else None
    history: list[dict] = []
    if (folder / "history.csv").exists():
        history = History.from_csv(folder / "history.csv").rows
        epochs = [row.get("epoch") for row in history]
        if metrics is not None and epochs != list(range(1, metrics["epochs"] + 1)):
            raise DeepstartError(f"{folder / 'history.csv'}: holds epochs {_span(epochs)}, but the "
                                 f"run trained {metrics['epochs']} (metrics.json); {RESTORE}.")
    elif (folder / "checkpoint.safetensors").is_file():
        from deepstart.checkpoint import read_meta  # the header only: no torch

        history = read_meta(folder / "checkpoint")["history"]
    return RunRecord(folder, config, env, metrics, history, spec)


def _span(epochs: list) -> str:
    return f"{epochs[0]} to {epochs[-1]} ({len(epochs)} rows)" if epochs else "none"


# RunConfig's fields that an old run folder may lack get their defaults; these it cannot lack.
CONFIG_REQUIRED = ("problem", "model")
_TYPES = {"str": str, "int": int, "float": float, "bool": bool, "dict": dict, "None": type(None)}


def read_config(folder: Path) -> dict:
    """config.json, with every key one of RunConfig's fields and of its type."""
    import dataclasses

    from deepstart.run import RUN_FORMAT, RunConfig

    path = folder / "config.json"
    config = read_json(path, required={"format": str} | {k: str for k in CONFIG_REQUIRED})
    fields = {f.name: f.type for f in dataclasses.fields(RunConfig)}
    unknown = sorted(set(config) - set(fields) - {"format"})
    if unknown:
        raise DeepstartError(f"{path}: has the key \"{unknown[0]}\", which is no setting of a run "
                             f"(known: {', '.join(sorted(fields))}); {RESTORE}.")
    if config["format"] != RUN_FORMAT:
        raise DeepstartError(f"{path}: its format is {config['format']!r}, not {RUN_FORMAT!r}; "
                             f"{RESTORE}.")
    for key, value in config.items():
        if key != "format":  # annotations are strings such as "int | None" (postponed evaluation)
            types = tuple(_TYPES.get(t.strip(), object) for t in str(fields[key]).split("|"))
            check_type(path, key, value, types)
    return config


def read_metrics(path: Path) -> dict:
    """metrics.json: the test score under the metric it names, and the fields presented beside it."""
    metrics = read_json(path, required={"status": str, "metric": str, "test": dict, "problem": str,
                                        "greater_is_better": bool, "references": list,
                                        "epochs": int},
                        optional={"train": dict, "val": dict, "train_seconds": float,
                                  "baselines": dict, "metrics": list, "judged_by": str,
                                  "test_rows": int, "val_rows": int, "best_epoch": int})
    from deepstart.problems import METRICS

    metric = metrics["metric"]
    # runs before the metrics of 2026-12 have only "metric" (accuracy or rmse) and no "metrics"
    names = metrics.setdefault("metrics", [metric])
    for name in (metric, *names, metrics.get("judged_by", metric)):
        if name not in METRICS:
            raise DeepstartError(f"{path}: names the metric {name!r}, which is not one of "
                                 f"{', '.join(METRICS)}; {RESTORE}.")
    if metrics["test"].get(metric, "missing") == "missing":
        raise DeepstartError(f"{path}: \"test\" has no \"{metric}\" score; {RESTORE}.")
    for split in ("test", "train", "val"):
        for name in names if metrics.get(split) is not None else ():
            # None: undefined on the split's rows (ROC AUC of one class)
            check_type(path, f"{split}.{name}", metrics[split].get(name), float, optional=True)
    for ref in metrics["references"]:
        check_type(path, "references", ref, dict)
        for key, types in (("value", float), ("model", str), ("source", str), ("difference", float),
                           ("ours_at_least_as_good", bool)):
            check_type(path, f"references.{key}", ref.get(key), types)
    return metrics


def _leaves(value) -> list:
    return [v for item in value for v in _leaves(item)] if isinstance(value, list) else [value]


TASKS = ("binary", "multiclass", "regression", "forecast")


def read_spec(path: Path) -> dict:
    """A run's model.json: what the model is, and what turns raw inputs into its inputs."""
    spec = read_json(path, required={"family": str, "config": dict, "task": str, "input_shape": list},
                     optional={"class_names": list, "feature_names": list, "scaling": dict,
                               "loss": str, "tta": str, "problem": str, "lookback": int,
                               "horizon": int, "pixel_max": float})
    if spec["task"] not in TASKS:
        raise DeepstartError(f"{path}: \"task\" is {spec['task']!r}, not one of {', '.join(TASKS)}; "
                             f"{RESTORE}.")
    shape = spec["input_shape"]
    if not shape or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in shape):
        raise DeepstartError(f"{path}: \"input_shape\" is {shape!r}, not a list of positive sizes; "
                             f"{RESTORE}.")
    for part, entry in (spec.get("scaling") or {}).items():  # x' = (x - offset) / scale
        check_type(path, f"scaling.{part}", entry, dict)
        for key in ("offset", "scale"):
            values = _leaves(entry.get(key))  # a number, or one per feature (pixels: nested lists)
            for v in values:
                check_type(path, f"scaling.{part}.{key}", v, float)
            if len(values) not in (1, math.prod(shape) if part == "x" else 1):
                raise DeepstartError(f"{path}: \"scaling.{part}.{key}\" has {len(values)} values for "
                                     f"inputs of shape {shape}; {RESTORE}.")
    return spec


def require_finished(record: RunRecord, what: str) -> None:
    if not record.finished or record.spec is None:
        raise DeepstartError(f"{record.folder} has not finished (no metrics.json or saved model yet), "
                             f"so there is no model to {what}; finish it with "
                             f"`deepstart run --resume {record.folder}`.")


def load_problem(record: RunRecord):
    from deepstart.problems import get_problem

    return get_problem(record.config["problem"], record.config.get("data_options") or {})


def load_data(record: RunRecord, problem=None):
    """(raw Dataset, Prepared) as the run had them: same split, seed, look-back and scaling. Data
    that is not on this machine is not downloaded: the caller says what is missing."""
    from deepstart.prepare import prepare

    problem = problem or load_problem(record)
    raw = problem.load(download=False)
    c = record.config
    prepared = prepare(raw, problem, val_split=c.get("val_split", 0.1), seed=c.get("seed", 0),
                       lookback=c.get("lookback"), scale=c.get("scale"))
    return raw, prepared


def load_trained_model(record: RunRecord):
    from deepstart.models import load_model

    require_finished(record, "load")
    return load_model(record.folder)


@dataclass
class Outputs:
    """The model on a set of inputs: raw outputs, predictions in the problem's terms, and for
    classes the probabilities; with targets, the true values and each example's loss."""

    raw: torch.Tensor  # (N, outputs)
    predicted: np.ndarray  # class indices, or values in the target's units
    proba: np.ndarray | None  # (N, classes)
    true: np.ndarray | None = None
    loss: np.ndarray | None = None  # (N,): per-example loss, in the training loss's terms


def model_outputs(model, spec: dict, x, y=None, scaling: dict | None = None) -> Outputs:
    """Run `model` (eval mode, fp32, CPU) on prepared inputs `x`; `y` prepared targets."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    model.eval()
    with torch.inference_mode():
        outs = [model(x[i:i + EVAL_BATCH]).float() for i in range(0, len(x), EVAL_BATCH)]
    out = torch.cat(outs) if outs else torch.zeros(0, 1)
    task, loss_name = spec["task"], spec.get("loss")
    scaling = scaling if scaling is not None else spec.get("scaling", {})
    proba = true = loss = None
    if task == "multiclass":
        proba = torch.softmax(out, 1).numpy()
        predicted = out.argmax(1).numpy()
        if y is not None:
            true = y.numpy()
            loss = F.cross_entropy(out, y, reduction="none").numpy()
    elif task == "binary":
        logits = loss_name == "bce"
        p = torch.sigmoid(out) if logits else out.clamp(0, 1)
        proba = torch.cat([1 - p, p], 1).numpy()
        predicted = (out > (0.0 if logits else 0.5)).reshape(-1).long().numpy()
        if y is not None:
            true = y.reshape(-1).long().numpy()
            loss = (F.binary_cross_entropy_with_logits(out, y, reduction="none") if logits
                    else (out - y).square()).reshape(-1).numpy()
    else:
        s = scaling.get("y", {"offset": 0.0, "scale": 1.0})
        predicted = out.reshape(-1).numpy() * s["scale"] + s["offset"]
        if y is not None:
            true = y.reshape(-1).numpy() * s["scale"] + s["offset"]
            loss = (predicted - true) ** 2  # squared error in the target's units
    return Outputs(out, np.asarray(predicted), proba, true, loss)


def score(outputs: Outputs, metric: str) -> float | None:
    """`metric` of the outputs against their true values (None: undefined on these rows); ROC AUC
    ranks by the probability of class 1."""
    from deepstart.problems.metrics import compute

    proba = outputs.proba[:, -1] if outputs.proba is not None else None
    return compute(metric, outputs.true, outputs.predicted, score=proba)
