"""Diagnose a run: name what limits it, with the numbers that show it, and say what to try next as
commands of this tool. Reads the run folder only (metrics.json, history.csv, config.json, and the
newest `deepstart evaluate` of the same problem beside it); it never trains.

Errors, not scores, are compared. For accuracy the error is 1 - accuracy and gaps are in points
(0.01 = 1 point). For RMSE the error is the RMSE, and a gap is read as a share of the trivial
baseline's RMSE, so one threshold serves airline passengers (hundreds) and house prices alike.

The scores beside the run's own train / validation / test scores:

    target    the best score known for the problem: the best reference in metrics.json (published
              scores, and for your own data the baselines computed on the same test rows), or the
              best algorithm of the newest evaluation of the problem (its mean over folds) when that
              is better. Bias is judged against it only when it beats the trivial baseline.
    baseline  the trivial model: the worst of the references that are baselines (majority class,
              training mean, persistence); else the majority class (or training mean) computed on
              the test rows when the data is on this machine; else chance, 1 in K classes.

The rules, checked in this order (X / Y: the threshold for accuracy / for RMSE):

| situation                  | rule                                                                    |
|----------------------------|-------------------------------------------------------------------------|
| diverged                   | status "diverged", or a training loss that is not finite, or that ends  |
|                            | above DIVERGED_RATIO (1.5) times its lowest value                        |
| below baseline             | test error not below the baseline's by BASELINE_MARGIN (1 point / 2 %)  |
|                            | and, for accuracy, by 2 standard errors of the test accuracy             |
| high bias                  | training error above the target's by BIAS_GAP (2 points / 10 %)         |
| high variance              | validation error (test error when there is no validation split) above   |
|                            | the training error by VARIANCE_GAP (3 points / 10 %) and, for accuracy, |
|                            | by 2 standard errors of the validation accuracy                          |
| high bias and high variance| both of the above                                                       |
| validation/test mismatch   | test and validation errors apart by MISMATCH_GAP (3 points / 15 %) and, |
|                            | for accuracy, by 2 standard errors of their difference (not judged      |
|                            | below the baseline)                                                     |
| still improving            | the validation loss (the training loss without validation) fell at each |
|                            | of the last IMPROVING_EPOCHS (3) epochs, by IMPROVING_DROP (1 %) in all  |
| short of the target        | none of the above, yet the test error is above the target's by GOOD_GAP |
|                            | (2 points / 10 %): small gaps that add up                               |
| good fit                   | none of diverged, below baseline, bias, variance, mismatch, short of    |
|                            | the target (still improving may come with it)                           |
| no gap found               | the same, but no target beats the baseline: nothing says how much       |
|                            | better the data allows (`deepstart evaluate` finds out)                  |

Standard errors need the number of validation and test rows: they come from the data when it is on
this machine (sqrt(p (1 - p) / n)); without them only the fixed gaps apply.

Next steps are commands: `--model` from the problem's recipes (Problem.recipes, each with its
measured claim), `--hidden`, `--dropout`, `--weight-decay`, `--augment` (crop for digits and
letters, crop and flip for clothes and objects), `--epochs`, `--lr`, `--clip-grad`, `--val-split`,
`deepstart lr-find`, `deepstart tune` and `deepstart evaluate`.
"""

from __future__ import annotations

import math
import shlex
from dataclasses import asdict, dataclass, field
from pathlib import Path

from deepstart.errors import DeepstartError
from deepstart.files import read_json

DIVERGED_RATIO = 1.5
IMPROVING_EPOCHS = 3
IMPROVING_DROP = 0.01
# (accuracy: points, rmse: share of the baseline RMSE)
BASELINE_MARGIN = {"accuracy": 0.01, "rmse": 0.02}
BIAS_GAP = {"accuracy": 0.02, "rmse": 0.10}
VARIANCE_GAP = {"accuracy": 0.03, "rmse": 0.10}
MISMATCH_GAP = {"accuracy": 0.03, "rmse": 0.15}
GOOD_GAP = {"accuracy": 0.02, "rmse": 0.10}
GOOD_FIT = "good fit"
NO_GAP = "no gap found"  # good fit's place when there is no target to judge against
EVALUATION_FORMAT = "deepstart-evaluation-1"
# Words that mark a reference (or a spot-checked algorithm) as a trivial baseline.
BASELINE_WORDS = ("baseline", "majority", "training mean", "persistence", "dummy")


