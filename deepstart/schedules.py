"""Learning-rate schedules by name, built on PyTorch's own schedulers and stepped once per batch.

    constant   the optimizer's lr throughout
    step       lr x gamma (0.1) every `step_epochs` epochs (default: a third of the run)
    cosine     cosine annealing from lr to 0 over the run (Loshchilov & Hutter 2017, SGDR)
    onecycle   fastai-style one cycle (Smith & Topin 2018): from lr / 25 up to lr over the first
               25 % of the steps, then cosine down to lr / 25 / 1e4; momentum (or Adam's beta1)
               cycles inversely, between 0.85 and 0.95

`warmup_epochs` puts a linear warm-up from lr / 10 in front of constant, step or cosine (one-cycle
has its own). Every schedule but `constant` needs the run's total number of steps up front.
"""

from __future__ import annotations

import torch
from torch.optim import lr_scheduler

from deepstart.errors import DeepstartError, unknown_name

SCHEDULES = ("constant", "step", "cosine", "onecycle")


def check_schedule(name: str) -> None:
    if name not in SCHEDULES:
        raise unknown_name("schedule", name, SCHEDULES)


def make_schedule(name: str, optimizer: torch.optim.Optimizer, *, total_steps: int | None,
                  steps_per_epoch: int, warmup_epochs: float = 0.0,
                  step_epochs: int | None = None, gamma: float = 0.1):
    """A scheduler to call `.step()` after every optimizer step, or None for `constant` without
    warm-up."""
    check_schedule(name)
    if name == "constant" and not warmup_epochs:
        return None
    if total_steps is None and name != "constant":
        raise DeepstartError(f"the '{name}' schedule needs the total number of steps; train with "
                             "fit(epochs) so the run's length is known, or use schedule='constant'.")
    if name == "onecycle":
        max_lr = [group["lr"] for group in optimizer.param_groups]
        if total_steps < 2:
            return None  # one step has no cycle: it trains at lr
        # fastai's pct_start (0.25); PyTorch's default is 0.3. PyTorch divides by zero when the
        # warm-up ends within the first step (under 5 steps in all: a few dozen images), so it
        # lasts at least a step and a half there.
        return lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, total_steps=total_steps,
                                       pct_start=max(0.25, min(0.75, 1.5 / total_steps)))
    warmup = int(round(warmup_epochs * steps_per_epoch))
    if total_steps is not None and warmup >= total_steps:
        raise DeepstartError(f"a warm-up of {warmup_epochs} epochs is as long as the whole run; "
                             "shorten it or train for more epochs.")
    main_steps = None if total_steps is None else total_steps - warmup
    if name == "constant":
        main = lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)
    elif name == "step":
        every = (step_epochs or max(1, round(main_steps / steps_per_epoch / 3))) * steps_per_epoch
        main = lr_scheduler.StepLR(optimizer, step_size=every, gamma=gamma)
    else:
        main = lr_scheduler.CosineAnnealingLR(optimizer, T_max=main_steps)
    if not warmup:
        return main
    start = lr_scheduler.LinearLR(optimizer, start_factor=0.1, end_factor=1.0, total_iters=warmup)
    return lr_scheduler.SequentialLR(optimizer, [start, main], milestones=[warmup])
