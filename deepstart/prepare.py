"""Raw arrays -> Prepared: float tensors for train/validation/test, scaled with statistics of the
training part only, targets in the form the task's loss wants. Deterministic for a given seed.

The scaling is kept (`Prepared.scaling`) so new raw inputs can be prepared the same way, and so a
saved model carries it in model.json.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from deepstart.errors import DeepstartError, unknown_name
from deepstart.problems import Dataset, Problem
from deepstart.problems.splits import split_indices


NO_SCALING = {"offset": 0.0, "scale": 1.0}


@dataclass
class Prepared:
    task: str
    input_shape: tuple[int, ...]
    n_outputs: int
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    class_names: tuple[str, ...] = ()
    feature_names: tuple[str, ...] = ()
    # {"x": {"offset": [...], "scale": [...]}, "y": {"offset": m, "scale": s}}: x' = (x - offset) / scale;
    # a missing entry means the values are used as they are
    scaling: dict = field(default_factory=dict)
    problem: str | None = None
    lookback: int | None = None
    horizon: int | None = None  # forecast: steps from a window's last value to its target
    # images: the stored pixel maximum (digits 16, MNIST 255), so that new images in 0..255 (a PNG,
    # a canvas) can be brought to the units the scaling above expects
    pixel_max: float | None = None
    # text: where the token ids lie in each row, {"text_start": F, "text_length": L,
    # "vocab_size": V} (deepstart.text.text_layout); None without text
    text: dict | None = None

    @property
    def is_classifier(self) -> bool:
        return self.task in ("binary", "multiclass")

    def transform(self, x: np.ndarray) -> torch.Tensor:
        """Scale raw inputs (as the problem stores them) the way the training data was scaled."""
        x = np.asarray(x, dtype=np.float32)
        if x.shape[1:] != self.input_shape and x.reshape(len(x), -1).shape[1] == np.prod(self.input_shape):
            x = x.reshape(len(x), *self.input_shape)
        if x.shape[1:] != self.input_shape:
            raise DeepstartError(f"inputs of shape {x.shape[1:]} arrived; this model expects "
                                 f"{self.input_shape} per sample.")
        return torch.from_numpy(scale_x(x, self.scaling.get("x", NO_SCALING)))

    def target_values(self, y: torch.Tensor) -> np.ndarray:
        """Model-space targets or outputs back to the problem's units (classes or numbers)."""
        y = y.detach().cpu()
        if self.task == "multiclass":
            return y.numpy()
        if self.task == "binary":
            return y.reshape(-1).numpy().astype(np.int64)
        s = self.scaling.get("y", NO_SCALING)
        return y.reshape(-1).numpy() * s["scale"] + s["offset"]


def scale_x(x: np.ndarray, s: dict) -> np.ndarray:
    """Raw inputs scaled as the training data was: (x - offset) / scale, float32 (`s` is the
    "x" entry of a run's scaling; export and serve bring new rows and images in through it)."""
    offset = np.asarray(s["offset"], dtype=np.float32)
    scale = np.asarray(s["scale"], dtype=np.float32)
    return np.ascontiguousarray((x - offset) / scale, dtype=np.float32)


# What to do with a table that has text or gaps, said wherever arrays from Python are refused.
TABLE_HINT = ("or give the table as a DataFrame to deepstart.tabular_problem(frame, target=...), "
              "which imputes gaps and one-hot encodes text")


def numeric_inputs(x, name: str = "x") -> np.ndarray:
    """`x` as float32, or a DeepstartError that names the text, NaN or infinite values in it: they
    would otherwise surface as numpy's "could not convert" or as a loss that became NaN."""
    names = [str(c) for c in x.columns] if hasattr(x, "columns") else None  # a DataFrame

    def column(j) -> str:
        return f", column {names[j]!r}" if names else f", column {j}"

    try:
        with np.errstate(over="ignore"):  # values beyond float32 become inf, named below
            a = np.asarray(x, dtype=np.float32)
    except (ValueError, TypeError):
        import pandas as pd

        raw = np.asarray(x, dtype=object)
        flat = raw.reshape(len(raw), -1) if raw.ndim > 1 else raw.reshape(-1, 1)
        for j in range(flat.shape[1]):
            text = pd.to_numeric(pd.Series(flat[:, j]), errors="coerce").isna().to_numpy() & \
                ~pd.isna(flat[:, j])
            if text.any():
                i = int(np.argmax(text))
                where = f"row {i}" + (column(j) if raw.ndim == 2 else "")
                raise DeepstartError(f"{name} holds text ({flat[i, j]!r} in {where}); arrays must "
                                     f"hold numbers: encode the text as numbers first, "
                                     f"{TABLE_HINT}.") from None
        raise DeepstartError(f"{name} must be an array of numbers; received {type(x).__name__}.") \
            from None
    finite = np.isfinite(a)
    if not finite.all():
        nan = np.isnan(a)
        bad, kind = (nan, "missing (NaN)") if nan.any() else \
            (~finite, "infinite (or beyond float32's 3.4e38)")
        first = np.argwhere(bad)[0]
        where = f"row {first[0]}" + (column(first[1]) if a.ndim == 2 else "")
        raise DeepstartError(f"{name} has {int(bad.sum())} {kind} value(s), the first in {where}; "
                             f"this is bad data, not a training setting: fill or drop them, "
                             f"{TABLE_HINT}.")
    return a


