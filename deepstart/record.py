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
from deepstart.files import read_json

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


def not_a_run(folder: Path) -> DeepstartError:
    return DeepstartError(f"{folder} is not a run folder (no deepstart config.json); pass a folder "
                          "under runs/ that `deepstart run` wrote.")


def read_run(folder: str | Path) -> RunRecord:
    """The run's files; an unfinished run (no metrics.json) has its history so far from the
    checkpoint's header, when one was written."""
    from deepstart.history import History
    from deepstart.run import is_run_dir

    folder = Path(folder)
    if not is_run_dir(folder):
        raise not_a_run(folder)
    config = read_json(folder / "config.json")
    env = _read_optional(folder / "env.json") or {}
    metrics = _read_optional(folder / "metrics.json")
    spec = _read_optional(folder / "model.json")
    history: list[dict] = []
    if (folder / "history.csv").is_file():
        history = History.from_csv(folder / "history.csv").rows
    elif (folder / "checkpoint.safetensors").is_file():
        from deepstart.checkpoint import read_meta  # the header only: no torch

        history = read_meta(folder / "checkpoint")["history"]
    return RunRecord(folder, config, env, metrics, history, spec)


def _read_optional(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        return read_json(path)
    except (OSError, ValueError) as e:
        raise DeepstartError(f"{path} is not readable JSON ({e}); the run folder is damaged.") from None


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


def score(outputs: Outputs, metric: str) -> float:
    import numpy as np

    if metric == "accuracy":
        return float(np.mean(outputs.predicted == outputs.true))
    return math.sqrt(float(np.mean((outputs.predicted - outputs.true) ** 2)))
