"""The algorithms `deepstart evaluate` spot-checks: a sensible set per kind of problem, each a plain
function from one fold's raw data to a fitted predictor.

    tables   baseline, logistic (classes) or linear (numbers), knn, random-forest, gradient-boosting,
             sklearn-mlp (all scikit-learn, standardised inside the fold), mlp (deepstart)
    images   baseline, logistic on the pixels, mlp, convnet (the last three deepstart networks);
             by name only, efficientnet-lite0-frozen (ImageNet features + a head; skipped, saying
             which package to install, when its weights are not installed)
    series   persistence, seasonal-naive, linear (autoregression on windows), mlp on windows, lstm
    text     baseline, tfidf-logistic (words and bigrams), naive-bayes (multinomial, on counts),
             bag and lstm (deepstart networks on the token ids); by name only, minilm-frozen
             (MiniLM's sentence features on its own tokenizer's ids + a head; skipped like lite0
             without its package)

On images the table algorithms (knn, random-forest, ...) also run on the flattened pixels when named
with `--algorithms`; so does your own class, named by its reference (`--algorithms
convnet,mynet.py:MyNet`), trained as the networks are (`user_algorithm`). Every algorithm sees raw
values, as the problem stores them, and scales them with statistics of its fold's training rows
alone: scikit-learn ones in a Pipeline with StandardScaler, deepstart networks through `prepare`
(standardised tables, pixels / their maximum, z-scored series).

On text, the scikit-learn algorithms read the fold's texts as the networks do: the token ids of the
same rows decoded by the problem's tokenizer (lower case, words split from punctuation, words the
tokenizer does not keep as [UNK], cut at its length), so all of them see the same words; TF-IDF and
the counts are fitted on the fold's training texts alone. TF-IDF + logistic regression also reads
the other columns of a mixed table (standardised); naive Bayes reads the text alone.

The networks train with `deepstart run --model FAMILY`'s settings for the problem (its recipe for that
family, or the default recipe's training settings), for the recipe's epochs unless `epochs` is given.
On small data (k-fold) they train on all the fold's training rows for all those epochs. On large data
(a hold-out of 5,000 rows or more, where an epoch costs real time) they hold out 10 % of the training
rows (stratified for classes), stop once the validation loss has not improved for 3 epochs, and keep
the best epoch's weights: `run`'s own budget and validation part, so a network is not ranked on a
truncated training (capped at 5 epochs, the MLP came 5th at 0.847 on a 20,000-row table where its own
run reached 0.96). scikit-learn's MLP stops by its own rule (training loss, 10 epochs of patience).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
# Imported here, not inside the fits, so that no algorithm's fit time includes an import (this
# module is only imported by `deepstart evaluate`, which needs them all).
from sklearn.compose import TransformedTargetRegressor
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import (HistGradientBoostingClassifier, HistGradientBoostingRegressor,
                              RandomForestClassifier, RandomForestRegressor)
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.naive_bayes import MultinomialNB
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from deepstart.errors import DeepstartError
from deepstart.learner import Learner
from deepstart.prepare import prepare
from deepstart.problems import Dataset, Problem

CLASSIFY = ("binary", "multiclass")
VAL_SPLIT = 0.1  # networks with early stopping: this share of the training rows validates
PATIENCE = 3  # epochs without a better validation loss before a network stops


@dataclass(frozen=True)
class Fold:
    """One split of the evaluation's rows, raw (unscaled). `train` and `test` are row indices into
    the evaluation's rows (for a series: into the series; `test` are the targets scored)."""

    number: int
    train: np.ndarray
    test: np.ndarray
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    series: np.ndarray | None = None  # series: all the values; the model learns from [:train_end]
    train_end: int = 0
    horizon: int = 1
    pixel_max: float = 1.0
    feature_names: tuple[str, ...] = ()

    def dataset(self) -> Dataset:
        """The fold as a Dataset, for deepstart's `prepare`."""
        if self.series is not None:
            s, end = self.series, self.train_end
            return Dataset(s[:end, None], s[:end], s[end:, None], s[end:], series=s,
                           test_targets=self.test, horizon=self.horizon,
                           feature_names=self.feature_names)
        return Dataset(self.x_train, self.y_train, self.x_test, self.y_test,
                       feature_names=self.feature_names, pixel_max=self.pixel_max)


