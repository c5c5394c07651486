"""Table columns -> numeric features: an encoding fitted on training rows and kept as plain JSON.

One entry per column says what the column is and what was done to it, with everything needed to do
it again to new rows by column name: the impute value, the categories, the feature names. There is
no pickle: a saved model carries the entries in model.json, and `encode` applies them to raw rows
(a pandas frame or a dict of lists), so a model can later be served from its folder alone.

Scaling is not done here: `prepare` standardises every feature on the training rows (its scaling
is saved beside these entries), so the two steps together turn a raw row into a model input.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping

import numpy as np
import pandas as pd

from deepstart.errors import DeepstartError

# One-hot width cap: rarer categories share one "(other)" column, so a column with thousands of
# values (a town, a product code) cannot blow up the input layer.
MAX_CATEGORIES = 30
# A text column whose non-missing values are at least this share distinct names rows (a name, an
# e-mail, a UUID), not groups that recur; below ID_MIN_ROWS rows nothing is judged identifier-like.
ID_UNIQUE_SHARE = 0.9
ID_MIN_ROWS = 10
# Numbers written with a decimal comma: 6,0  -1,5  ,25  1,2e-3; with thousands marks (1.234,5)
# only where the decimal comma is asked for, as a dot alone (1.234) is ambiguous.
DECIMAL_COMMA = r"[+-]?(?:\d+(?:,\d*)?|,\d+)(?:[eE][+-]?\d+)?"
DECIMAL_COMMA_THOUSANDS = r"[+-]?\d{1,3}(?:\.\d{3})+(?:,\d*)?|" + DECIMAL_COMMA
DECIMAL_DROP = "numbers with a decimal comma, as text"
# A column is text (tokenized, deepstart.text) when its values are long and mostly distinct: the
# median value has at least TEXT_MIN_WORDS words (runs separated by white space) and at least
# TEXT_DISTINCT_SHARE of the present values are distinct, over at least ID_MIN_ROWS values. Short
# codes that are all distinct (names, e-mails, UUIDs: one or two "words") stay identifier-like;
# sentences that recur (a few canned answers) stay categories. `--text COL` forces it.
TEXT_MIN_WORDS = 4
TEXT_DISTINCT_SHARE = 0.5
TEXT_RULE = (f"median >= {TEXT_MIN_WORDS} words and >= {TEXT_DISTINCT_SHARE:.0%} distinct values")
OTHER = "(other)"
MISSING = "(missing)"


def fit_columns(columns: Mapping[str, object], text: tuple[str, ...] | list[str] = (),
                tokenizer: str | None = None) -> list[dict]:
    """Fit one entry per column on the training rows `columns` (name -> values, in row order).
    The columns named in `text`, and those the text rule (TEXT_RULE) finds, are joined into one
    entry of kind "text" (deepstart.text), placed last, as its token ids come after the other
    features; `tokenizer` names a pretrained tokenizer for it (a DeepstartError without text)."""
    from deepstart.errors import unknown_name

    for name in text:
        if name not in columns:
            raise unknown_name("text column", name, [str(c) for c in columns])
    entries, texts = [], [str(n) for n in text]
    for name, values in columns.items():
        if str(name) in texts:
            continue
        entry = fit_column(str(name), values)
        if entry["kind"] == "categorical" and entry.get("dropped") in (None, "identifier-like"):
            if is_text_column(as_text(values)):
                texts.append(str(name))
                continue
        entries.append(entry)
    if texts:
        from deepstart.text import fit_text_entry, join_columns

        name = texts[0] if len(texts) == 1 else "+".join(texts)
        entries.append(fit_text_entry(name, texts, join_columns({c: columns[c] for c in texts}),
                                      tokenizer=tokenizer)
                       | {"forced": [c for c in texts if c in text]})
    elif tokenizer is not None:
        from deepstart.text import not_text

        raise not_text(tokenizer, f"no column of this table is text ({TEXT_RULE}; --text COLUMN "
                                  "names one)")
    return entries


def is_text_column(text: np.ndarray) -> bool:
    """TEXT_RULE on a column's values (as_text: None where missing)."""
    present = pd.Series(text[~pd.isna(text)], dtype=object)
    if len(present) < ID_MIN_ROWS:
        return False
    words = present.str.split().str.len()
    return bool(words.median() >= TEXT_MIN_WORDS and
                present.nunique() >= TEXT_DISTINCT_SHARE * len(present))