@dataclass
class Score:
    value: float
    model: str
    source: str = ""


@dataclass
class RunFacts:
    """What the rules read; `facts_from_folder` builds it from a run folder, tests build it by hand."""

    metric: str  # accuracy or rmse
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
    kind: str = "tabular"  # tabular, image, series
    task: str = "multiclass"
    class_names: tuple[str, ...] = ()
    n_val: int | None = None
    n_test: int | None = None
    recipes: list[dict] = field(default_factory=list)  # {"model", "settings", "target", "claim"}
    folder: str | None = None

    def _data_flags(self) -> list[str]:
        from deepstart.problems.user import FLAGS

        parts = []
        for k, v in self.data_options.items():
            parts += [FLAGS.get(k, f"--{k}")] + ([] if v is True else [str(v)])
        return parts

    def command(self, model: str | None = None, **changes) -> str:
        """`deepstart run PROBLEM [data flags] --model M --OPTION VALUE ...`"""
        parts = ["deepstart", "run", self.problem, *self._data_flags(), "--model", model or self.model]
        for k, v in changes.items():
            parts += [f"--{k.replace('_', '-')}", str(v)]
        return shlex.join(parts)

    def lr_find_command(self) -> str:
        return shlex.join(["deepstart", "lr-find", self.problem, *self._data_flags(),
                           "--model", self.model])

    def tune_command(self) -> str:
        return shlex.join(["deepstart", "tune", self.problem, *self._data_flags(),
                           "--model", self.model, "--trials", "30"])

    def evaluate_command(self) -> str:
        return shlex.join(["deepstart", "evaluate", self.problem, *self._data_flags()])


@dataclass
class Finding:
    name: str
    evidence: str


@dataclass
class Step:
    text: str
    command: str | None = None


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


# --- the rules --------------------------------------------------------------------------------------

def diagnose(facts: RunFacts) -> Diagnosis:
    """Apply the rules of the module docstring to `facts`, in their order."""
    r = _Rules(facts)
    findings: list[Finding] = []
    steps: list[Step] = []
    notes: list[str] = []
    for rule in (r.diverged, r.below_baseline, r.bias_variance, r.mismatch):
        finding, more = rule()
        if finding is not None:
            findings.append(finding)
            steps.extend(more)
    overall, more = r.overall() if not findings else (None, [])
    if overall is not None:
        findings.insert(0, overall)
        steps.extend(more)
    elif not r.has_target and not r.is_diverged:
        notes.append("no published or spot-checked score beats the trivial baseline here, so bias "
                     "cannot be judged; `deepstart evaluate` spot-checks other algorithms to give one")
    finding, more = r.still_improving()
    if finding is not None:
        findings.append(finding)
        # the most direct step, more of what was working, goes first (and its wording wins over
        # the same command among the bias steps)
        steps = more + steps
    if not r.has_target and facts.spot_check is None:
        steps.append(Step("spot-check other algorithms to know what this data allows",
                          facts.evaluate_command()))
    return Diagnosis(findings, _unique(steps),
                     _scores_line(facts, r.target if r.has_target else None), notes)


