"""The learning curve of a run: its settings retrained on growing shares of its training rows, with
the training and validation scores against the number of rows (`deepstart diagnose RUN
--learning-curve`).

How to read it: a gap between the curves that narrows as rows are added is variance that more data
would close; two curves that meet early, both short of the target, are bias that more data will
not fix (a bigger model or other features will).

Each point trains the run's model and settings from scratch on a subset of the run's training rows
(stratified for classes, the most recent windows for a series) for as many optimizer steps as
`epochs` epochs of all the rows take (default: the run's epochs, at most MAX_EPOCHS, so the curve
stays quick): a tenth of the rows gets ten times the epochs, so a small subset is not judged
undertrained. Each point then costs about what the full set costs. It is scored on the subset and on the run's
validation rows (its test rows when it has no validation split, and then it says so). The inputs
keep the run's scaling. The plot is written to RUN/learning-curve.png.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepstart.errors import DeepstartError
from deepstart.problems.metrics import SCORES

DEFAULT_SHARES = (0.1, 0.2, 0.4, 0.7, 1.0)
MAX_EPOCHS = 20
# held-out gain per doubling of the training rows over the last step that counts as "still rising":
# a point of accuracy, or 2 % of the RMSE
RISING_PER_DOUBLING = {"accuracy": 0.01, "rmse": 0.02}
RISING_PER_DOUBLING |= {m: 0.01 for m in SCORES} | {"mae": 0.02}  # ROC AUC, F1: a point too


@dataclass
class Point:
    share: float
    rows: int
    train: float
    held_out: float
    seconds: float


@dataclass
class LearningCurve:
    metric: str
    greater_is_better: bool
    held_out: str  # "validation" or "test"
    epochs: int
    points: list[Point]
    plot: Path

    def reading(self) -> str:
        """One sentence on what the curve says about more data: how much the held-out score rose
        per doubling of the rows over the last step (RISING_PER_DOUBLING separates "would likely
        help" from "would help a little")."""
        first, prev, last = self.points[0], self.points[-2], self.points[-1]
        sign = 1 if self.greater_is_better else -1
        doublings = max(math.log2(last.rows / prev.rows), 1e-9)
        gain = sign * (last.held_out - prev.held_out) / doublings
        if self.metric not in SCORES:  # RMSE, MAE: relative to the score itself
            gain /= max(abs(prev.held_out), 1e-12)
        fmt = (lambda v: f"{v:.4f}") if self.metric in SCORES else (lambda v: f"{v:.4g}")
        text = (f"the {self.held_out} {self.metric} went from {fmt(first.held_out)} on "
                f"{first.rows} rows to {fmt(last.held_out)} on {last.rows}; the gap to training "
                f"from {fmt(abs(first.train - first.held_out))} to "
                f"{fmt(abs(last.train - last.held_out))}")
        if gain > RISING_PER_DOUBLING[self.metric]:
            return text + ": still rising with the last rows added, so more data would likely help."
        if gain > 0:
            return text + ": rising slowly at the end; more data would help a little."
        return text + ": flat at the end, so more rows of the same data are unlikely to help much."


def learning_curve(folder: str | Path, shares=None, epochs: int | None = None,
                   verbose: bool = True) -> LearningCurve:
    from deepstart.files import atomic_path
    from deepstart.learner import Learner
    from deepstart.prepare import prepare
    from deepstart.problems.splits import split_indices
    from deepstart.record import load_problem, read_run
    from deepstart.run import RunConfig

    record = read_run(folder)
    raw_config = {k: v for k, v in record.config.items() if k != "format"}
    config = RunConfig(**raw_config)
    shares = sorted(set(shares or DEFAULT_SHARES))
    if len(shares) < 2 or not all(0 < s <= 1 for s in shares):
        raise DeepstartError(f"the learning curve needs two or more shares in (0, 1]; received {shares}.")
    epochs = epochs or min(config.epochs, MAX_EPOCHS)
    problem = load_problem(record)
    try:
        raw = problem.load(download=False)
    except DeepstartError as e:
        raise DeepstartError(f"the learning curve retrains on the run's data, which is not here: {e}") from None
    data = prepare(raw, problem, val_split=config.val_split, seed=config.seed,
                   lookback=config.lookback, scale=config.scale)
    held_out = "validation" if len(data.x_val) else "test"
    n = len(data.x_train)
    points = []
    for share in shares:
        rows = max(4, int(round(share * n)))
        if rows >= n:
            idx = np.arange(n)
        elif data.task == "forecast":
            idx = np.arange(n - rows, n)  # the most recent windows
        else:
            y = data.y_train.numpy().reshape(len(data.y_train), -1)[:, 0]
            # the "test" part of a split is the subset: stratified, so every class keeps its share
            _, idx = split_indices(y, rows, config.seed, stratify=data.is_classifier)
        subset = dataclasses.replace(data, x_train=data.x_train[idx], y_train=data.y_train[idx])
        point_epochs = math.ceil(epochs * n / len(idx))  # the same optimizer steps at every size
        learner = Learner(config.model, subset, optimizer=config.optimizer, lr=config.lr,
                          batch_size=min(config.batch_size, len(idx)), seed=config.seed,
                          weight_decay=config.weight_decay, schedule=config.schedule,
                          warmup_epochs=config.warmup_epochs, clip_grad=config.clip_grad,
                          label_smoothing=config.label_smoothing, device=config.device,
                          precision=config.precision, augment=config.augment,
                          model_options=config.model_options, verbose=0,
                          metric=config.metric or problem.metric)
        started = time.perf_counter()
        learner.fit(point_epochs)
        metric = learner.metric
        point = Point(share, len(idx), learner.evaluate("train")[metric],
                      learner.evaluate("val" if held_out == "validation" else "test")[metric],
                      time.perf_counter() - started)
        points.append(point)
        if verbose:
            from deepstart.console import console

            console.print(f"  {len(idx):>6} rows: train {point.train:.4g}, {held_out} "
                          f"{point.held_out:.4g} ({point.seconds:.1f} s)", highlight=False)
    path = Path(record.folder) / "learning-curve.png"
    fig = _figure(points, metric, held_out, problem.name, config.model, epochs)
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    from deepstart.problems import METRICS

    return LearningCurve(metric, METRICS[metric], held_out, epochs, points, path)


def _figure(points: list[Point], metric: str, held_out: str, problem: str, model: str, epochs: int):
    import matplotlib.ticker

    from deepstart.console import offscreen_figures

    offscreen_figures()
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4), constrained_layout=True)
    rows = [p.rows for p in points]
    ax.plot(rows, [p.train for p in points], "o-", label=f"training {metric}")
    ax.plot(rows, [p.held_out for p in points], "o--", label=f"{held_out} {metric}")
    ax.set_xscale("log")
    ax.set_xticks(rows, [str(r) for r in rows])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_xlabel("training rows")
    ax.set_ylabel(metric)
    ax.set_title(f"learning curve: {problem}, {model}, the steps of {epochs} epochs per point")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def print_learning_curve(curve: LearningCurve) -> None:
    from rich.table import Table

    from deepstart.console import console

    table = Table(title=f"learning curve (each point: the optimizer steps of {curve.epochs} epochs "
                        "on all the rows)", title_justify="left")
    for column in ("share", "rows", f"train {curve.metric}", f"{curve.held_out} {curve.metric}",
                   "seconds"):
        table.add_column(column, justify="right")
    for p in curve.points:
        table.add_row(f"{p.share:g}", str(p.rows), f"{p.train:.4g}", f"{p.held_out:.4g}",
                      f"{p.seconds:.1f}")
    console.print(table)
    if curve.held_out == "test":
        console.print("[dim]this run has no validation split, so the test rows score the curve[/dim]")
    console.print(curve.reading(), soft_wrap=True, highlight=False)
    console.print(f"plot: {curve.plot}")