def _checked_target(y: np.ndarray, task: str | None) -> np.ndarray:
    """y without gaps: NaN, None or an infinite value as a target is named, with its row."""
    if y.dtype.kind not in "fcO":
        return y
    import pandas as pd

    gap = ~np.isfinite(y) if y.dtype.kind in "fc" else pd.isna(y) | (y == np.inf) | (y == -np.inf)
    if gap.any():
        i = int(np.argmax(gap.reshape(-1)))
        raise DeepstartError(f"y has {int(gap.sum())} missing or infinite target(s), the first in row "
                             f"{i} ({y.reshape(-1)[i]}); drop those rows (a row without a target "
                             "teaches nothing and cannot be scored).")
    if y.dtype.kind == "O" and task != "regression":
        y = y.astype(str)  # mixed labels (1 and "1") sort as text
    return y


def _split_val(x, y, val_split: float, seed: int, stratify: bool):
    if val_split <= 0:
        return x, y, x[:0], y[:0]
    n_val = int(round(len(x) * val_split))
    if n_val < 1 or n_val >= len(x):
        raise DeepstartError(f"a validation split of {val_split} leaves no rows for validation or "
                             f"training out of {len(x)}; use --val-split 0 or a value in (0, 0.5].")
    train, val = split_indices(y, n_val, seed, stratify=stratify)
    return x[train], y[train], x[val], y[val]


SCALINGS = ("unit", "standard")


def prepare(data: Dataset, problem: Problem, *, val_split: float = 0.1, seed: int = 0,
            lookback: int | None = None, scale: str | None = None) -> Prepared:
    """Tensors for a problem's raw data: images scaled to [0, 1] ("unit"), tables standardised
    per feature ("standard": mean 0, sd 1 on the training rows; `scale` picks either), series
    windowed. The validation rows come out of the training part (stratified for classes, the last
    months for a series), never out of the test part."""
    if not 0 <= val_split < 1:
        raise DeepstartError(f"the validation split must be in [0, 1); received {val_split}.")
    if problem.task == "forecast":
        return _prepare_series(data, problem, val_split=val_split, lookback=lookback or 1)

    classify = problem.task in ("binary", "multiclass")
    x_tr, y_tr, x_val, y_val = _split_val(data.x_train, data.y_train, val_split, seed, classify)
    scale = scale or ("unit" if problem.kind == "image" else "standard")
    from deepstart.text import text_layout

    layout = text_layout(problem.schema)
    if layout is not None and scale != "standard":
        raise DeepstartError(f"a problem with text is scaled 'standard' (its token ids are left as "
                             f"they are); drop --scale {scale}.")
    if scale not in SCALINGS:
        raise unknown_name("scaling", scale, SCALINGS)
    if scale == "unit":
        sx = {"offset": 0.0, "scale": float(data.pixel_max)}
    else:
        # sequences: one mean and sd per feature over every step (a per-step z-score would flatten
        # the shape the steps make), spread over the steps so that saved scaling keeps x's shape
        axes = (0, 1) if "sequence" in problem.schema else 0
        mean = np.broadcast_to(x_tr.mean(axis=axes), x_tr.shape[1:])
        std = np.broadcast_to(x_tr.std(axis=axes), x_tr.shape[1:])
        std = np.where(std > 0, std, 1.0)
        if layout is not None:  # token ids are indices into an embedding, not quantities
            mean, std = mean.copy(), std.copy()
            tokens = slice(layout["text_start"], layout["text_start"] + layout["text_length"])
            mean[tokens], std[tokens] = 0.0, 1.0
        sx = {"offset": mean.tolist(), "scale": std.tolist()}
    scaling = {"x": sx}

    if problem.task == "multiclass":
        def ty(y):
            return torch.from_numpy(np.asarray(y, dtype=np.int64))
        n_out = problem.n_classes
    elif problem.task == "binary":
        def ty(y):  # BCE-with-logits wants float targets shaped like the single output
            return torch.from_numpy(np.asarray(y, dtype=np.float32).reshape(-1, 1))
        n_out = 1
    else:
        m, s = float(y_tr.mean()), float(y_tr.std()) or 1.0
        scaling["y"] = {"offset": m, "scale": s}

        def ty(y):
            return torch.from_numpy(((np.asarray(y, np.float32) - m) / s).reshape(-1, 1))
        n_out = 1

    def tx(x):
        return torch.from_numpy(scale_x(x, sx))

    return Prepared(
        task=problem.task, input_shape=tuple(data.x_train.shape[1:]), n_outputs=n_out,
        x_train=tx(x_tr), y_train=ty(y_tr), x_val=tx(x_val), y_val=ty(y_val),
        x_test=tx(data.x_test), y_test=ty(data.y_test), class_names=problem.class_names,
        feature_names=data.feature_names, scaling=scaling, problem=problem.name,
        pixel_max=float(data.pixel_max) if problem.kind == "image" else None, text=layout)