class _Rules:
    """Each rule: (the finding or None, its next steps). Errors and units are worked out once."""

    def __init__(self, f: RunFacts):
        self.f = f
        self.acc = f.metric == "accuracy"
        self.u = _Units(f)
        self.target = _target(f)
        self.e_train, self.e_val, self.e_test = (self.u.err(v) for v in (f.train, f.val, f.test))
        base = f.baseline
        self.has_target = self.target is not None and (
            base is None or self.u.err(self.target.value) < self.u.err(base.value))
        self.is_diverged = self.is_below = False

    def fmt(self, value) -> str:
        return _fmt(value, self.acc)

    def epochs(self) -> int:
        return self.f.config.get("epochs") or len(self.f.history)

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
            steps.append(Step(f"lower --lr tenfold to {_g(lr / 10)}: the run diverged",
                              f.command(lr=_g(lr / 10))))
        steps.append(Step("find a learning rate with the range test", f.lr_find_command()))
        if not f.config.get("clip_grad"):
            steps.append(Step("clip the gradients' norm", f.command(clip_grad=1)))
        return Finding("diverged", f"{why}; the learning rate was {_g(lr)}"), steps

    def below_baseline(self):
        f, base = self.f, self.f.baseline
        if self.is_diverged or base is None or self.e_test is None:
            return None, []
        noise = 2 * _se(1 - self.e_test, f.n_test) if self.acc else 0.0
        margin = max(BASELINE_MARGIN[f.metric] * self.u.unit, noise)
        if self.u.err(base.value) - self.e_test > margin:
            return None, []
        self.is_below = True
        steps = [Step("check the learning rate with the range test", f.lr_find_command())]
        if f.kind == "tabular" and f.config.get("scale") == "unit":
            steps.append(Step("standardise the features", f.command(scale="standard")))
        steps.append(Step(f"train longer: raise --epochs to {2 * self.epochs()}",
                          f.command(epochs=2 * self.epochs())))
        lr = f.config.get("lr")
        if lr:
            steps.append(Step(f"or a larger step: --lr {_g(lr * 3)}", f.command(lr=_g(lr * 3))))
        noise_text = f", within the noise of {f.n_test} test rows" if noise > BASELINE_MARGIN[
            f.metric] * self.u.unit and self.e_test < self.u.err(base.value) else ""
        return Finding("below baseline", (
            f"test {f.metric} {self.fmt(f.test)} is no better than the baseline's "
            f"{self.fmt(base.value)} ({base.model}){noise_text}: the model has learned next to "
            "nothing from the inputs")), steps

    def bias_variance(self):
        f, u = self.f, self.u
        if self.is_diverged or self.is_below or self.e_train is None:
            return None, []
        bias_text = variance_text = ""
        if self.has_target:
            gap = self.e_train - u.err(self.target.value)
            if gap > BIAS_GAP[f.metric] * u.unit:
                bias_text = (f"training {f.metric} {self.fmt(f.train)} is {u.gap(gap)} short of "
                             f"the target {self.fmt(self.target.value)} ({self.target.model}): the "
                             "model does not fit even the rows it learns from")
        held, held_name, n_held = ((self.e_val, "validation", f.n_val) if self.e_val is not None
                                   else (self.e_test, "test", f.n_test))
        if held is not None:
            gap = held - self.e_train
            noise = 2 * _se(1 - held, n_held) if self.acc else 0.0
            if gap > VARIANCE_GAP[f.metric] * u.unit and gap > noise:
                variance_text = (f"{held_name} {f.metric} {self.fmt(u.score(held))} against "
                                 f"training {self.fmt(f.train)}: a gap of {u.gap(gap)}")
                if noise:
                    variance_text += f" (noise on {n_held} rows: about {u.gap(noise / 2)})"
                best = _best_val_epoch(f.history)
                if best and best[0] < len(f.history):
                    variance_text += (f"; validation loss was lowest at epoch {best[0]} "
                                      f"({best[1]:.4g}), {f.history[-1]['val_loss']:.4g} at the "
                                      f"last, epoch {len(f.history)}")
        if bias_text and variance_text:
            return (Finding("high bias and high variance", f"{bias_text}; and {variance_text}"),
                    _bias_steps(f) + _variance_steps(f))
        if bias_text:
            return Finding("high bias", bias_text), _bias_steps(f)
        if variance_text:
            return Finding("high variance", variance_text), _variance_steps(f)
        return None, []

    def mismatch(self):
        f, u = self.f, self.u
        # below the baseline, a gap between validation and test says little: fix the model first
        if self.is_diverged or self.is_below or self.e_val is None or self.e_test is None:
            return None, []
        gap = abs(self.e_test - self.e_val)
        noise = (2 * math.hypot(_se(1 - self.e_val, f.n_val), _se(1 - self.e_test, f.n_test))
                 if self.acc else 0.0)
        if gap <= MISMATCH_GAP[f.metric] * u.unit or gap <= noise:
            return None, []
        worse = "test" if self.e_test > self.e_val else "validation"
        text = (f"validation {f.metric} {self.fmt(f.val)} and test {self.fmt(f.test)} differ by "
                f"{u.gap(gap)}; the {worse} score is worse")
        if noise:
            text += f" (noise: about {u.gap(noise / 2)})"
        bigger = min(0.3, round((f.config.get("val_split") or 0.1) * 2, 2))
        now = f" ({f.n_val} rows now)" if f.n_val else ""
        return Finding("validation/test mismatch", text), [
            Step(f"a larger validation split{now} gives a steadier estimate: --val-split {bigger}",
                 f.command(val_split=bigger)),
            Step("k-fold cross-validation gives a mean and spread instead of one split",
                 f.evaluate_command())]

    def overall(self):
        """When no rule fired: good fit, or short of the target when small gaps add up."""
        f, u = self.f, self.u
        close = (f"train {self.fmt(f.train)}, validation {self.fmt(f.val)} and test "
                 f"{self.fmt(f.test)} are close together")
        short = (self.e_test - u.err(self.target.value)
                 if self.has_target and self.e_test is not None else None)
        if short is not None and short > GOOD_GAP[f.metric] * u.unit:
            to_target = u.gap(self.e_train - u.err(self.target.value))
            parts = [f"{to_target} between training and the target"]
            if self.e_val is not None:
                parts.append(f"{u.gap(self.e_val - self.e_train)} between validation and training")
            return Finding("short of the target", (
                f"test {f.metric} {self.fmt(f.test)} is {u.gap(short)} short of the target "
                f"{self.fmt(self.target.value)} ({self.target.model}), though no single gap stands "
                "out: " + ", ".join(parts))), \
                ([s for s in _bias_steps(f) if "--model" in s.text]
                 + [Step("search the hyper-parameters", f.tune_command())])
        if short is not None:
            rel = f"{u.gap(-short)} better than" if short < 0 else f"within {u.gap(short)} of"
            text = (f"{close}, and the test score is {rel} the target "
                    f"{self.fmt(self.target.value)} ({self.target.model})")
        else:  # nothing says how much better the data allows: no verdict of a good fit
            return Finding(NO_GAP, (
                f"{close}, better than the baseline {self.fmt(f.baseline.value) if f.baseline else ''}; "
                "with no published or spot-checked score, how much better this data allows is "
                "unknown")), [Step("spot-check other algorithms to know what this data allows",
                                   f.evaluate_command())]
        return Finding(GOOD_FIT, text), [
            Step("search the hyper-parameters for the last points", f.tune_command()),
            Step("present it: an HTML report, and ONNX + predictions",
                 f"deepstart report {f.folder or 'RUN'}")]

    def still_improving(self):
        f = self.f
        falling = _still_falling(f.history)
        if not falling or self.is_diverged:
            return None, []
        key, first, last = falling
        what = "validation loss" if key == "val_loss" else "training loss (no validation split)"
        return Finding("still improving", (
            f"the {what} fell at each of the last {min(IMPROVING_EPOCHS, len(f.history) - 1)} "
            f"epochs ({first:.4g} -> {last:.4g}) when training stopped at epoch {len(f.history)}")), \
            [Step(f"raise --epochs to {2 * self.epochs()}: the {what.split(' (')[0]} was still "
                  "falling over the last epochs", f.command(epochs=2 * self.epochs()))]


