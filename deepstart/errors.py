"""The one exception type users see: a sentence that says what was wrong and how to fix it.

The CLI prints it on one line and exits with code 2; from Python it is a ValueError, so code that
already catches bad arguments keeps working.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class DeepstartError(ValueError):
    """Bad input from the user: the message alone must be enough to fix it."""


class DataError(DeepstartError):
    """Data that is missing, corrupt, truncated or not what it claims to be."""


class DataWarning(UserWarning):
    """Data that trains without error but may not mean what was meant (a row number as target)."""


def unknown_name(kind: str, name: str, known: Iterable[str]) -> DeepstartError:
    """'unknown model 'mpl'; did you mean 'mlp'? Known: linear, logistic, mlp, perceptron'."""
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    hint = f"; did you mean '{close[0]}'?" if close else ";"
    return DeepstartError(f"unknown {kind} '{name}'{hint} Known: {', '.join(known)}.")
