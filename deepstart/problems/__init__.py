"""Problems: what is asked (task, target, metric, split), where its real data comes from, and the
published scores to compare with. No training code lives here, and nothing here imports torch.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from deepstart.errors import unknown_name

TASKS = ("binary", "multiclass", "regression", "forecast")
KINDS = ("tabular", "image", "series", "text")
# metric -> True when greater is better. roc_auc and f1 are for two classes (the positive class is
# class 1), macro_f1 for several, mae and rmse in the target's units; each is computed over all rows
# of a split as scikit-learn computes it (deepstart.problems.metrics).
METRICS = {"accuracy": True, "rmse": False, "roc_auc": True, "f1": True, "macro_f1": True,
           "mae": False}
# The metrics each task is scored by, its default first (the one a problem without its own uses).
TASK_METRICS = {"binary": ("accuracy", "roc_auc", "f1"), "multiclass": ("accuracy", "macro_f1"),
                "regression": ("rmse", "mae"), "forecast": ("rmse", "mae")}


def check_metric(metric: str, task: str) -> None:
    """A DeepstartError unless `metric` is one that scores `task`."""
    from deepstart.errors import DeepstartError

    if metric not in METRICS:
        raise unknown_name("metric", metric, tuple(METRICS))
    if metric not in TASK_METRICS.get(task, ()):
        raise DeepstartError(f"the metric {metric!r} does not score a {task} problem; use one of "
                             f"{', '.join(TASK_METRICS.get(task, ()))}.")


@dataclass(frozen=True)
class Reference:
    """A published score, with enough of a citation that a reader can check it."""

    value: float
    model: str
    source: str
    # a score an ordinary recipe on one machine reaches (a tutorial's model), shown beside the
    # state of the art, which is often an ensemble or days of GPU training
    practical: bool = False

    @property
    def computed(self) -> bool:
        """A baseline computed by deepstart on the problem's own split, not a published result."""
        return "computed" in self.source.lower()


@dataclass(frozen=True)
class Recipe:
    """Settings of `deepstart run PROBLEM --model MODEL` (the model family, RunConfig fields and model
    options) and the claim they were measured to meet: score, data, time, machine, how measured.
    benchmarks/recipes.py re-measures each claim and writes docs/recipes.md."""

    settings: dict
    claim: str
    target: float | None = None  # the score the claim promises (the problem's metric)

    @property
    def model(self) -> str:
        return self.settings["model"]