def fit_column(name: str, values) -> dict:
    values = _array(values)
    if is_numeric(values):
        x = as_numbers(values)
        miss = np.isnan(x)
        entry = {"name": name, "kind": "numeric", "missing": int(miss.sum())}
        present = x[~miss]
        if len(present) == 0:
            return _dropped(entry, "all missing")
        if not miss.any() and present.min() == present.max():
            return _dropped(entry, "constant")
        if _row_number_like(present, miss):
            return _dropped(entry, "identifier-like")
        indicator = bool(miss.any())
        # The median, not the mean: one extreme value (a typo, a sentinel 99999) barely moves it.
        return entry | {"impute": float(np.median(present)), "indicator": indicator,
                        "features": [name] + ([f"{name}_missing"] if indicator else [])}

    text = as_text(values)
    miss = pd.isna(text)
    entry = {"name": name, "kind": "categorical", "missing": int(miss.sum())}
    present = text[~miss]
    if len(present) == 0:
        return _dropped(entry, "all missing")
    counts = Counter(present.tolist())
    if len(counts) == 1 and not miss.any():
        return _dropped(entry, "constant")
    example = _decimal_comma_example(counts)
    if example is not None:
        # one-hot columns of 6,0 / 6,1 / ... would be noise, and the numbers are a fix away
        return _dropped(entry, f"{DECIMAL_DROP} ({example!r}): read them with --decimal ,")
    if len(present) >= ID_MIN_ROWS and len(counts) >= ID_UNIQUE_SHARE * len(present):
        return _dropped(entry, "identifier-like")
    frequent = sorted(counts, key=lambda v: (-counts[v], v))[:MAX_CATEGORIES]
    categories = sorted(frequent)
    other = len(counts) > len(categories)
    missing_category = bool(miss.any())
    features = [f"{name}={c}" for c in categories]
    features += [f"{name}={OTHER}"] * other + [f"{name}={MISSING}"] * missing_category
    return entry | {"categories": categories, "n_values": len(counts), "other": other,
                    "missing_category": missing_category, "features": features}


def encode(entries: list[dict], columns: Mapping[str, object]) -> np.ndarray:
    """Raw rows (name -> values) to the features the entries describe, (rows, features) float32.
    Missing values are imputed, unseen categories get all-zero one-hot columns (or "(other)")."""
    n = _n_rows(columns)
    blocks: list[np.ndarray] = []
    needed = [c for x in entries if not x.get("dropped") for c in x.get("columns", [x["name"]])]
    for e in entries:
        if e.get("dropped"):
            continue
        if e["kind"] == "text":
            absent = [c for c in e["columns"] if c not in columns]
            if absent:
                raise DeepstartError(f"column '{absent[0]}' is missing from the input; the model "
                                     f"needs the columns {', '.join(needed)}.")
            continue  # its token ids come last, after every other column's features
        if e["name"] not in columns:
            raise DeepstartError(f"column '{e['name']}' is missing from the input; the model needs "
                                 f"the columns {', '.join(needed)}.")
        values = _array(columns[e["name"]])
        if e["kind"] == "numeric":
            x = as_numbers(values)
            miss = np.isnan(x)
            if values.dtype.kind == "O":
                _refuse_text(e["name"], values)
            blocks.append(np.where(miss, e["impute"], x))
            if e["indicator"]:
                blocks.append(miss)
        else:
            text = as_text(values)
            miss = pd.isna(text)
            blocks.extend(text == c for c in e["categories"])
            if e["other"]:
                blocks.append(~miss & ~np.isin(text, np.asarray(e["categories"], dtype=object)))
            if e["missing_category"]:
                blocks.append(miss)
    x = np.stack([np.asarray(b, dtype=np.float32) for b in blocks], axis=1) if blocks else \
        np.zeros((n, 0), dtype=np.float32)
    text = next((e for e in entries if e["kind"] == "text" and not e.get("dropped")), None)
    if text is None:
        return x
    from deepstart.text import encode_texts, join_columns

    # token ids as float32 are exact up to 2**24, far beyond any vocabulary kept
    ids = encode_texts(text, join_columns({c: columns[c] for c in text["columns"]}))
    return np.concatenate([x, ids.astype(np.float32)], axis=1)


def feature_names(entries: list[dict]) -> tuple[str, ...]:
    return tuple(f for e in entries for f in e.get("features", ()))


def action_text(entry: dict, standardised: bool = True) -> str:
    """What was done to a column, in words, for the data report."""
    if entry.get("dropped"):
        return f"dropped: {entry['dropped']}"
    if entry["kind"] == "text":
        from deepstart.text import action_text as text_action

        joined = f"{', '.join(entry['columns'])} joined, each part after its name; " \
            if len(entry["columns"]) > 1 else ""
        why = "named as text" if entry.get("forced") else f"text: {TEXT_RULE}"
        return f"{joined}{why}; {text_action(entry)}"
    if entry["kind"] == "numeric":
        parts = []
        if entry["indicator"]:
            parts.append(f"imputed median {_number(entry['impute'])} + indicator")
        parts.append("standardised" if standardised else "used as is")
        return ", ".join(parts)
    k = len(entry["categories"])
    text = f"one-hot {k} {'category' if k == 1 else 'categories'}"
    if entry["other"]:
        text = (f"one-hot the {k} most frequent of {entry['n_values']} categories + "
                f"{OTHER}")
    return text + (" + missing" if entry["missing_category"] else "")