def _bias_steps(f: RunFacts) -> list[Step]:
    steps = []
    current = f.test if f.test is not None else f.train
    better = [r for r in f.recipes if r["model"] != f.model and r.get("target") is not None
              and (r["target"] > current if f.greater_is_better else r["target"] < current)]
    better.sort(key=lambda r: r["target"], reverse=f.greater_is_better)
    for r in better[:2]:
        steps.append(Step(f"try --model {r['model']}: its recipe reaches {_fmt(r['target'], f.metric == 'accuracy')} "
                          f"here ({r['claim'].split(':')[0]})", f.command(model=r["model"])))
    if not better:
        if f.kind == "image" and f.model not in ("convnet", "resnet", "googlenet"):
            steps.append(Step("try --model convnet: convolutions see shapes, a dense layer only "
                              "pixels", f.command(model="convnet")))
        elif f.kind == "series" and f.model in ("linear", "perceptron"):
            steps.append(Step("try --model mlp: a non-linear forecaster", f.command(model="mlp")))
        elif f.model in ("linear", "logistic", "perceptron"):
            steps.append(Step("try --model mlp: hidden layers fit what a line cannot",
                              f.command(model="mlp")))
    options = f.config.get("model_options") or {}
    if f.model == "mlp":
        hidden = options.get("hidden") or [64]
        wider = [2 * h for h in hidden]
        steps.append(Step(f"a wider network: --hidden {','.join(map(str, wider))}",
                          f.command(hidden=",".join(map(str, wider)))))
    if options.get("dropout"):
        lower = round(options["dropout"] / 2, 2)
        steps.append(Step(f"less dropout: --dropout {lower}", f.command(dropout=lower)))
    if f.config.get("weight_decay"):
        steps.append(Step("less weight decay: --weight-decay "
                          f"{_g(f.config['weight_decay'] / 10)}",
                          f.command(weight_decay=_g(f.config["weight_decay"] / 10))))
    epochs = f.config.get("epochs") or len(f.history)
    steps.append(Step(f"train longer: --epochs {2 * epochs}", f.command(epochs=2 * epochs)))
    steps.append(Step("search learning rate, width and regularisation together", f.tune_command()))
    return steps