@dataclass
class Context:
    """What every algorithm may need besides the fold: the problem, the seed, and the settings of
    the networks and the series models."""

    problem: Problem
    seed: int = 0
    epochs: int | None = None  # networks: None = the recipe's
    device: str = "auto"
    lookback: int | None = None  # series windows; None = the recipe's
    season: int | None = None  # series: seasonal-naive's season (None: the series has none)
    data_options: dict = field(default_factory=dict)
    threads: int | None = None  # threads the evaluation runs on (None: the libraries' defaults)
    early_stopping: bool = False  # networks: validate on VAL_SPLIT of the training rows, stop early
    _tokens: dict = field(default_factory=dict)  # own_tokens' problems and rows, per family

    def networks_protocol(self) -> str:
        """How the networks were trained, in words (the leaderboard and evaluation.json say it)."""
        if self.early_stopping:
            return (f"deepstart networks: up to the recipe's epochs (or --epochs), {VAL_SPLIT:.0%} of "
                    f"the training rows held out for early stopping (validation loss, patience "
                    f"{PATIENCE} epochs), the best epoch's weights kept")
        return ("deepstart networks: the recipe's epochs (or --epochs) on all the training rows of "
                "each fold")

    def network_config(self, family: str, frozen: bool | None = None, problem=None):
        """`deepstart run PROBLEM --model FAMILY [--frozen]`'s settings, with this evaluation's
        choices."""
        from deepstart.run import RunConfig

        config = RunConfig.for_problem(problem or self.problem, data_options=self.data_options,
                                       model=family,
                                       epochs=self.epochs, lookback=self.lookback, seed=self.seed,
                                       device=self.device, frozen=frozen,
                                       val_split=VAL_SPLIT if self.early_stopping else 0.0)
        if self.problem.task == "forecast":
            config.lookback = self.series_lookback()
        return config

    def own_tokens(self, family: str, fold: Fold) -> tuple[Problem, Fold]:
        """A pretrained text family reads its own tokenizer's ids: the problem built with the data
        option tokenizer=<its tokenizer> (the same rows in the same order, another text entry),
        and `fold`'s rows of it."""
        from deepstart.problems import get_problem
        from deepstart.text import FAMILY_TOKENIZERS

        if family not in self._tokens:
            options = self.data_options | {"tokenizer": FAMILY_TOKENIZERS[family]}
            problem = get_problem(self.problem.path or self.problem.name, options)
            data = problem.load(download=False)
            self._tokens[family] = (problem, np.concatenate([data.x_train, data.x_test]),
                                    np.concatenate([data.y_train, data.y_test]))
        problem, x, y = self._tokens[family]
        if len(x) <= int(max(fold.train.max(), fold.test.max())) or not (
                np.array_equal(y[fold.train], fold.y_train) and np.array_equal(y[fold.test], fold.y_test)):
            raise DeepstartError(f"the rows of {self.problem.name} with the {family} tokenizer are not "
                                 "those of the evaluation; evaluate it with --algorithms without "
                                 f"{family}.")
        return problem, Fold(fold.number, fold.train, fold.test, x[fold.train], fold.y_train,
                             x[fold.test], fold.y_test, feature_names=fold.feature_names)

    def series_lookback(self) -> int:
        if self.lookback is not None:
            return self.lookback
        return int(self.problem.recipe.get("lookback") or 1)


# the test rows' answers: predictions, or for a problem scored by ROC AUC the probability of class 1
Predict = Callable[[], np.ndarray]


@dataclass(frozen=True)
class Algorithm:
    name: str
    title: str  # what it is, in words
    tasks: tuple[str, ...]
    kinds: tuple[str, ...]  # the kinds of problem it applies to
    default_for: tuple[str, ...]  # the kinds whose default set includes it
    cost: int  # run order, cheapest first (a budget then skips the costly ones)
    fit: Callable[[Fold, Context], Predict]  # fit on the fold's training part; returns predict()
    settings: Callable[[Context], dict] = field(default=lambda ctx: {})
    family: str | None = None  # a deepstart network: its zoo family (trained with the recipe)

    def applies_to(self, problem: Problem) -> bool:
        return problem.task in self.tasks and problem.kind in self.kinds