# --- values -------------------------------------------------------------------------------------

def is_numeric(values: np.ndarray) -> bool:
    """Numbers (or booleans) by dtype; an object array counts when every present value is a number,
    as a list like [1.5, None, 3] from Python arrives."""
    if values.dtype.kind in "biuf":
        return True
    if values.dtype.kind != "O":
        return False
    present = [v for v in values.tolist() if not _is_missing(v)]
    return bool(present) and all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
                                 for v in present)


def as_numbers(values) -> np.ndarray:
    """float64, NaN for missing, infinite or unreadable values (all imputed later)."""
    values = _array(values)
    if values.dtype.kind in "biuf":
        x = values.astype(np.float64)
    else:
        numbers = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce")
        x = numbers.to_numpy(np.float64, copy=True)  # pandas 3 hands out read-only views
    x[~np.isfinite(x)] = np.nan
    return x


def as_text(values) -> np.ndarray:
    """Object array of str, None where missing. Whole floats read as integers (3.0 -> "3"), so a
    category "3" matches whether a row brings 3, 3.0 or "3"."""
    return np.array([_text(v) for v in _array(values).tolist()], dtype=object)


def _text(v) -> str | None:
    if _is_missing(v):
        return None
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    text = str(v).strip()
    return text or None


def _is_missing(v) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    if isinstance(v, (float, np.floating)):
        return math.isnan(v)
    return isinstance(v, str) and not v.strip()


def _refuse_text(name: str, values: np.ndarray) -> None:
    """Text in a numeric column of new rows ("high", "6,0") is named: imputing it as a gap would
    answer for a row that was never given. Training rows never hold any (such a column is text)."""
    numbers = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy()
    text = pd.isna(numbers) & ~pd.isna(as_text(values))
    if text.any():
        i = int(np.argmax(text))
        raise DeepstartError(f"column '{name}' holds text ({values[i]!r} in row {i}) where the model "
                             "reads numbers; give a number, or leave it empty for a missing value.")


def decimal_comma_numbers(values, thousands: bool = False) -> np.ndarray | None:
    """Text whose every present value is a number written with a decimal comma (at least one with
    a comma) as float64, NaN where missing; None for anything else. `thousands`: also 1.234,5."""
    values = _array(values)
    if values.dtype.kind != "O":
        return None
    text = as_text(values)
    present = pd.Series(text[~pd.isna(text)], dtype=object)
    pattern = DECIMAL_COMMA_THOUSANDS if thousands else DECIMAL_COMMA
    if present.empty or not present.str.fullmatch(pattern).all() or \
            not present.str.contains(",", regex=False).any():
        return None
    plain = pd.Series(text, dtype=object).str.replace(".", "", regex=False) if thousands else \
        pd.Series(text, dtype=object)
    return pd.to_numeric(plain.str.replace(",", ".", regex=False), errors="coerce").to_numpy(
        np.float64, copy=True)


def _decimal_comma_example(counts: Counter) -> str | None:
    """A value of a text column whose values all read as numbers with a decimal comma, or None."""
    values = list(counts)
    pattern = re.compile(DECIMAL_COMMA_THOUSANDS)
    if values and all(pattern.fullmatch(v) for v in values):
        return next((v for v in values if "," in v), None)
    return None


def _row_number_like(present: np.ndarray, miss: np.ndarray) -> bool:
    """Whole numbers, all distinct, increasing down the rows: a row number or id, not a measurement."""
    return (len(present) >= ID_MIN_ROWS and not miss.any() and bool(np.all(present == np.round(present)))
            and bool(np.all(np.diff(present) > 0)))


def _dropped(entry: dict, why: str) -> dict:
    return entry | {"dropped": why, "features": []}


def _array(values) -> np.ndarray:
    if not isinstance(values, (pd.Series, np.ndarray)):
        # a list: let pandas infer its type (np.asarray would turn ["a", nan] into "a", "nan")
        values = pd.Series(list(values), dtype=None)
    if isinstance(values, pd.Series):
        # pandas' nullable and string dtypes become object arrays, their NA values None/NaN
        if values.dtype.kind in "biuf" and not values.hasnans:
            return values.to_numpy()
        if values.dtype.kind in "iuf":
            return values.to_numpy(np.float64, na_value=np.nan)
        return values.to_numpy(object)
    values = np.asarray(values)
    if values.ndim != 1:
        raise DeepstartError(f"a column must hold one value per row; received shape {values.shape}.")
    return values


def _n_rows(columns: Mapping[str, object]) -> int:
    lengths = {len(_array(v)) for v in columns.values()}
    if len(lengths) > 1:
        raise DeepstartError(f"the columns have different lengths {sorted(lengths)}; give one value "
                             "per row in every column.")
    return lengths.pop() if lengths else 0


def _number(v: float) -> str:
    return f"{v:.4g}"
