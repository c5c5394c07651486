"""One check of a model family's settings, wherever they come from: `--hidden` and `--option
KEY=VALUE` on the command line, `model_options=` in Python, the scikit-learn estimators, and a
model.json read back. Each config dataclass calls `check_config` from its `__post_init__`.

The rule follows the field's annotation: an `int` is a positive integer (a count of units, layers,
channels), a `float` a finite positive number, a `list[int]` a non-empty list of positive integers,
a `bool` true or false, a `str` text; `X | None` also takes None. Three names differ: `dropout` is a
rate in [0, 1), and an `int` named `hidden` (the convnet's dense layer) or `text_start` (the
count of features before a text's token ids) may be 0 for none.
Without this, `hidden=[0]` trained a dead network, and `dropout=NaN` passed every comparison and
was written into config.json as a bare NaN, which is not JSON.
"""

from __future__ import annotations

import dataclasses
import math
import numbers

from deepstart.errors import DeepstartError

RATES = ("dropout", "body_dropout")
ZERO_IS_NONE = ("hidden", "text_start")  # text_start 0: a text without other columns
EXAMPLES = {"hidden": "[256, 256]", "widths": "[32, 64, 128]", "image_size": "[28, 28]",
            "input_shape": "[1, 28, 28]"}


def check_config(config) -> None:
    """Check every field of a config dataclass; tuples become lists (as they are saved)."""
    for f in dataclasses.fields(config):
        setattr(config, f.name, check_value(f.name, f.type, getattr(config, f.name)))


def check_options(config_cls, options: dict) -> None:
    """Check the values of the `options` that are fields of `config_cls` before the model is
    built (unknown names are left to build_model, which lists the known ones)."""
    types = {f.name: f.type for f in dataclasses.fields(config_cls)}
    for name, value in options.items():
        if name in types:
            check_value(name, types[name], value)


def check_value(name: str, annotation: str, value):
    """`value` as the field `name: annotation` takes it, or a DeepstartError that says what was
    expected and what arrived."""
    kind = str(annotation).replace(" ", "")
    if kind.endswith("|None"):
        if value is None:
            return None
        kind = kind[:-len("|None")]
    if kind == "bool":
        if not isinstance(value, bool):
            raise _expected(name, value, "true or false")
    elif kind == "int":
        least = 0 if name in ZERO_IS_NONE else 1
        if not _is_int(value) or value < least:
            raise _expected(name, value, "an integer >= 0 (0: none)" if least == 0
                            else "a positive integer")
        value = int(value)
    elif kind == "float":
        number = isinstance(value, numbers.Real) and not isinstance(value, bool)
        if name in RATES:
            if not (number and 0 <= value < 1):  # NaN fails every comparison
                raise _expected(name, value, "a rate in [0, 1), e.g. 0.2")
        elif not (number and math.isfinite(value) and value > 0):
            raise _expected(name, value, "a positive number")
        value = float(value)
    elif kind == "list[int]":
        if (not isinstance(value, (list, tuple)) or not value
                or not all(_is_int(v) and v >= 1 for v in value)):
            example = EXAMPLES.get(name, "[64, 64]")
            raise _expected(name, value, f"a non-empty list of positive integers, e.g. {example}")
        value = [int(v) for v in value]
    elif kind == "str":
        if not isinstance(value, str):
            raise _expected(name, value, "text")
    return value


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _expected(name: str, value, what: str) -> DeepstartError:
    return DeepstartError(f"{name} must be {what}; received {name}={value!r}.")