# --- scikit-learn -------------------------------------------------------------------------------

def _flat(x: np.ndarray) -> np.ndarray:
    return x.reshape(len(x), -1)


def _quiet_fit(estimator, x, y):
    """Fit with scikit-learn's convergence warnings silenced: spot-checking runs defaults on
    purpose, and a wall of warnings would hide the leaderboard."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(x, y)


def _answers(model, x, ctx: Context) -> np.ndarray:
    """What the problem's metric scores: ROC AUC ranks rows by the probability of class 1 (a
    class-of-every-row baseline ties them all: 0.5); every other metric takes predictions."""
    if ctx.problem.metric == "roc_auc":
        return model.predict_proba(x)[:, 1]
    return model.predict(x)


def _sklearn(make: Callable[[Context, bool], object]) -> Callable[[Fold, Context], Predict]:
    """An algorithm from a scikit-learn estimator factory: StandardScaler, then the estimator."""
    def fit(fold: Fold, ctx: Context) -> Predict:
        model = make_pipeline(StandardScaler(), make(ctx, ctx.problem.task in CLASSIFY))
        _quiet_fit(model, _flat(fold.x_train), fold.y_train)
        return lambda: _answers(model, _flat(fold.x_test), ctx)
    return fit


def _baseline(fold: Fold, ctx: Context) -> Predict:
    model = (DummyClassifier(strategy="most_frequent") if ctx.problem.task in CLASSIFY
             else DummyRegressor(strategy="mean"))
    model.fit(_flat(fold.x_train), fold.y_train)
    return lambda: _answers(model, _flat(fold.x_test), ctx)


def _logistic(ctx, classify):
    return LogisticRegression(max_iter=1000)


def _linear(ctx, classify):
    return LinearRegression()


def _knn(ctx, classify):
    return KNeighborsClassifier() if classify else KNeighborsRegressor()


def _forest(ctx, classify):
    cls = RandomForestClassifier if classify else RandomForestRegressor
    return cls(n_estimators=100, random_state=ctx.seed, n_jobs=ctx.threads or -1)


def _boosting(ctx, classify):
    cls = HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor
    return cls(random_state=ctx.seed)


def _sklearn_mlp(ctx, classify):
    if classify:
        return MLPClassifier(hidden_layer_sizes=(100,), max_iter=500, random_state=ctx.seed)
    # The target standardised too, as deepstart's networks have it: on raw targets in the hundreds
    # (diabetes: 25..346) Adam's small steps left the MLP at RMSE 84, worse than the mean's 68.6.
    return TransformedTargetRegressor(
        MLPRegressor(hidden_layer_sizes=(100,), max_iter=500, random_state=ctx.seed),
        transformer=StandardScaler())


# --- text ---------------------------------------------------------------------------------------

def fold_texts(x: np.ndarray, problem: Problem) -> tuple[list[str], np.ndarray]:
    """(the texts, the other columns' raw features) of rows `x` of a text problem: the token ids
    decoded by the problem's own tokenizer, as the networks read them."""
    from deepstart.text import decode, text_entry, text_layout

    layout = text_layout(problem.schema)
    start, length = layout["text_start"], layout["text_length"]
    return decode(text_entry(problem.schema), x[:, start:start + length]), x[:, :start]


# whole tokens as the tokenizer wrote them ([UNK] included), case already folded
TOKEN_PATTERN = r"\S+"


def _tfidf_logistic(fold: Fold, ctx: Context) -> Predict:
    from scipy import sparse

    texts, other = fold_texts(fold.x_train, ctx.problem)
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True,
                                 token_pattern=TOKEN_PATTERN, lowercase=False)
    scaler = StandardScaler() if other.shape[1] else None

    def features(texts, other, fit=False):
        words = vectorizer.fit_transform(texts) if fit else vectorizer.transform(texts)
        if scaler is None:
            return words
        table = scaler.fit_transform(other) if fit else scaler.transform(other)
        return sparse.hstack([words, sparse.csr_matrix(table)]).tocsr()

    model = _quiet_fit(LogisticRegression(max_iter=1000), features(texts, other, fit=True),
                       fold.y_train)
    return lambda: _answers(model, features(*fold_texts(fold.x_test, ctx.problem)), ctx)