def _variance_steps(f: RunFacts) -> list[Step]:
    steps = []
    augment = f.config.get("augment")
    if f.kind == "image" and not augment:
        # flipping a 2 or a 7 makes another symbol; clothes and objects stay what they are
        digits = bool(f.class_names) and all(c.isdigit() for c in f.class_names)
        which = "crop" if digits else "crop,flip"
        steps.append(Step(f"augment the training images: --augment {which}", f.command(augment=which)))
    options = f.config.get("model_options") or {}
    if f.model in ("mlp", "lstm", "gru", "transformer"):
        dropout = options.get("dropout") or 0.0
        if dropout < 0.5:
            higher = round(min(0.5, dropout + 0.2), 2)
            steps.append(Step(f"more dropout: --dropout {higher}", f.command(dropout=higher)))
    wd = f.config.get("weight_decay") or 0.0
    more = _g(wd * 10) if wd else "1e-4"
    steps.append(Step(f"weight decay: --weight-decay {more}", f.command(weight_decay=more)))
    best = _best_val_epoch(f.history)
    if best and best[0] < len(f.history) - 1:
        steps.append(Step(f"stop at the best epoch: --epochs {best[0]} (validation loss was lowest "
                          "there)", f.command(epochs=best[0])))
    steps.append(Step("more training data closes the gap; the learning curve shows whether it would",
                      f"deepstart diagnose {f.folder or 'RUN'} --learning-curve"))
    return steps


# --- helpers --------------------------------------------------------------------------------------

class _Units:
    """Errors from scores, and gaps in words: points of accuracy, or a share of the baseline RMSE."""

    def __init__(self, f: RunFacts):
        self.acc = f.metric == "accuracy"
        if self.acc:
            self.unit = 1.0
        elif f.baseline is not None and f.baseline.value > 0:
            self.unit = f.baseline.value
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
        return f"{gap:.4g} ({100 * gap / self.unit:.0f} % of the baseline error)"


def _target(f: RunFacts) -> Score | None:
    candidates = [Score(r["value"], r["model"], r.get("source", "")) for r in f.references]
    if f.spot_check is not None:
        candidates.append(f.spot_check)
    if not candidates:
        return None
    return (max if f.greater_is_better else min)(candidates, key=lambda s: s.value)


def is_baseline(model: str, source: str = "") -> bool:
    text = f"{model} {source}".lower()
    return any(w in text for w in BASELINE_WORDS)


def _se(p_correct: float, n: int | None) -> float:
    if not n:
        return 0.0
    p = min(max(p_correct, 0.0), 1.0)
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
    if value is None:
        return "-"
    return f"{value:.4f}" if accuracy else f"{value:.4g}"


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


def _scores_line(f: RunFacts, target: Score | None) -> str:
    acc = f.metric == "accuracy"
    parts = [f"train {_fmt(f.train, acc)}", f"validation {_fmt(f.val, acc)}", f"test {_fmt(f.test, acc)}"]
    if target is not None:
        parts.append(f"target {_fmt(target.value, acc)} ({target.model})")
    if f.baseline is not None:
        parts.append(f"baseline {_fmt(f.baseline.value, acc)} ({f.baseline.model})")
    return f"{f.metric}: " + ", ".join(parts)


# --- reading a run folder ---------------------------------------------------------------------------

def find_evaluation(folder: Path, problem: str) -> tuple[Path, dict] | None:
    """The newest evaluation of `problem` beside the run folder (same parent):
    <parent>/<date>-<problem>-evaluate-<n>/evaluation.json, format deepstart-evaluation-1."""
    found = []
    for path in Path(folder).resolve().parent.glob(f"*-{problem}-evaluate-*/evaluation.json"):
        try:
            data = read_json(path)
        except (OSError, ValueError):
            continue
        if data.get("format") == EVALUATION_FORMAT and _same_problem(data.get("problem"), problem):
            found.append((path.stat().st_mtime, path.parent.name, path.parent, data))
    if not found:
        return None
    _, _, where, data = max(found, key=lambda t: (t[0], t[1]))
    return where, data