def _prepare_series(data: Dataset, problem: Problem, *, val_split: float, lookback: int) -> Prepared:
    """Windows of the `lookback` values that end `horizon` steps before a target predict it
    (horizon 1: the values before month t predict month t). Training targets lie in the training
    part; the scored test targets are the problem's, each predicted from the true values before it."""
    s = data.series.astype(np.float32)
    n_train = len(data.x_train)
    h = data.horizon
    test_t = np.asarray(data.test_targets)
    # at least two training windows, and every test window inside the series
    if lookback < 1 or lookback + h + 1 > n_train or lookback + h - 1 > test_t.min():
        ahead = f" with a horizon of {h}" if h > 1 else ""
        raise DeepstartError(f"a look-back of {lookback} does not fit {n_train} training values"
                             f"{ahead}; use --lookback 1 to {max(1, (n_train - h + 1) // 2)}.")
    m, sd = float(s[:n_train].mean()), float(s[:n_train].std()) or 1.0
    z = (s - m) / sd
    train_t = np.arange(lookback + h - 1, n_train)
    n_val = int(round(len(train_t) * val_split))
    fit_t, val_t = train_t[: len(train_t) - n_val], train_t[len(train_t) - n_val:]

    def windows(targets):
        idx = window_index(targets, lookback, h)
        return torch.from_numpy(z[idx]), torch.from_numpy(z[targets].reshape(-1, 1))

    x_tr, y_tr = windows(fit_t)
    x_val, y_val = windows(val_t)
    x_te, y_te = windows(test_t)
    scaling = {"x": {"offset": m, "scale": sd}, "y": {"offset": m, "scale": sd}}
    return Prepared(task="forecast", input_shape=(lookback,), n_outputs=1, x_train=x_tr,
                    y_train=y_tr, x_val=x_val, y_val=y_val, x_test=x_te, y_test=y_te,
                    feature_names=data.feature_names, scaling=scaling, problem=problem.name,
                    lookback=lookback, horizon=h)


def window_index(targets: np.ndarray, lookback: int, horizon: int) -> np.ndarray:
    """(targets, lookback) indices into the series: the values a forecast of each target reads,
    oldest first (export takes the raw test windows through here too)."""
    return np.asarray(targets)[:, None] - (horizon - 1) - lookback + np.arange(lookback)[None, :]


def prepare_arrays(x, y, *, task: str | None = None, val_split: float = 0.1, test_split: float = 0.2,
                   seed: int = 0, class_names: tuple[str, ...] = ()) -> Prepared:
    """NumPy arrays or pandas objects from Python: numeric features, a target; the task is inferred
    (integers or strings with few distinct values -> classes; floats -> regression) unless given."""
    x = numeric_inputs(x, "x")
    y = np.asarray(y)
    if x.ndim == 1:
        x = x[:, None]
    if len(x) != len(y):
        raise DeepstartError(f"x has {len(x)} rows but y has {len(y)}; give one target per row.")
    y = _checked_target(y, task)
    if len(x) < 4:
        raise DeepstartError(f"{len(x)} rows are too few to train and test; give at least 4.")
    if task is None:
        discrete = y.dtype.kind in "iubOUS" or (y.dtype.kind == "f" and np.all(y == np.round(y))
                                                 and len(np.unique(y)) <= 20)
        task = ("binary" if len(np.unique(y)) == 2 else "multiclass") if discrete else "regression"
    if task in ("binary", "multiclass"):
        labels, y = np.unique(y, return_inverse=True)
        if len(labels) < 2:
            raise DeepstartError("the target has a single class; a classifier needs at least two.")
        class_names = class_names or tuple(str(v) for v in labels)
    n_test = min(max(1, int(round(len(x) * test_split))), len(x) - 1)
    train, test = split_indices(y, n_test, seed, stratify=task in ("binary", "multiclass"))
    x_tr, x_te, y_tr, y_te = x[train], x[test], y[train], y[test]
    problem = Problem(name="arrays", title="arrays", task=task, kind="tabular",
                      metric="accuracy" if task in ("binary", "multiclass") else "rmse",
                      split=f"random {1 - test_split:.0%}/{test_split:.0%}", origin="arrays",
                      size=f"{len(x)} rows", load_raw=lambda **_: None, class_names=class_names)
    data = Dataset(x_tr, y_tr, x_te, y_te)
    prepared = prepare(data, problem, val_split=val_split, seed=seed)
    prepared.problem = None
    return prepared