def _naive_bayes(fold: Fold, ctx: Context) -> Predict:
    vectorizer = CountVectorizer(ngram_range=(1, 2), min_df=2, token_pattern=TOKEN_PATTERN,
                                 lowercase=False)
    model = MultinomialNB().fit(vectorizer.fit_transform(fold_texts(fold.x_train, ctx.problem)[0]),
                                fold.y_train)
    return lambda: _answers(model, vectorizer.transform(fold_texts(fold.x_test, ctx.problem)[0]),
                            ctx)


TEXT_SETTINGS = {"ngram_range": [1, 2], "min_df": 2, "texts": "token ids decoded"}


# --- deepstart networks -------------------------------------------------------------------------

def _network(family: str, frozen: bool | None = None) -> Callable[[Fold, Context], Predict]:
    def fit(fold: Fold, ctx: Context) -> Predict:
        from deepstart.text import FAMILY_TOKENIZERS

        problem = ctx.problem
        if family in FAMILY_TOKENIZERS:
            problem, fold = ctx.own_tokens(family, fold)
        config = ctx.network_config(family, frozen, problem)
        data = prepare(fold.dataset(), problem, val_split=config.val_split, seed=ctx.seed,
                       lookback=config.lookback, scale=config.scale)
        callbacks = []
        if ctx.early_stopping:
            from deepstart.callbacks import EarlyStopping

            callbacks = [EarlyStopping("val_loss", patience=PATIENCE)]
        learner = Learner(config.model, data, optimizer=config.optimizer, lr=config.lr,
                          batch_size=config.batch_size, seed=ctx.seed,
                          weight_decay=config.weight_decay, schedule=config.schedule,
                          warmup_epochs=config.warmup_epochs, clip_grad=config.clip_grad,
                          label_smoothing=config.label_smoothing, device=config.device,
                          precision=config.precision, augment=config.augment, tta=config.tta,
                          model_options=config.model_options, callbacks=callbacks, verbose=0,
                          freeze=config.freeze, unfreeze_after=config.unfreeze_after,
                          frozen=config.frozen)
        learner.fit(config.epochs)
        return lambda: _answers(learner, "test", ctx)
    return fit


def _network_settings(family: str, frozen: bool | None = None) -> Callable[[Context], dict]:
    def settings(ctx: Context) -> dict:
        c = ctx.network_config(family, frozen)
        out = {"model": c.model, **c.model_options, "epochs": c.epochs, "batch_size": c.batch_size,
               "lr": c.lr, "optimizer": c.optimizer, "schedule": c.schedule}
        for name in ("weight_decay", "lookback", "scale", "augment", "tta", "frozen", "freeze",
                     "unfreeze_after"):
            if getattr(c, name):
                out[name] = getattr(c, name)
        if ctx.early_stopping:
            out["early_stopping"] = {"val_split": VAL_SPLIT, "monitor": "val_loss",
                                     "patience": PATIENCE, "restore_best": True}
        return out
    return settings


# --- series -------------------------------------------------------------------------------------

def _persistence(fold: Fold, ctx: Context) -> Predict:
    return lambda: fold.series[fold.test - fold.horizon]


def seasonal_lag(season: int, horizon: int) -> int:
    """The latest same-season value at least `horizon` steps back."""
    return season * math.ceil(horizon / season)


def _seasonal_naive(fold: Fold, ctx: Context) -> Predict:
    if not ctx.season or ctx.season < 2:
        raise DeepstartError("seasonal-naive needs a season; pass --season M.")
    back = seasonal_lag(ctx.season, fold.horizon)
    return lambda: fold.series[fold.test - back]