def _same_problem(recorded, problem: str) -> bool:
    """An evaluation records your own data by its absolute path, a run by the name of its folder."""
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
    spread = f" ± {best['std']:.4g}" if isinstance(best.get("std"), (int, float)) else ""
    protocol = data.get("protocol") or {}
    how = ", ".join(f"{k} {v}" for k, v in protocol.items() if isinstance(v, (int, float, str)))
    return Score(float(best["mean"]), f"{best['algorithm']} (spot-checked{spread})",
                 f"deepstart evaluate{': ' + how if how else ''}")


def facts_from_folder(folder: str | Path, load_data: bool = True) -> RunFacts:
    """Read a finished run folder into RunFacts. With `load_data`, the problem's data (when it is on
    this machine, never downloaded) gives the baseline when no reference is one, and the row counts."""
    from deepstart.record import read_run

    record = read_run(folder)
    if not record.finished:
        raise DeepstartError(f"{record.folder} has not finished (no metrics.json yet): nothing to "
                             f"diagnose; finish it with `deepstart run --resume {record.folder}`.")
    folder, config, metrics = record.folder, record.config, record.metrics
    spec = record.spec or {}
    metric = metrics["metric"]
    history = record.history

    def score(split):
        entry = metrics.get(split)
        return float(entry[metric]) if entry else None

    problem = _problem(config)
    kind = problem.kind if problem is not None else _kind(spec)
    recipes = []
    if problem is not None:
        for r in problem.recipes:
            recipes.append({"model": r.model, "settings": r.settings, "target": r.target,
                            "claim": r.claim})
    refs = list(metrics.get("references", []))
    baselines = [Score(r["value"], r["model"], r.get("source", "")) for r in refs
                 if is_baseline(r["model"], r.get("source", ""))]
    pick_worst = min if metrics["greater_is_better"] else max
    baseline = pick_worst(baselines, key=lambda s: s.value) if baselines else None
    n_val = n_test = None
    task = spec.get("task") or (problem.task if problem else "multiclass")
    class_names = tuple(spec.get("class_names") or (problem.class_names if problem else ()))
    if load_data and problem is not None and task != "forecast":
        data = _offline_data(problem)
        if data is not None:
            import numpy as np

            n_test = len(data.y_test)
            split = config.get("val_split") or 0.0
            n_val = int(round(len(data.y_train) * split)) or None  # as prepare's validation split
            if baseline is None:
                if task in ("binary", "multiclass"):
                    majority = np.bincount(np.asarray(data.y_train, dtype=np.int64)).argmax()
                    baseline = Score(float(np.mean(data.y_test == majority)),
                                     "majority class for every row",
                                     f"computed on the same {n_test} test rows")
                else:
                    rmse = float(np.sqrt(np.mean((data.y_test - data.y_train.mean()) ** 2)))
                    baseline = Score(rmse, "training mean for every row",
                                     f"computed on the same {n_test} test rows")
    if baseline is None and task in ("binary", "multiclass") and class_names:
        baseline = Score(1 / len(class_names), f"chance (1 in {len(class_names)} classes)")
    evaluation = find_evaluation(folder, metrics["problem"])
    spot = None
    if evaluation is not None and evaluation[1].get("metric") == metric:
        spot = best_of_evaluation(evaluation[1])
    return RunFacts(
        metric=metric, greater_is_better=metrics["greater_is_better"], train=score("train"),
        val=score("val"), test=score("test"), history=history, status=metrics.get("status", "finished"),
        references=refs, baseline=baseline, spot_check=spot, problem=config["problem"],
        data_options=config.get("data_options") or {}, model=config["model"], config=config,
        kind=kind, task=task, class_names=class_names, n_val=n_val, n_test=n_test,
        recipes=recipes, folder=str(folder))


def diagnose_folder(folder: str | Path, load_data: bool = True) -> Diagnosis:
    return diagnose(facts_from_folder(folder, load_data=load_data))


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
    if "image" in spec or len(spec.get("input_shape", ())) == 3:
        return "image"
    if "series" in spec or spec.get("task") == "forecast":
        return "series"
    return "tabular"
