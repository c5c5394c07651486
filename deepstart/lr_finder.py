"""The learning-rate range test (Smith 2017, "Cyclical learning rates", section 3.3; popularised by
fastai's lr_find): train for a short while with the learning rate growing exponentially from
`start_lr` to `end_lr`, one batch per value, and watch the loss.

The suggestion rule, stated wherever it is shown: the learning rate at the minimum of the smoothed
loss, divided by 10 (fastai's `minimum` rule: at the minimum the loss is already about to blow up,
so an order of magnitude less trains fast and stays stable). The steepest descent point is
reported too. The sweep stops early once the smoothed loss exceeds 4x its minimum.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from deepstart.errors import DeepstartError

RULE = "the learning rate at the minimum of the smoothed loss, divided by 10"


@dataclass
class LRFinderResult:
    lrs: list[float]
    losses: list[float]  # smoothed (exponential moving average, bias-corrected)
    suggestion: float
    lr_at_minimum: float
    steepest: float
    rule: str = RULE
    # what the sweep trained: a pretrained model's head alone (its body frozen, as in the run's
    # first epochs) or the whole net, every group at its share of the swept rate
    part: str = "the whole model"


    def plot(self, path: str | Path, title: str = "") -> Path:
        from deepstart.console import offscreen_figures

        offscreen_figures()
        import matplotlib.pyplot as plt

        from deepstart.files import atomic_path

        fig, ax = plt.subplots(figsize=(7, 4.5), constrained_layout=True)
        ax.plot(self.lrs, self.losses, lw=2)
        ax.set_xscale("log")
        ax.axvline(self.suggestion, color="tab:green", ls="--",
                   label=f"suggested {self.suggestion:.2g} (minimum / 10)")
        ax.axvline(self.lr_at_minimum, color="tab:red", ls=":",
                   label=f"minimum {self.lr_at_minimum:.2g}")
        ax.axvline(self.steepest, color="tab:orange", ls=":",
                   label=f"steepest descent {self.steepest:.2g}")
        ax.set_xlabel("learning rate (log scale)")
        ax.set_ylabel("training loss (smoothed)")
        ax.grid(alpha=0.3, which="both")
        ax.legend()
        ax.set_title(title or "learning-rate range test")
        path = Path(path)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
        plt.close(fig)
        return path


def find_lr(learner, start_lr: float = 1e-7, end_lr: float = 10.0, steps: int = 100,
            smoothing: float = 0.05, stop_factor: float = 4.0) -> LRFinderResult:
    if not 0 < start_lr < end_lr:
        raise DeepstartError(f"the sweep needs 0 < start_lr < end_lr; received {start_lr}, {end_lr}.")
    if steps < 10:
        raise DeepstartError(f"a sweep of {steps} steps is too short to read; use at least 10.")
    saved = learner.state()
    scheduler, learner.scheduler = learner.scheduler, None  # the sweep sets the lr itself
    lrs = np.geomspace(start_lr, end_lr, steps)
    n = len(learner._tensors["x_train"])
    tried, smoothed = [], []
    avg, best = 0.0, math.inf
    # At the top of the sweep weights blow up through denormal floats, which are 10-100x slower
    # on CPUs; flushing them to zero keeps the last steps as fast as the first.
    flushed = torch.set_flush_denormal(True)
    try:
        batches = iter(())
        learner._train_model.train()
        for i, lr in enumerate(lrs):
            for group in learner.opt.param_groups:  # discriminative rates keep their ratios
                group["lr"] = float(lr) * group.get("lr_scale", 1.0)
            batch = next(batches, None)
            if batch is None:  # a new permutation whenever the data runs out
                batches = learner._batches(learner._shard(torch.randperm(n, generator=learner.generator))
                                           .to(learner.device))
                batch = next(batches)
            _, loss = learner._train_step(*batch)
            value = float(loss)
            if not math.isfinite(value):
                break
            avg = smoothing * value + (1 - smoothing) * avg
            current = avg / (1 - (1 - smoothing) ** (i + 1))
            tried.append(float(lr))
            smoothed.append(current)
            best = min(best, current)
            if current > stop_factor * best and i > steps // 10:
                break
    finally:
        if flushed:
            torch.set_flush_denormal(False)
        learner.load_state(saved)
        learner.scheduler = scheduler
    if len(tried) < 5:
        raise DeepstartError(f"the loss diverged within {len(tried)} steps of the sweep; start it "
                             f"lower (start_lr below {start_lr:g}).")
    at_min = int(np.argmin(smoothed))
    # steepest descent: the most negative slope of the smoothed loss against log(lr), before the minimum
    slopes = np.gradient(np.array(smoothed[: at_min + 1]), np.log(tried[: at_min + 1])) \
        if at_min >= 2 else np.array([0.0])
    steepest = tried[int(np.argmin(slopes))]
    return LRFinderResult(lrs=tried, losses=smoothed, suggestion=tried[at_min] / 10,
                          lr_at_minimum=tried[at_min], steepest=steepest, part=_part(learner))


def _part(learner) -> str:
    if not getattr(learner, "pretrained", False):
        return "the whole model"
    if learner.frozen:
        return "the head alone, on the body's features computed once"
    if learner.body_frozen():
        return "the head alone (the body frozen, as in the run's first epochs)"
    return ("the whole net at discriminative rates (the head at the swept rate, the body's groups "
            "at " + ", ".join(f"{g['lr_scale']:.2g}" for g in learner.opt.param_groups[1:])
            + " of it)")
