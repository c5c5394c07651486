"""TensorBoardLogger: a Learner callback that writes TensorBoard event files with
torch.utils.tensorboard (the `tensorboard` package alone: no TensorFlow).

What one log folder holds (one TensorBoard run):
    scalars, step = epoch   each history.csv column as `<metric>/train` and `<metric>/val`
                            (`loss/train`, `accuracy/val`, ...), `lr` and `seconds`
    graph                   the model traced on two training rows (torch.jit.trace); a model that
                            does not trace has none, and training goes on
    hparams                 the settings beside the final scores (the HParams view): the scores of
                            the kept model as `hparam/test_accuracy`, `hparam/final_val_loss`,
                            ... for `deepstart run` (metrics.json); the
                            last epoch's validation scores (`hparam/val_accuracy`) from Python
"""

from __future__ import annotations

import contextlib
import io
import math
import warnings
from pathlib import Path

from deepstart.tracking import final_scores, hparams_of, learner_params, recorded_scores

# a live `tensorboard --logdir` sees an epoch within this many seconds (the writer's default: 120)
FLUSH_SECONDS = 5


def tag(column: str) -> str:
    """A history column's TensorBoard tag: `val_accuracy` -> `accuracy/val`, `loss` ->
    `loss/train`; `lr` and `seconds` as they are. The tag's first part is TensorBoard's section,
    so a metric's training and validation curves sit side by side."""
    if column in ("lr", "seconds"):
        return column
    if column.startswith("val_"):
        return f"{column[4:]}/val"
    return f"{column}/train"


class TensorBoardLogger:
    """Write the training of a Learner to `log_dir` for `tensorboard --logdir`.

    >>> learner = Learner("mlp", "iris", callbacks=[TensorBoardLogger("runs/tb/iris")])  # doctest: +SKIP

    `hparams`: the settings shown in the HParams view (default: the Learner's optimizer, lr, batch
    size, model config, ...). `graph=False` skips the model graph. `ends_with_run`: `deepstart
    run` finishes the log itself (end_run) once it has scored the kept model, so the HParams
    view shows test scores; otherwise the end of each fit writes the last epoch's scores.
    """

    def __init__(self, log_dir: str | Path = "runs/tensorboard", *, hparams: dict | None = None,
                 graph: bool = True, ends_with_run: bool = False):
        self.log_dir, self.hparams, self.graph = Path(log_dir), hparams, graph
        self.ends_with_run = ends_with_run
        self.writer = None
        self.graph_written: bool | None = None  # None: not tried yet; False: the model did not trace
        self.last_epoch = 0

    def on_fit_start(self, learner) -> None:
        from torch.utils.tensorboard import SummaryWriter

        if self.writer is None:
            # A resumed run trains again the epochs after its checkpoint: purge_step hides the
            # events from that step on that the interrupted process wrote.
            purge = learner.epoch + 1 if learner.epoch else None
            self.writer = SummaryWriter(str(self.log_dir), purge_step=purge,
                                        flush_secs=FLUSH_SECONDS)
        if self.graph and self.graph_written is None:
            self.graph_written = self._add_graph(learner)

    def _add_graph(self, learner) -> bool:
        """The model's graph, traced on two training rows; False (and no graph) when it does not
        trace (data-dependent control flow, inputs jit cannot take): the log goes on without it."""
        x = learner.data.x_train[:2].to(learner.device)
        try:
            # add_graph prints its own error before raising, and tracing warns of every Python
            # branch it freezes: neither says anything about training
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                self.writer.add_graph(learner.model, x)
        except Exception:  # whatever jit.trace raises for a model it cannot take
            return False
        return True

    def on_epoch_end(self, learner, row: dict) -> None:
        epoch = row["epoch"]
        for column, value in row.items():
            # NaN in history.csv is a score undefined on the split (ROC AUC of one class)
            if column != "epoch" and isinstance(value, (int, float)) and math.isfinite(value):
                self.writer.add_scalar(tag(column), value, epoch)
        self.last_epoch = epoch

    def on_fit_end(self, learner) -> None:
        if not self.ends_with_run and learner.history.rows:
            self._hparams(learner, final_scores(learner.history.rows[-1]))
            self.close()
            self._say(learner)

    def end_run(self, learner, metrics: dict) -> None:
        """`deepstart run`: the kept model's recorded scores (metrics.json) beside the settings."""
        if self.writer is None:  # nothing trained in this process (a resumed, complete run)
            self.on_fit_start(learner)
        self._hparams(learner, recorded_scores(metrics))
        self.close()
        self._say(learner)

    def _hparams(self, learner, scores: dict) -> None:
        from torch.utils.tensorboard.summary import hparams

        settings = self.hparams if self.hparams is not None else learner_params(learner)
        metric_dict = {f"hparam/{k}": v for k, v in scores.items()}
        # add_hparams would put these in a sub-folder, a second TensorBoard run beside the curves;
        # written into this folder, the HParams view links each session to its own curves
        # bools as text: TensorBoard would show them as 0.0 and 1.0
        shown = {k: str(v) if isinstance(v, bool) else v for k, v in hparams_of(settings).items()}
        experiment, start, end = hparams(shown, metric_dict)
        for summary in (experiment, start, end):
            self.writer.file_writer.add_summary(summary, self.last_epoch)
        for name, value in metric_dict.items():
            self.writer.add_scalar(name, value, self.last_epoch)

    def _say(self, learner) -> None:
        if learner.verbose:
            from deepstart.console import console

            graph = "" if self.graph_written else "; no graph (the model does not trace)"
            console.print(f"tensorboard: {self.log_dir} (tensorboard --logdir {self.log_dir}"
                          f"){graph}", soft_wrap=True, highlight=False, markup=False)

    def close(self, status: str | None = None) -> None:
        """Flush and close the event file (the next fit opens another); safe to call twice."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None
