"""Callbacks: plain objects whose methods the Learner calls when present —
`on_fit_start(learner)`, `on_epoch_end(learner, row)`, `on_fit_end(learner)`. Nothing to subclass."""

from __future__ import annotations

import math
import time
from pathlib import Path


class EarlyStopping:
    """Stop when `monitor` has not improved by `min_delta` for `patience` epochs; with
    `restore_best`, put back the weights of the best epoch when fitting ends."""

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0,
                 restore_best: bool = True, mode: str = "auto"):
        self.monitor, self.patience, self.min_delta = monitor, patience, min_delta
        self.restore_best = restore_best
        if mode == "auto":  # a loss or an error down, a score up
            from deepstart.problems import METRICS

            mode = "max" if METRICS.get(monitor.removeprefix("val_"), "loss" not in monitor) else "min"
        self.mode = mode
        self.best = math.inf if mode == "min" else -math.inf
        self.best_epoch = 0
        self.best_weights: dict | None = None
        self.wait = 0

    def _improved(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, learner, row: dict) -> None:
        value = row.get(self.monitor)
        if value is None:
            from deepstart.errors import DeepstartError

            raise DeepstartError(f"EarlyStopping monitors '{self.monitor}', which the history does "
                                 f"not have (it has: {', '.join(row)}); a val_ metric needs val_split > 0.")
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, row["epoch"], 0
            if self.restore_best:
                self.best_weights = {k: v.detach().clone() for k, v in learner.model.state_dict().items()}
        else:
            self.wait += 1
            if self.wait >= self.patience:
                learner.stop_training = True

    def on_fit_end(self, learner) -> None:
        if self.restore_best and self.best_weights is not None:
            learner.model.load_state_dict(self.best_weights)


class Checkpoint:
    """Save the whole training state to `path` (one .safetensors file) after every `every` epochs,
    but not sooner than `min_seconds` after the last save, so a crash loses at most that much
    work and `--resume` continues exactly. (Ctrl-C needs no checkpoint: the Learner saves its
    last completed epoch itself.) `min_seconds` keeps tiny problems, with thousands of
    millisecond epochs, from spending their time writing files."""

    def __init__(self, path: str | Path, every: int = 1, min_seconds: float = 0.0):
        self.path, self.every, self.min_seconds = Path(path), every, min_seconds
        self._last = -math.inf

    def on_epoch_end(self, learner, row: dict) -> None:
        now = time.monotonic()
        if row["epoch"] % self.every == 0 and now - self._last >= self.min_seconds:
            learner.save_checkpoint(self.path)
            self._last = now