def windows(series: np.ndarray, targets: np.ndarray, lookback: int, horizon: int) -> np.ndarray:
    """The `lookback` values that end `horizon` steps before each target (as `prepare` cuts them)."""
    idx = targets[:, None] - (horizon - 1) - lookback + np.arange(lookback)[None, :]
    return series[idx]


def _autoregression(fold: Fold, ctx: Context) -> Predict:
    lookback, h, s = ctx.series_lookback(), fold.horizon, fold.series.astype(np.float64)
    targets = np.arange(lookback + h - 1, fold.train_end)
    if len(targets) < 2:
        raise DeepstartError(f"a look-back of {lookback} leaves {len(targets)} training windows in "
                             f"{fold.train_end} values; use a smaller --lookback.")
    model = make_pipeline(StandardScaler(), LinearRegression())
    model.fit(windows(s, targets, lookback, h), s[targets])
    return lambda: model.predict(windows(s, fold.test, lookback, h))


ALGORITHMS: tuple[Algorithm, ...] = (
    Algorithm("baseline", "majority class / training mean (scikit-learn Dummy)",
              ("binary", "multiclass", "regression"), ("tabular", "image", "text"),
              ("tabular", "image", "text"), 0, _baseline),
    Algorithm("persistence", "the value one horizon earlier", ("forecast",), ("series",),
              ("series",), 0, _persistence),
    Algorithm("seasonal-naive", "the same point one season earlier", ("forecast",), ("series",),
              ("series",), 1, _seasonal_naive, lambda ctx: {"season": ctx.season}),
    Algorithm("logistic", "logistic regression (scikit-learn, standardised)", CLASSIFY,
              ("tabular",), ("tabular",), 2, _sklearn(_logistic), lambda ctx: {"max_iter": 1000}),
    # On pixels, the course's logistic regression as a one-layer network, trained by the Learner:
    # scikit-learn's L-BFGS took 100 s for 100 iterations on Fashion-MNIST's 60,000 x 784 pixels
    # on the busy 2-core machine (0.844; 1,000 iterations took 23 minutes), the network seconds.
    Algorithm("logistic", "logistic regression on the pixels (deepstart network, Learner)",
              CLASSIFY, ("image",), ("image",), 2, _network("logistic"),
              _network_settings("logistic"), "logistic"),
    Algorithm("linear", "linear regression (scikit-learn, standardised)", ("regression",),
              ("tabular", "image"), ("tabular",), 2, _sklearn(_linear)),
    Algorithm("linear", "linear autoregression on windows (scikit-learn)", ("forecast",),
              ("series",), ("series",), 2, _autoregression,
              lambda ctx: {"lookback": ctx.series_lookback()}),
    Algorithm("knn", "k-nearest neighbours, k=5 (scikit-learn, standardised)",
              ("binary", "multiclass", "regression"), ("tabular", "image"), ("tabular",), 3,
              _sklearn(_knn)),
    Algorithm("random-forest", "random forest, 100 trees (scikit-learn)",
              ("binary", "multiclass", "regression"), ("tabular", "image"), ("tabular",), 4,
              _sklearn(_forest)),
    Algorithm("gradient-boosting", "histogram gradient boosting (scikit-learn)",
              ("binary", "multiclass", "regression"), ("tabular", "image"), ("tabular",), 5,
              _sklearn(_boosting)),
    Algorithm("sklearn-mlp", "MLP 100, Adam, up to 500 epochs (scikit-learn MLPClassifier/Regressor)",
              ("binary", "multiclass", "regression"), ("tabular", "image"), ("tabular",), 6,
              _sklearn(_sklearn_mlp), lambda ctx: {"hidden_layer_sizes": [100], "max_iter": 500} | (
                  {} if ctx.problem.task in CLASSIFY else {"target": "standardised"})),
    Algorithm("mlp", "deepstart MLP (Learner, the problem's settings)",
              ("binary", "multiclass", "regression", "forecast"), ("tabular", "image", "series"),
              ("tabular", "image", "series"), 7, _network("mlp"), _network_settings("mlp"), "mlp"),
    Algorithm("lstm", "deepstart LSTM on windows (Learner)", ("forecast",), ("series",),
              ("series",), 8, _network("lstm"), _network_settings("lstm"), "lstm"),
    Algorithm("tfidf-logistic", "TF-IDF of words and bigrams + logistic regression (scikit-learn)",
              CLASSIFY, ("text",), ("text",), 2, _tfidf_logistic,
              lambda ctx: TEXT_SETTINGS | {"sublinear_tf": True, "max_iter": 1000}),
    Algorithm("naive-bayes", "multinomial naive Bayes on word and bigram counts (scikit-learn)",
              CLASSIFY, ("text",), ("text",), 1, _naive_bayes, lambda ctx: dict(TEXT_SETTINGS)),
    Algorithm("bag", "deepstart bag of words and bigrams, fastText-style (Learner, the recipe)",
              ("binary", "multiclass", "regression"), ("text",), ("text",), 7, _network("bag"),
              _network_settings("bag"), "bag"),
    Algorithm("lstm", "deepstart bidirectional LSTM on the tokens (Learner, the recipe)",
              ("binary", "multiclass", "regression"), ("text",), ("text",), 8, _network("lstm"),
              _network_settings("lstm"), "lstm"),
    Algorithm("convnet", "deepstart ConvNet (Learner, the problem's settings)",
              ("binary", "multiclass", "regression"), ("image",), ("image",), 9,
              _network("convnet"), _network_settings("convnet"), "convnet"),
    # the pretrained column: features computed once per fold, a head trained on them (`run --model
    # efficientnet-lite0 --frozen`); skipped, saying which package to install, when the weights are
    # not installed (missing_weights). Asked for by name (--algorithms), not in the default set: on
    # a 2-core CPU the features of five folds of a few thousand texts or images take from many
    # minutes to hours (docs/pretrained.md's benchmarks give the rates).
    Algorithm("minilm-frozen", "all-MiniLM-L6-v2 sentence features (its own tokenizer) + a "
              "trained head (pretrained, --frozen)", ("binary", "multiclass", "regression"),
              ("text",), (), 11, _network("minilm", frozen=True),
              _network_settings("minilm", frozen=True), "minilm"),
    Algorithm("efficientnet-lite0-frozen", "EfficientNet-Lite0 ImageNet features + a trained head "
              "(pretrained, --frozen)", ("binary", "multiclass", "regression"), ("image",),
              (), 11, _network("efficientnet-lite0", frozen=True),
              _network_settings("efficientnet-lite0", frozen=True), "efficientnet-lite0"),
)


