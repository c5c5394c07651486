"""A stratified train/test split in NumPy, and what a test part too small to tell can say.

scikit-learn's train_test_split does the same job, but importing scikit-learn costs about 1.1 s per
process here, a sixth of `deepstart run`'s whole budget on the default problem; this is 20 lines and
imports nothing. Same seed, same split, on every platform (NumPy's PCG64 generator).
"""

from __future__ import annotations

import numpy as np

# Fewer test rows than this get a note with the test score's standard error (0.09 at 30 rows).
MIN_TEST_ROWS = 30


def split_indices(y: np.ndarray, n_test: int, seed: int, stratify: bool = True
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) row indices, each sorted; with `stratify`, every class keeps its share in
    both parts (largest remainders decide the rounding) and, where the sizes allow, at least one
    training row."""
    n = len(y)
    if not 0 < n_test < n:
        raise ValueError(f"n_test must be in 1..{n - 1}; received {n_test}")
    rng = np.random.default_rng(seed)
    if not stratify:
        test = rng.permutation(n)[:n_test]
    else:
        _, labels = np.unique(y, return_inverse=True)
        counts = np.bincount(labels)
        exact = counts * n_test / n
        take = np.minimum(np.floor(exact).astype(int), counts - 1)
        by_remainder = np.argsort(-(exact - take), kind="stable")
        # Hand out the rows that rounding down left over, largest remainder first, keeping a
        # training row in every class while that is possible.
        for keep in (1, 0):
            while take.sum() < n_test and (take < counts - keep).any():
                for c in by_remainder:
                    if take.sum() < n_test and take[c] < counts[c] - keep:
                        take[c] += 1
        test = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:k]
                               for c, k in enumerate(take)])
    mask = np.zeros(n, dtype=bool)
    mask[test] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def few_test_rows_notes(n_test: int, classify: bool, what: str) -> list[str]:
    """Below MIN_TEST_ROWS test rows, what the test score's standard error can be."""
    if n_test >= MIN_TEST_ROWS:
        return []
    if classify:  # sqrt(p (1 - p) / n) is largest at p = 0.5
        size = f"up to {0.5 / np.sqrt(n_test):.2f} (each {what[:-1]} counts {1 / n_test:.2f})"
        score = "accuracy"
    else:  # for roughly normal errors the RMSE's relative standard error is 1 / sqrt(2 n)
        size, score = f"about {1 / np.sqrt(2 * n_test):.0%} of its value", "RMSE"
    return [f"the test part has only {n_test} {what}: a test {score} on them has a standard error of "
            f"{size}, so it says little; more data would make it tell."]
