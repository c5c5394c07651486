"""Learner: fit / evaluate / predict for any torch.nn.Module, with the one training loop.

The data lives in memory as tensors; an epoch is a random permutation cut into index slices, so no
per-sample Python runs and no DataLoader machinery sits between the tensors and the model. Losses
and metrics are accumulated as tensors and read once per epoch, so steps never wait on the host.
"""

from __future__ import annotations

import math
import time
from functools import partial
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deepstart import augment as augment_module
from deepstart import devices, distributed
from deepstart.errors import DeepstartError, unknown_name
from deepstart.history import History
from deepstart.models import tta as tta_module
from deepstart.prepare import Prepared, numeric_inputs, prepare, prepare_arrays
from deepstart.problems import METRICS, TASK_METRICS, Problem, check_metric, get_problem
from deepstart.problems import metrics as metrics_module

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop")
LOSSES = ("cross_entropy", "bce", "mse", "sse")
DEFAULT_LOSS = {"multiclass": "cross_entropy", "binary": "bce", "regression": "mse", "forecast": "mse"}
EVAL_BATCH = 4096  # rows per forward pass when evaluating: big enough to amortise, small in memory
# Convolutional nets on the CPU score faster in small batches (their activations stay in cache):
# 8,192 images through the convnet recipe took 1.29 s in batches of 256 against 2.19 s in batches
# of 4,096, and through ResNet-20 5.1 s against 10.6 s.
CONV_CPU_EVAL_BATCH = 256


# Text: a batch costs what its longest text costs (a text model trims the padding after it), so
# training rows are shuffled, sorted by length within chunks of this many batches, cut into
# batches, and the batches shuffled: each batch holds texts of like lengths, and the mix still
# changes every epoch (benchmarks/text_batches.py measures what it saves).
BUCKET_BATCHES = 50


class TrainingDiverged(DeepstartError):
    pass


class TrainingInterrupted(Exception):
    """Ctrl-C during fit: the learner is back at the end of its last completed epoch."""

    def __init__(self, epoch: int, checkpoint: Path | None):
        super().__init__(f"interrupted after {epoch} completed epochs")
        self.epoch = epoch
        self.checkpoint = checkpoint