def missing_weights(algorithm: Algorithm) -> str | None:
    """Why a pretrained algorithm cannot run here (its weight package is not installed, in
    deepstart.pretrained's words), or None."""
    import importlib.util

    from deepstart.pretrained import BACKBONES, missing_package

    backbone = BACKBONES.get(str(algorithm.family))
    if backbone is None or importlib.util.find_spec(backbone.module) is not None:
        return None
    return str(missing_package(backbone.name)).rstrip(".") + "; skipped"


def user_algorithm(reference: str, taken: tuple[str, ...] = ()) -> Algorithm:
    """Your own model class (`PATH.py:Class` or `package.module:Class`), trained like the deepstart
    networks: the problem's default recipe's training settings, the same folds. Named by its class
    (the reference itself when another algorithm has that name); its settings keep the reference."""
    from deepstart.models.custom import parse

    name = parse(reference)[2]
    return Algorithm(name if name not in taken else reference,
                     f"your model {reference} (Learner, the problem's settings)",
                     ("binary", "multiclass", "regression", "forecast"),
                     ("tabular", "image", "series"), (), 10, _network(reference),
                     _network_settings(reference), reference)


def available(problem: Problem) -> dict[str, Algorithm]:
    """The algorithms that apply to this problem, by name."""
    return {a.name: a for a in ALGORITHMS if a.applies_to(problem)}


def defaults(problem: Problem, season: int | None = None) -> list[Algorithm]:
    """The default set for the problem's kind (seasonal-naive only where there is a season)."""
    return [a for a in available(problem).values() if problem.kind in a.default_for
            and not (a.name == "seasonal-naive" and not season)]