@dataclass
class Dataset:
    """Raw arrays of a problem on its canonical split, before any scaling.

    Images are (N, C, H, W) in their stored range (`pixel_max` says which); tabular data is (N, F);
    a forecast problem keeps the whole series in `series` and the indices of its test targets.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    feature_names: tuple[str, ...] = ()
    pixel_max: float = 1.0
    series: np.ndarray | None = None
    test_targets: np.ndarray | None = None  # forecast: indices into series that are scored
    # forecast: how many steps ahead of a window's last value its target lies (1: the next value)
    horizon: int = 1
    # a table's own file or frame: the test rows' raw feature columns as read (a pandas DataFrame),
    # before encoding, which is what `deepstart export` checks its ONNX graph on
    test_rows: object = None


@dataclass(frozen=True)
class Problem:
    name: str
    title: str
    task: str  # one of TASKS
    kind: str  # one of KINDS
    metric: str  # one of METRICS
    split: str  # the canonical split, in words
    origin: str  # where the data comes from, in words
    size: str  # e.g. "60,000 + 10,000 images 28x28"
    load_raw: Callable[..., Dataset] = field(repr=False)
    class_names: tuple[str, ...] = ()
    references: tuple[Reference, ...] = ()
    # How to make the data available offline when it is not ("" when it always is).
    get_hint: str = ""
    # Is the data on this machine now, without downloading? None means always.
    offline_check: Callable[[], bool] | None = field(default=None, repr=False)
    # Defaults of `deepstart run PROBLEM`: a recipe known to work on this problem.
    recipe: dict = field(default_factory=dict)
    # Recipes for other model families, each with its measured claim: `--model M` picks M's recipe.
    recipes: tuple[Recipe, ...] = ()
    # Problems built from the user's own data: the file or folder they came from (what config.json
    # stores to build them again), and the JSON description of how raw input became features (the
    # column schema, image size and colour, series settings), saved in model.json.
    path: str | None = None
    schema: dict = field(default_factory=dict, repr=False)
    # A built-in problem whose Problem is built from its data (the text problems: the tokenizer and
    # the column schema are fitted on the training texts): get_problem returns what this returns,
    # built once per process; listing the catalog uses the entry as it is, without loading data.
    materialize: Callable[[], "Problem"] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        check_metric(self.metric, self.task)  # a catalog entry or a loader that got it wrong

    @property
    def greater_is_better(self) -> bool:
        return METRICS[self.metric]

    @property
    def metrics(self) -> tuple[str, ...]:
        """What a run on this problem reports: the problem's metric first, then the task's others."""
        return (self.metric, *(m for m in TASK_METRICS[self.task] if m != self.metric))

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def available_offline(self) -> bool:
        return True if self.offline_check is None else bool(self.offline_check())

    def load(self, data_dir: Path | None = None, download: bool = True) -> Dataset:
        """The raw arrays on the canonical split: cache, shipped files, data_dir, then download."""
        if self.materialize is not None:  # a catalog entry: the Problem built from its data
            return materialized(self).load(data_dir=data_dir, download=download)
        return self.load_raw(data_dir=data_dir, download=download)

    def recipe_for(self, model: str | None) -> dict | None:
        """The settings `deepstart run` starts from for `model` (None: the default recipe's model);
        None when the problem has no recipe for that family."""
        if model is None or model == self.recipe.get("model"):
            return dict(self.recipe)
        for recipe in self.recipes:
            if recipe.model == model:
                return dict(recipe.settings)
        return None

    def matches(self, word: str) -> bool:
        """Whether `word` (any case) is in the name, title, task, kind, size or origin."""
        word = word.lower()
        return any(word in text.lower() for text in (self.name, self.title, self.task, self.kind,
                                                       self.size, self.origin, self.metric))

    def best_published(self) -> Reference | None:
        """The best reference that was published, not computed here."""
        published = [r for r in self.references if not r.computed]
        pick = max if self.greater_is_better else min
        return pick(published, key=lambda r: r.value) if published else None

    def best_recipe(self) -> tuple[Recipe, float] | None:
        """The recipe with the best test score measured on the 2-core CPU, and that score (None
        when none was measured there)."""
        scores = measured_scores()
        measured = [(r, scores[f"{self.name}/{r.model}"]["score"]) for r in self.recipes
                    if f"{self.name}/{r.model}" in scores]
        pick = max if self.greater_is_better else min
        return pick(measured, key=lambda m: m[1]) if measured else None

    def practical_reference(self) -> Reference | None:
        return next((r for r in self.references if r.practical), None)

    def best_reference(self) -> Reference | None:
        if not self.references:
            return None
        pick = max if self.greater_is_better else min
        return pick(self.references, key=lambda r: r.value)


@functools.cache
def measured_scores() -> dict[str, dict]:
    """{"problem/model": {"score", "machine", "date"}}: the latest test score benchmarks/recipes.py
    measured for each catalog recipe on the 2-core CPU, shipped in data/recipe_scores.json (written
    by that script beside docs/recipes.json)."""
    import json
    from importlib import resources

    return json.loads(resources.files("deepstart.problems").joinpath("data/recipe_scores.json")
                      .read_text(encoding="utf-8"))


def get_problem(name: str, options: dict | None = None) -> Problem:
    """A built-in problem by name, or one built from a path: a CSV file (a table or a series) or a
    folder of images. `options` are the data options of a path (target, forecast, image_size, ...);
    see deepstart.problems.user."""
    from deepstart.problems.catalog import PROBLEMS
    from deepstart.problems.user import looks_like_path, no_options_for_builtin, problem_from_path

    if isinstance(name, Problem):
        return materialized(name)
    if name in PROBLEMS and not looks_like_path(name, check_disk=False):
        options = dict(options or {})
        # the one data option of a built-in problem: a text model's own tokenizer (deepstart.text)
        tokenizer = options.pop("tokenizer", None)
        if options:
            raise no_options_for_builtin(name, options)
        if tokenizer is None:
            return materialized(PROBLEMS[name])
        from deepstart.text import check_tokenizer, not_text

        check_tokenizer(tokenizer)
        if PROBLEMS[name].kind != "text":
            kind = PROBLEMS[name].kind
            raise not_text(tokenizer, f"'{name}' is {'an' if kind == 'image' else 'a'} {kind} problem")
        return materialized(PROBLEMS[name], tokenizer=tokenizer)
    if looks_like_path(name):
        return problem_from_path(name, options or {})
    raise unknown_name("problem", name, PROBLEMS)


_MATERIALIZED: dict = {}


def materialized(problem: Problem, **options) -> Problem:
    """`problem` itself, or for a catalog entry with `materialize` the Problem it builds (once per
    process and `options`, e.g. tokenizer="minilm"; the build reads and tokenizes the data)."""
    if problem.materialize is None:
        return problem
    key = (problem.materialize, tuple(sorted(options.items())))
    if key not in _MATERIALIZED:
        built = problem.materialize(**options)
        if not isinstance(built, Problem):
            raise TypeError(f"the materialize of problem '{problem.name}' returned "
                            f"{type(built).__name__}, not a Problem")
        _MATERIALIZED[key] = built
    return _MATERIALIZED[key]


def all_problems() -> list[Problem]:
    from deepstart.problems.catalog import PROBLEMS

    return list(PROBLEMS.values())