def check_positive(name: str, value, kind=float) -> None:
    """Keras-style: say what was expected and what arrived."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if kind is int:
        ok = ok and float(value).is_integer()
    if not ok or value <= 0:
        what = "a positive integer" if kind is int else "a positive number"
        raise DeepstartError(f"{name} must be {what}; received {name}={value!r}.")


def make_optimizer(name: str, params, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """Optimizers by name. The fused implementations are the fastest on CPU and GPU (Adam's step
    took 0.61 ms fused vs 2.38 ms by default for the MLP 256-256, see docs/benchmarks.md); where a
    build lacks them, the multi-tensor `foreach` path is next best."""
    if name not in OPTIMIZERS:
        raise unknown_name("optimizer", name, OPTIMIZERS)
    params = list(params)
    cls, kwargs = {
        "sgd": (torch.optim.SGD, {}),
        "momentum": (torch.optim.SGD, {"momentum": 0.9}),
        "nesterov": (torch.optim.SGD, {"momentum": 0.9, "nesterov": True}),
        "adam": (torch.optim.Adam, {}),
        "adamw": (torch.optim.AdamW, {}),
        "rmsprop": (torch.optim.RMSprop, {}),
    }[name]
    try:
        return cls(params, lr=lr, weight_decay=weight_decay, fused=True, **kwargs)
    except (RuntimeError, TypeError):
        return cls(params, lr=lr, weight_decay=weight_decay, foreach=True, **kwargs)


def _loss_fn(name, label_smoothing: float = 0.0):
    if callable(name):
        return name
    if name not in LOSSES:
        raise unknown_name("loss", name, LOSSES)
    if label_smoothing and name != "cross_entropy":
        raise DeepstartError(f"label smoothing applies to the cross-entropy of several classes, "
                             f"not to the '{name}' loss; drop label_smoothing.")
    return {
        "cross_entropy": partial(F.cross_entropy, label_smoothing=label_smoothing),
        "bce": F.binary_cross_entropy_with_logits,
        "mse": F.mse_loss,
        # sum of squared errors over the batch, as the articles' perceptron minimises
        "sse": lambda out, y: (out - y).square().sum(),
    }[name]


class Learner:
    """Train any `torch.nn.Module` on a problem, a Prepared, or (x, y) arrays.

    >>> learner = Learner("mlp", "digits", lr=1e-3, batch_size=32)   # doctest: +SKIP
    >>> learner.fit(20); learner.evaluate()                          # doctest: +SKIP
    {'accuracy': 0.97, 'macro_f1': 0.97, 'loss': 0.09}

    `model` may be a zoo name ("mlp", "logistic", ...; `model_options` go to its config) or any
    module that maps a batch of inputs to logits (classification) or values (regression).
    `augment` transforms training batches; `tta="flip"` scores (validation, test, predictions) an
    image classifier by its mean probabilities over each image and its mirror image.
    `metric` (one of the task's, deepstart.problems.TASK_METRICS) is the one the history's
    training and validation score columns lead with and that callbacks judge; by default the
    problem's own.
    A pretrained model (deepstart.pretrained) trains its head at `lr` and its body's groups at
    discriminative rates (deepstart.models.finetune); `freeze` keeps the body frozen throughout,
    `unfreeze_after=N` for the first N epochs; `frozen` trains the head alone on features the
    body computes once (cached at `features_path` when set).
    """

    def __init__(self, model: nn.Module | str, data, *, optimizer: str = "adam", lr: float = 1e-3,
                 batch_size: int = 64, loss=None, val_split: float = 0.1, weight_decay: float = 0.0,
                 schedule: str = "constant", warmup_epochs: float = 0.0, clip_grad: float | None = None,
                 label_smoothing: float = 0.0, seed: int = 0, callbacks: Sequence = (),
                 device: str = "auto", precision: str = "auto", channels_last: bool | str = "auto",
                 compile: bool = False, augment: str | None = None, tta: str | None = None,
                 verbose: int = 1, model_options: dict | None = None, lookback: int | None = None,
                 metric: str | None = None, freeze: bool = False, unfreeze_after: int | None = None,
                 frozen: bool = False):
        from deepstart.schedules import check_schedule

        check_positive("lr", lr)
        check_positive("batch_size", batch_size, int)
        if not isinstance(seed, int) or seed < 0:
            raise DeepstartError(f"seed must be a non-negative integer; received seed={seed!r}.")
        # written so that NaN fails too (it passes `x < 0`)
        for name, value in (("weight_decay", weight_decay), ("warmup_epochs", warmup_epochs)):
            if not (isinstance(value, (int, float)) and 0 <= value < math.inf):
                raise DeepstartError(f"{name} must be a number >= 0; received {name}={value!r}.")
        if not 0 <= label_smoothing < 1 or (clip_grad is not None and not 0 < clip_grad < math.inf):
            raise DeepstartError("label_smoothing must be in [0, 1) and clip_grad > 0; received "
                                 f"{label_smoothing}, {clip_grad}.")
        check_schedule(schedule)
        if metric is not None and metric not in METRICS:  # before the data loads
            raise unknown_name("metric", metric, METRICS)
        self.optimizer_name, self.lr, self.batch_size = optimizer, lr, int(batch_size)
        self.weight_decay, self.seed, self.verbose = weight_decay, seed, verbose
        self.schedule, self.warmup_epochs, self.clip_grad = schedule, warmup_epochs, clip_grad
        # as given, for the run folder `save` writes
        self.settings = {"val_split": val_split, "label_smoothing": label_smoothing,
                         "augment": augment, "device": device, "compile": compile,
                         "precision": precision, "freeze": freeze, "unfreeze_after": unfreeze_after,
                         "frozen": frozen}
        self.callbacks = list(callbacks)
        self.rank, self.world_size = distributed.rank(), distributed.world_size()
        self.device = devices.resolve_device(device)
        if self.world_size > 1 and self.device.type == "cuda" and self.device.index is None:
            self.device = torch.device("cuda", torch.cuda.current_device())  # this rank's GPU
        self.precision = devices.resolve_precision(precision, self.device)
        self.problem: Problem | None = None
        self.data = self._prepare(data, val_split, seed, lookback)
        self.augment = augment_module.parse_augment(augment)  # training batches only
        augment_module.check_images(self.augment, self.data.input_shape)
        self.loss_name = loss if loss is not None else DEFAULT_LOSS[self.data.task]
        self.loss_fn = _loss_fn(self.loss_name, label_smoothing)
        # scoring (validation, test, predictions): the mean over each image and its mirror image
        self.tta = tta_module.parse_tta(tta)
        tta_module.check_tta(self.tta, self.data.input_shape, self.loss_name)
        # Logits go through 0 at p = 0.5; a squared-error output is a value to compare with 0.5.
        self.threshold = 0.0 if self.loss_name == "bce" else 0.5

        torch.manual_seed(seed)  # the initial weights of a zoo model depend on the seed only
        if isinstance(model, str):
            from deepstart.models import build_model

            model = build_model(model, self.data.input_shape, self.data.n_outputs, self.data.task,
                                text=self.data.text, **(model_options or {}))
        if not isinstance(model, nn.Module):
            raise DeepstartError(f"model must be a torch.nn.Module or a zoo name; received "
                                 f"{type(model).__name__}.")
        self._check_outputs(model)
        if self.world_size > 1:
            torch.manual_seed(seed + self.rank)  # same weights everywhere, own dropout per rank
        self.channels_last = devices.want_channels_last(channels_last, model, self.device)
        self.eval_batch = (CONV_CPU_EVAL_BATCH if self.device.type == "cpu" and devices.has_conv2d(model)
                           else EVAL_BATCH)
        self.model = model.to(self.device)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self._setup_finetune(freeze, unfreeze_after, frozen)
        self.opt = make_optimizer(optimizer, self._params(lr), lr, weight_decay)
        self.scaler = devices.grad_scaler(self.precision, self.device)
        self.compile = compile
        self.compile_seconds: float | None = None
        self.scheduler = None
        self._scheduler_state: dict | None = None
        self.planned_epochs: int | None = None  # the schedule's length, set by the first fit
        self.generator = torch.Generator().manual_seed(seed)  # the epochs' permutations
        self.metric = metric or (self.problem.metric if self.problem is not None
                                 else TASK_METRICS[self.data.task][0])
        check_metric(self.metric, self.data.task)
        self.history = History(metric=self.metric)
        self.epoch = 0  # completed epochs
        self._body_trainable: bool | None = None  # set by _apply_freezing, with what trains
        self._apply_freezing()
        self.stop_training = False
        self.checkpoint_path: Path | None = None  # where Ctrl-C saves the state, if set
        self._tensors = {k: getattr(self.data, k).to(self.device) for k in
                         ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")}
        # 1 sorts within single batches, i.e. no bucketing at all
        self.bucket_batches = BUCKET_BATCHES
        self._lengths = (self._text_lengths(self._tensors["x_train"])
                         if self.data.text is not None and not self.frozen else None)
        self._snapshot = self.state()

    # --- fine-tuning a pretrained model (deepstart.models.finetune) --------------------------------
    def _setup_finetune(self, freeze: bool, unfreeze_after: int | None, frozen: bool) -> None:
        from deepstart.models import finetune

        self.pretrained = finetune.is_pretrained(self.model)
        asked = ("freeze" if freeze else "frozen" if frozen else
                 "unfreeze_after" if unfreeze_after is not None else None)
        if asked and not self.pretrained:
            raise DeepstartError(f"{asked} fine-tunes a pretrained model, and this "
                                 f"{type(self.model).__name__} is none; pretrained families: "
                                 f"{', '.join(finetune.pretrained_families())}.")
        if unfreeze_after is not None and (isinstance(unfreeze_after, bool) or not isinstance(
                unfreeze_after, int) or unfreeze_after < 0):
            raise DeepstartError(f"unfreeze_after must be a whole number of epochs >= 0; received "
                                 f"unfreeze_after={unfreeze_after!r}.")
        if frozen and self.augment:
            raise DeepstartError("frozen features are computed once per image, so training batches "
                                 "cannot be augmented; drop augment (--augment none).")
        self.freeze, self.unfreeze_after, self.frozen = bool(freeze), unfreeze_after, bool(frozen)
        self.features_path: Path | None = None  # --frozen: where the features are cached
        self._frozen: dict[str, torch.Tensor] | None = None  # their features, once computed

    def _params(self, lr: float):
        """What the optimizer updates: a pretrained model's head and body groups (the head alone
        with frozen features), any other model's parameters."""
        if not self.pretrained:
            return self.model.parameters()
        from deepstart.models.finetune import param_groups

        groups = param_groups(self.model, lr)
        return groups[:1] if self.frozen else groups

    def body_frozen(self, epoch: int | None = None) -> bool:
        """Whether the body is frozen in the epoch after `epoch` completed ones (default: now)."""
        epoch = self.epoch if epoch is None else epoch
        return self.pretrained and (self.freeze or self.frozen or (
            self.unfreeze_after is not None and epoch < self.unfreeze_after))

    def _apply_freezing(self) -> None:
        """Freeze or unfreeze the body for the coming epoch (a function of the epoch count alone,
        so a resumed run is in the state the uninterrupted one was); the optimizer keeps its
        groups (frozen parameters get no gradient, so it leaves them alone), and what trains is
        wrapped again where a wrapper records which parameters train (DDP, compile)."""
        trainable = not self.body_frozen()
        if trainable == self._body_trainable:
            return
        if self.pretrained:
            from deepstart.models.finetune import describe_groups, set_body_trainable

            set_body_trainable(self.model, trainable)
            if self._body_trainable is not None and trainable and self.verbose > 0 and self.rank == 0:
                from deepstart.console import console

                console.print(f"unfrozen the body after epoch {self.epoch}: "
                              f"{describe_groups(self.opt.param_groups, self.lr)}, as the "
                              f"schedule's peak rates", highlight=False, soft_wrap=True)
        self._body_trainable = trainable
        # What trains: the model (with ReLU -> max-pool pairs run in the cheaper, bitwise-equal
        # order), or the head alone on frozen features, wrapped for gradient averaging across
        # processes, and compiled if asked. Evaluation and saving use self.model itself.
        self._train_model = self.model.head if self.frozen else devices.pool_before_relu(self.model)
        if self.world_size > 1:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self._train_model = DistributedDataParallel(
                self.model.head if self.frozen else self.model, device_ids=ids)
        if self.compile:
            self._train_model = torch.compile(self._train_model)

    def frozen_features(self) -> dict[str, torch.Tensor]:
        """frozen: each split's `model.features`, computed once (or read from `features_path`)."""
        if self._frozen is None:
            from deepstart.models.finetune import cached_features

            say = None
            if self.verbose > 0 and self.rank == 0:
                from deepstart.console import console

                say = lambda line: console.print(line, highlight=False, soft_wrap=True)  # noqa: E731
            inputs = {s: self._tensors[f"x_{s}"] for s in ("train", "val", "test")}
            self._frozen = cached_features(self.model, inputs, self.features_path,
                                           self.eval_batch, self._autocast, say)
        return self._frozen

    def _check_outputs(self, model: nn.Module) -> None:
        """One batch of two training rows through a model the zoo did not build, before training:
        the outputs must be (rows, n_outputs), or the loss would broadcast into a wrong number."""
        from deepstart.models import FAMILIES
        from deepstart.models.custom import check_outputs

        if getattr(model, "family", None) in FAMILIES or not len(self.data.x_train):
            return
        check_outputs(model, self.data.x_train[:2], self.data.n_outputs, self.data.task)

    # --- data ---------------------------------------------------------------------------------------
    def _prepare(self, data, val_split: float, seed: int, lookback: int | None) -> Prepared:
        if isinstance(data, Prepared):
            return data
        if isinstance(data, (str, Problem)):
            self.problem = get_problem(data)
            return prepare(self.problem.load(), self.problem, val_split=val_split, seed=seed,
                           lookback=lookback or self.problem.recipe.get("lookback"))
        if isinstance(data, tuple) and len(data) == 2:
            return prepare_arrays(*data, val_split=val_split, seed=seed)
        raise DeepstartError("data must be a problem name, a Problem, a Prepared or a tuple (x, y); "
                             f"received {type(data).__name__}.")

    # --- training -----------------------------------------------------------------------------------
    def _call(self, hook: str, *args) -> None:
        for cb in self.callbacks:
            method = getattr(cb, hook, None)
            if method is not None:
                method(self, *args)

    @property
    def metrics(self) -> tuple[str, ...]:
        """The metrics evaluate() reports: the problem's first (the one its references use), then
        the task's others (with the judged `metric` among them)."""
        first = self.problem.metric if self.problem is not None else self.metric
        return (first, *(m for m in TASK_METRICS[self.data.task] if m != first))

    def _rows(self, out: torch.Tensor) -> torch.Tensor:
        """What the metrics need of each row's output: the class index of several classes, else
        the output itself, flat (a logit or values; ROC AUC ranks rows by it)."""
        if self.data.task == "multiclass":
            return out.argmax(1)
        return out.float().reshape(-1)

    def _score_rows(self, rows: torch.Tensor, y: torch.Tensor) -> dict[str, float | None]:
        """Each of `metrics` over all rows, from `_rows` and the targets. With several processes
        each holds a share of the rows: they are gathered, since ROC AUC and F1 are no sums over
        rows, so every rank gets what one process scoring all rows would. None: undefined."""
        rows = distributed.gather_rows(rows, self.device).cpu().numpy()
        # flat: one value per row, or per row and output (several targets: the RMSE over all)
        true = distributed.gather_rows(y.reshape(-1), self.device).cpu().numpy()
        score = None
        if self.data.task == "multiclass":
            predicted = rows
        elif self.data.task == "binary":
            predicted, score, true = (rows > self.threshold).astype(np.int64), rows, true > 0.5
        else:  # in the target's units (the offset cancels in a difference)
            scale = self.data.scaling.get("y", {"scale": 1.0})["scale"]
            predicted, true = rows.astype(np.float64) * scale, true.astype(np.float64) * scale
        return {m: metrics_module.compute(m, true, predicted, score) for m in self.metrics}

    def _shard(self, perm: torch.Tensor) -> torch.Tensor:
        """This process's part of an epoch's permutation: every world_size-th index from its rank,
        cut to the same length on every rank (DDP needs equal step counts; the few rows left over
        change with the permutation each epoch)."""
        if self.world_size == 1:
            return perm
        usable = len(perm) // self.world_size * self.world_size
        return perm[self.rank:usable:self.world_size]

    def _make_scheduler(self, steps_per_epoch: int, epochs: int) -> None:
        from deepstart.schedules import make_schedule

        if self.scheduler is not None:
            if self.epoch + epochs > self.planned_epochs:
                raise DeepstartError(
                    f"the '{self.schedule}' schedule was planned over {self.planned_epochs} epochs "
                    f"and {self.epoch} are done; it has no steps for {epochs} more. Give the whole "
                    "length in one fit(epochs) call, or use schedule='constant'.")
            return
        self.planned_epochs = self.planned_epochs or self.epoch + epochs
        groups = [{k: v for k, v in g.items() if k != "params"} for g in self.opt.param_groups]
        self.scheduler = make_schedule(
            self.schedule, self.opt, total_steps=self.planned_epochs * steps_per_epoch,
            steps_per_epoch=steps_per_epoch, warmup_epochs=self.warmup_epochs)
        if self.scheduler is not None and self._scheduler_state is not None:
            # Resuming: a new scheduler resets the optimizer's lr (and one-cycle's momentum) to
            # their starting values; put back where the saved run was.
            self.scheduler.load_state_dict(self._scheduler_state)
            for group, saved in zip(self.opt.param_groups, groups):
                group.update(saved)

    def _train_step(self, xb: torch.Tensor, yb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward, backward, optimizer step; returns the (detached) outputs and loss."""
        with self._autocast():
            out = self._train_model(xb)
            if isinstance(out, tuple):  # main output + auxiliary classifiers (GoogLeNet)
                out, *aux = out
                weight = getattr(self.model, "aux_weight", 0.3)
                loss = self.loss_fn(out, yb) + weight * sum(self.loss_fn(a, yb) for a in aux)
            else:
                loss = self.loss_fn(out, yb)
        self.opt.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            if self.clip_grad:
                self.scaler.unscale_(self.opt)
                nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_grad, foreach=True)
            self.scaler.step(self.opt)
            self.scaler.update()
        else:
            loss.backward()
            if self.clip_grad:
                nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_grad, foreach=True)
            self.opt.step()
        if self.scheduler is not None:
            self.scheduler.step()
        return out.detach(), loss.detach()

    def _autocast(self):
        return devices.autocast(self.precision, self.device)

    def _text_lengths(self, x: torch.Tensor) -> torch.Tensor:
        """Each row's text length in tokens: padding (id 0) comes only after a text's tokens."""
        start, length = self.data.text["text_start"], self.data.text["text_length"]
        return (x[:, start:start + length] != 0).sum(1)

    def _batch_indices(self, perm: torch.Tensor) -> list[torch.Tensor]:
        """The epoch's batches as index slices of `perm`; for text bucketed by length (above)."""
        b = self.batch_size
        if self._lengths is None:
            return [perm[i:i + b] for i in range(0, len(perm), b)]
        lengths, chunk, batches = self._lengths.index_select(0, perm), b * self.bucket_batches, []
        for start in range(0, len(perm), chunk):
            part = perm[start:start + chunk]
            part = part[torch.argsort(lengths[start:start + chunk], stable=True)]
            batches += [part[i:i + b] for i in range(0, len(part), b)]
        order = torch.randperm(len(batches), generator=self.generator).tolist()
        return [batches[i] for i in order]

    def _batches(self, perm: torch.Tensor):
        x, y = self._tensors["x_train"], self._tensors["y_train"]
        if self.frozen:
            x = self.frozen_features()["train"]
        for idx in self._batch_indices(perm):
            xb = x.index_select(0, idx)
            if self.augment:
                xb = augment_module.augment(xb, self.augment, self.generator)
            if self.channels_last and not self.frozen:
                xb = xb.contiguous(memory_format=torch.channels_last)
            yield xb, y.index_select(0, idx)

    def fit(self, epochs: int) -> History:
        """Train `epochs` more epochs (fewer if a callback stops it). Ctrl-C restores the state
        after the last completed epoch, saves it to `checkpoint_path` if set, and raises
        TrainingInterrupted."""
        check_positive("epochs", epochs, int)
        n = len(self._tensors["x_train"])
        if n < self.world_size:
            raise DeepstartError("there are no training rows; lower the validation split.")
        per_rank = n // self.world_size if self.world_size > 1 else n
        steps = math.ceil(per_rank / self.batch_size)
        self._make_scheduler(steps, int(epochs))
        self.stop_training = False
        last = self.epoch + int(epochs)
        from deepstart.notebook import live_plot_for

        live = live_plot_for(self)  # in a notebook: one curve plot updated in place, this fit only
        if live is not None:
            self.callbacks.append(live)
        try:
            return self._fit(n, steps, last)
        finally:
            if live is not None:
                self.callbacks.remove(live)

    def _fit(self, n: int, steps: int, last: int) -> History:
        self._call("on_fit_start")
        progress = self._progress()
        try:
            with progress:
                while self.epoch < last and not self.stop_training:
                    started = time.perf_counter()
                    self._apply_freezing()
                    task = progress.add_task(f"epoch {self.epoch + 1}/{last}", total=steps)
                    self._train_model.train()
                    loss_sum = torch.zeros((), device=self.device)
                    rows, targets = [], []  # each batch's outputs as the metrics need them
                    # and its targets: text batches come in another order than `perm` (bucketed)
                    perm = self._shard(torch.randperm(n, generator=self.generator)).to(self.device)
                    every = max(1, steps // 50)  # a bar refresh costs more than a step on tiny models
                    for step, (xb, yb) in enumerate(self._batches(perm), 1):
                        if self.compile and self.compile_seconds is None:
                            first = time.perf_counter()
                            out, loss = self._train_step(xb, yb)
                            self.compile_seconds = time.perf_counter() - first  # mostly compiling
                        else:
                            out, loss = self._train_step(xb, yb)
                        with torch.no_grad():
                            loss_sum += loss.float() * len(yb)
                            rows.append(self._rows(out))
                            targets.append(yb)
                        if step % every == 0:
                            progress.update(task, completed=step)
                    progress.remove_task(task)
                    total_loss, count = distributed.all_sum([float(loss_sum), float(len(perm))],
                                                            self.device)
                    train = self._score_rows(torch.cat(rows), torch.cat(targets))
                    self._end_epoch(total_loss / count, train, started)
        except KeyboardInterrupt:
            if len(self.history.rows) == self.epoch > self._snapshot["epoch"]:
                # Ctrl-C came after the epoch's row (and its printed line), while the callbacks
                # ran: the epoch is complete, so it is the one saved, as the user saw it end.
                self._snapshot = self.state()
            self.load_state(self._snapshot)
            if self.checkpoint_path is not None:
                self.save_checkpoint(self.checkpoint_path)
            raise TrainingInterrupted(self.epoch, self.checkpoint_path) from None
        self._call("on_fit_end")
        return self.history

    def find_lr(self, start_lr: float = 1e-7, end_lr: float = 10.0, steps: int = 100):
        """Sweep the learning rate and suggest one; the learner is left as it was.
        See deepstart.lr_finder for the rule."""
        from deepstart.lr_finder import find_lr

        return find_lr(self, start_lr=start_lr, end_lr=end_lr, steps=steps)

    def _end_epoch(self, loss: float, train: dict, started: float) -> None:
        self.epoch += 1
        if not math.isfinite(loss):
            epoch = self.epoch
            self.load_state(self._snapshot)  # back to the last finite epoch
            self._check_values("train")  # NaN in the data is no learning-rate problem
            raise TrainingDiverged(
                f"training diverged in epoch {epoch}: the loss became {loss}; lower the "
                f"learning rate (e.g. --lr {self.lr / 10:g}) or normalise the inputs.")
        # history.csv is a table of numbers: an undefined score (one class only) is NaN there
        number = lambda v: math.nan if v is None else v  # noqa: E731
        row = {"epoch": self.epoch, "loss": loss} | {m: number(train[m]) for m in self._columns()}
        if len(self._tensors["x_val"]):
            # frozen: the head on the validation features, which is the whole net in eval mode
            val = self._evaluate_tensors(self._frozen["val"] if self.frozen else self._tensors["x_val"],
                                         self._tensors["y_val"], head=self.frozen)
            row |= {"val_loss": val["loss"]} | {f"val_{m}": number(val[m]) for m in self._columns()}
        row |= {"lr": self.opt.param_groups[0]["lr"], "seconds": time.perf_counter() - started}
        self.history.append(row)
        self._log(row)
        self._call("on_epoch_end", row)
        self._snapshot = self.state()  # after the callbacks, so what they add to `row` is kept

    # --- evaluation ---------------------------------------------------------------------------------
    def _check_values(self, split: str) -> None:
        """A DeepstartError if the split's tensors hold NaN or infinite values. Called only once a
        loss is not finite: deepstart's loaders impute or refuse such values and prepare_arrays
        names them, so this catches a Prepared built by hand, at no cost on good data."""
        for name in ("x", "y"):
            t = self._tensors[f"{name}_{split}"]
            if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                bad = int((~torch.isfinite(t)).sum())
                raise DeepstartError(f"the {split} data's {name} holds {bad} NaN or infinite "
                                     "value(s); this is bad data, not a training setting: fill or "
                                     "drop them before preparing.")

    @torch.inference_mode()
    def _outputs(self, x: torch.Tensor, head: bool = False) -> torch.Tensor:
        """The model's outputs (`head`: the head's, on frozen features), in eval mode, batched."""
        self.model.eval()
        if head:
            with self._autocast():
                return torch.cat([self.model.head(x[i:i + self.eval_batch]).float()
                                  for i in range(0, len(x), self.eval_batch)])
        order = None
        if self.data.text is not None and len(x) > self.eval_batch:
            # texts of like lengths in each batch, as in training; outputs back in row order
            order = torch.argsort(self._text_lengths(x), stable=True)
            x = x.index_select(0, order)
        outs = []
        for i in range(0, len(x), self.eval_batch):
            xb = x[i:i + self.eval_batch]
            if self.channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with self._autocast():
                out = self.model(xb)
                if self.tta:
                    out = tta_module.average(out, self.model(tta_module.mirrored(xb)), self.loss_name)
                outs.append(out.float())
        if not outs:
            return torch.zeros(0)
        out = torch.cat(outs)
        return out if order is None else out.index_select(0, torch.argsort(order))

    def _columns(self) -> tuple[str, ...]:
        """The history's score columns: the judged metric first, then the others."""
        return (self.metric, *(m for m in self.metrics if m != self.metric))

    def _evaluate_tensors(self, x: torch.Tensor, y: torch.Tensor,
                          head: bool = False) -> dict[str, float | None]:
        """The metrics and the loss over all rows; with several processes each scores its share of
        the rows: the losses are summed and the outputs gathered (_score_rows), so the result
        equals one process scoring them all."""
        n = len(x)
        if self.world_size > 1:
            x, y = x[self.rank::self.world_size], y[self.rank::self.world_size]
        out = self._outputs(x, head)
        summed = self.loss_name == "sse"  # a sum over rows; every other loss is a mean over rows
        loss = float(self.loss_fn(out, y)) if len(x) else 0.0
        loss_total, = distributed.all_sum([loss if summed else loss * len(x)], self.device)
        rows = self._rows(out) if len(x) else torch.zeros(  # a rank whose share is empty
            0, dtype=torch.long if self.data.task == "multiclass" else torch.float32, device=self.device)
        scores = self._score_rows(rows, y)
        return scores | {"loss": loss_total if summed else loss_total / n}

    def evaluate(self, split: str = "test", max_rows: int | None = None) -> dict[str, float | None]:
        """The metrics (`metrics`: the problem's first; RMSE and MAE in the target's units) and
        the loss on 'train', 'val' or 'test'; None for a score undefined on these rows (ROC AUC of
        one class only).
        `max_rows`: score a random sample of that many rows when the split is larger (the same
        rows for a given seed), for a quick estimate."""
        if split not in ("train", "val", "test"):
            raise DeepstartError(f"split must be 'train', 'val' or 'test'; received {split!r}.")
        if max_rows is not None:
            check_positive("max_rows", max_rows, int)
        x, y = self._tensors[f"x_{split}"], self._tensors[f"y_{split}"]
        if len(x) == 0:
            raise DeepstartError(f"the {split} split is empty (validation split 0?).")
        if self.frozen:
            # the body never trains here, so the head on its cached features is the whole net in
            # eval mode, without a second pass of every image through the body (at 224 px, about
            # half of a --frozen run's time)
            x = self.frozen_features()[split]
        if max_rows is not None and len(x) > max_rows:
            rows = torch.randperm(len(x), generator=torch.Generator().manual_seed(self.seed))
            rows = rows[:int(max_rows)].sort().values.to(x.device)
            x, y = x.index_select(0, rows), y.index_select(0, rows)
        scores = self._evaluate_tensors(x, y, head=self.frozen)
        if not math.isfinite(scores["loss"]):
            self._check_values(split)
        return scores

    def _inputs(self, x) -> torch.Tensor:
        if x is None:
            return self._tensors["x_test"]
        if isinstance(x, str) and x in ("train", "val", "test"):
            return self._tensors[f"x_{x}"]
        return self.data.transform(self._features(x)).to(self.device)

    def _features(self, x) -> np.ndarray:
        """Raw inputs as the model's unscaled features. Rows of a table by column name (a
        DataFrame, a mapping of columns, a list of row dicts; one row as a dict or a Series) go
        through the problem's column schema exactly as the training rows did: text, gaps and all."""
        schema = self.problem.schema if self.problem is not None else {}
        if isinstance(x, str) or isinstance(x, (list, tuple)) and x and all(isinstance(r, str) for r in x):
            x = self._texts_as_rows([x] if isinstance(x, str) else list(x), schema)
        if isinstance(x, list) and x and all(isinstance(r, Mapping) for r in x):
            x = {k: [r.get(k) for r in x] for k in dict.fromkeys(k for r in x for k in r)}
        elif "columns" in schema and hasattr(x, "to_dict") and not hasattr(x, "columns"):
            x = x.to_dict()  # one row as a pandas Series (frame.iloc[0])
        if isinstance(x, Mapping) and x and all(np.ndim(v) == 0 for v in x.values()):
            x = {k: [v] for k, v in x.items()}  # one row as a dict of values
        named = isinstance(x, Mapping) or hasattr(x, "columns")
        if named and "columns" in schema:
            from deepstart.problems.columns import encode

            return encode(schema["columns"], {str(c): x[c] for c in (
                x.columns if hasattr(x, "columns") else x)})
        names = list(self.data.feature_names)
        if named and names and all(n in x for n in names):  # a built-in table's columns by name
            x = {n: x[n] for n in names}
        if isinstance(x, Mapping):
            x = np.column_stack([np.asarray(v) for v in x.values()])
        return numeric_inputs(x, "x")

    @staticmethod
    def _texts_as_rows(texts: list[str], schema: dict) -> dict:
        """Strings for a problem whose only input is one text column: that column's rows."""
        used = [c for e in schema.get("columns", ()) if not e.get("dropped")
                for c in e.get("columns", [e["name"]])]
        if not any(e.get("kind") == "text" for e in schema.get("columns", ())) or len(used) != 1:
            what = (f"the columns {', '.join(used)}" if len(used) > 1 else "no text")
            raise DeepstartError(f"a list of strings is read as texts of a problem whose only input "
                                 f"is one text column, and this one takes {what}; give rows by "
                                 "column name (a DataFrame or a list of dicts).")
        return {used[0]: texts}

    def predict_proba(self, x=None) -> np.ndarray:
        """Class probabilities, (N, classes); `x` raw inputs as the problem stores them (for a
        table: rows as a DataFrame, a mapping of columns or a list of row dicts, by column name),
        or None for the test set, or a split name."""
        if not self.data.is_classifier:
            raise DeepstartError("predict_proba is for classification problems; use predict.")
        out = self._outputs(self._inputs(x)).float()
        if self.data.task == "binary":
            p = torch.sigmoid(out) if self.loss_name == "bce" else out.clamp(0, 1)
            return torch.cat([1 - p, p], dim=1).cpu().numpy()
        return torch.softmax(out, dim=1).cpu().numpy()

    def predict(self, x=None) -> np.ndarray:
        """Class indices for classification, values in the target's units otherwise."""
        out = self._outputs(self._inputs(x))
        if self.data.task == "multiclass":
            return out.argmax(1).cpu().numpy()
        if self.data.task == "binary":
            return (out > self.threshold).reshape(-1).long().cpu().numpy()
        return self.data.target_values(out)

    # --- state: checkpoints and resuming ------------------------------------------------------------
    def state(self) -> dict:
        """Everything that makes the next epoch what it would have been: weights, optimizer
        moments, both random streams, the epoch count and the history (copies, not views)."""
        opt = self.opt.state_dict()
        return {
            "model": {k: v.detach().clone() for k, v in self.model.state_dict().items()},
            "opt_state": {pid: {k: (v.clone() if torch.is_tensor(v) else v) for k, v in s.items()}
                          for pid, s in opt["state"].items()},
            "opt_groups": [dict(g) for g in opt["param_groups"]],
            "rng_torch": torch.get_rng_state(),
            "rng_perm": self.generator.get_state(),
            "epoch": self.epoch,
            "history": [dict(r) for r in self.history.rows],
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "planned_epochs": self.planned_epochs,
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "world_size": self.world_size,
        }

    def load_state(self, state: dict) -> None:
        saved_world = state.get("world_size", 1)
        if saved_world != self.world_size:
            raise DeepstartError(
                f"this state was saved by a run on {saved_world} process(es) and this one has "
                f"{self.world_size}; each process's share of the data depends on the count, so "
                f"resume with --nproc {saved_world}.")
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict({"state": {pid: dict(s) for pid, s in state["opt_state"].items()},
                                  "param_groups": [dict(g) for g in state["opt_groups"]]})
        torch.set_rng_state(state["rng_torch"])
        self.generator.set_state(state["rng_perm"])
        self.epoch = state["epoch"]
        self.history.rows = [dict(r) for r in state["history"]]
        self.planned_epochs = state.get("planned_epochs")
        self._scheduler_state = state.get("scheduler")
        if self.scheduler is not None and self._scheduler_state is not None:
            self.scheduler.load_state_dict(self._scheduler_state)
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self._snapshot = state
        self._apply_freezing()  # the frozen state of the loaded epoch

    def save_checkpoint(self, path: str | Path) -> Path | None:
        """The training state as one file, `<path>.safetensors` (deepstart.checkpoint); with
        several processes only rank 0 writes (the state is the same on every rank)."""
        from deepstart.checkpoint import save_state

        if self.rank != 0:
            return None
        return save_state(self.state(), Path(path))

    def resume(self, path: str | Path) -> None:
        from deepstart.checkpoint import checkpoint_file, load_state

        state, before = load_state(Path(path)), self.state()
        try:
            self.load_state(state)
        except DeepstartError:
            raise
        except (RuntimeError, ValueError, KeyError, TypeError, IndexError) as e:
            self.load_state(before)  # not half of the checkpoint
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise DeepstartError(f"{checkpoint_file(path)} does not fit this model and optimizer "
                                 f"({first}); it belongs to another run or is damaged: start "
                                 "the run again.") from None

    def save(self, out: str | Path = "runs") -> Path:
        """Write the run folder `deepstart run` writes (config, environment, history, curves,
        scores, model) for this trained learner, under `out`; returns the folder. A model class of
        your own is recorded by its file and constructor arguments (deepstart.models.custom)."""
        from deepstart.run import save_learner

        return save_learner(self, out)

    # --- output -------------------------------------------------------------------------------------
    def _progress(self):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from deepstart.console import console

        return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=console, transient=True,
                        disable=self.verbose != 1 or self.rank != 0
                        or not (console.is_terminal or console.is_jupyter))  # Jupyter draws it too

    def _repr_html_(self) -> str:
        from deepstart.notebook import learner_html

        return learner_html(self)

    def _log(self, row: dict) -> None:
        if self.verbose <= 0 or self.rank != 0:
            return
        from deepstart.console import console

        parts = [f"epoch {row['epoch']:>3}"]
        for key in ("loss", self.metric, "val_loss", f"val_{self.metric}"):
            if key in row:
                value = row[key]
                parts.append(f"{key} {value:.4f}" if math.isfinite(value) or key.endswith("loss")
                             else f"{key} {metrics_module.UNDEFINED}")
        parts.append(f"{row['seconds']:.2f}s")
        console.print("  ".join(parts), highlight=False, soft_wrap=True)
