"""The metrics of deepstart.problems.METRICS, computed over all rows of a split as scikit-learn's
functions compute them (tests/test_metrics.py compares the two to 1e-9), in NumPy: scikit-learn
costs a second to import, and these are a few lines each.

ROC AUC ranks the rows by the model's score for class 1 (a logit or a probability: the ranking is
the same), with tied scores sharing their mean rank, as scikit-learn's trapezoids do; it is None
(undefined) when the rows hold one class only, where scikit-learn raises. F1 is for class 1 of two;
macro F1 averages the F1 of each class present in the true or the predicted labels (scikit-learn's
default labels).
"""

from __future__ import annotations

import numpy as np

from deepstart.problems import METRICS

# the scores in [0, 1], greater is better (the others are errors in the target's units): gaps
# between them are read in points, as accuracy's are
SCORES = tuple(m for m, greater in METRICS.items() if greater)
# what the None of an undefined score means, wherever it is printed
UNDEFINED = "undefined (the rows hold one class only)"


def roc_auc(true, score) -> float | None:
    """Area under the ROC curve of `score` (higher: class 1) for 0/1 labels `true`, the
    Mann-Whitney statistic: the chance that a random positive outranks a random negative, ties
    counting a half. None when only one class is present."""
    positive = np.asarray(true).reshape(-1) == 1
    score = np.asarray(score, dtype=np.float64).reshape(-1)
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    _, group, counts = np.unique(score, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)  # 1-based rank of each tie group's last row
    mean_rank = (ends - counts + 1 + ends) / 2.0
    ranks = mean_rank[group.reshape(-1)]
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _f1_per_class(true: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(labels present in either, the F1 of each): F1 = 2 TP / (2 TP + FP + FN) = 2 TP / (true
    count + predicted count), counted with bincount (no loop over rows or classes)."""
    labels, codes = np.unique(np.concatenate([true, predicted]), return_inverse=True)
    t, p = codes.reshape(-1)[:len(true)], codes.reshape(-1)[len(true):]
    hits = np.bincount(t[t == p], minlength=len(labels)).astype(np.float64)
    sizes = (np.bincount(t, minlength=len(labels)) + np.bincount(p, minlength=len(labels)))
    return labels, 2 * hits / sizes  # every label is present, so no size is 0


def f1(true, predicted) -> float:
    """F1 of class 1 (scikit-learn's f1_score, average='binary', pos_label=1); 0 when class 1 is
    neither true nor predicted anywhere (scikit-learn's zero_division)."""
    labels, scores = _f1_per_class(np.asarray(true).reshape(-1), np.asarray(predicted).reshape(-1))
    return float(scores[labels == 1][0]) if np.any(labels == 1) else 0.0


def macro_f1(true, predicted) -> float:
    """The mean F1 over the classes present in `true` or `predicted` (average='macro')."""
    labels, scores = _f1_per_class(np.asarray(true).reshape(-1), np.asarray(predicted).reshape(-1))
    return float(scores.mean()) if len(labels) else 0.0


def compute(metric: str, true, predicted, score=None) -> float | None:
    """`metric` over all rows: `true` and `predicted` are class indices or values (the target's
    units); `score` is the score for class 1 of a binary problem (for ROC AUC)."""
    true, predicted = np.asarray(true).reshape(-1), np.asarray(predicted).reshape(-1)
    if metric == "accuracy":
        return float(np.mean(true == predicted))
    if metric == "rmse":  # in the values' own precision, as before these metrics
        return float(np.sqrt(np.mean((predicted - true) ** 2)))
    if metric == "mae":
        return float(np.mean(np.abs(predicted - true)))
    if metric == "roc_auc":
        return roc_auc(true, score)
    if metric == "f1":
        return f1(true, predicted)
    if metric == "macro_f1":
        return macro_f1(true, predicted)
    raise ValueError(f"unknown metric {metric!r}")


def text(value: float | None, metric: str) -> str:
    """A score as printed: 4 decimals for the metrics in [0, 1]; errors in the target's units with
    2 decimals, or 4 below 1 (an RMSE of a log price is 0.12: 2 decimals would hide the 0.0046
    between two models); an undefined one says so."""
    if value is None or value != value:  # None, or NaN read back from history.csv
        return UNDEFINED
    return f"{value:.4f}" if metric in SCORES or abs(value) < 1 else f"{value:.2f}"


def split_text(scores: dict, names, split: str, rows: int | None) -> str:
    """'accuracy 0.9312, roc_auc 0.9650 (test, 1,000 rows)': the scores `names` of one split of a
    run's metrics.json, saying what they were computed on."""
    shown = ", ".join(f"{n} {text(scores.get(n), n)}" for n in names if n in scores)
    where = {"val": "validation", "train": "training"}.get(split, split)
    return f"{shown} ({where}" + (f", {rows:,} rows)" if rows is not None else ")")
