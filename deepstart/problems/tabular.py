"""A table with a target column (a CSV file, a pandas frame, NumPy arrays) -> a Problem.

The task comes from the target (text or a few whole numbers: classes; other numbers: regression)
unless it is given; rows without a target are dropped; the test rows are held out first (stratified
for classes), and the column encoding (deepstart.problems.columns) is fitted on the training rows
only, so nothing about the test rows leaks into imputation or categories.
"""

from __future__ import annotations

import csv
import difflib
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from deepstart.errors import DataError, DataWarning, DeepstartError
from deepstart.problems import Dataset, Problem, Reference
from deepstart.problems.columns import (DECIMAL_DROP, as_numbers, as_text, decimal_comma_numbers,
                                        encode, feature_names, fit_columns)
from deepstart.problems.splits import few_test_rows_notes, split_indices

TEST_SIZE = 0.2  # held out for the test score; validation rows come later, out of the rest
SPLIT_SEED = 0
MIN_ROWS = 10
# Whole-number targets with at most this many distinct values are classes (labels 0..9, ratings
# 1..5); more are counts or amounts, which regression suits.
MAX_INTEGER_CLASSES = 20
TASKS = ("binary", "multiclass", "regression")
# A one-hidden-layer MLP: on the breast-cancer table its catalog recipe reaches about 0.97.
RECIPE = {"model": "mlp", "hidden": [64], "epochs": 50, "batch_size": 32, "lr": 1e-3}
LARGE_TABLE = 10_000  # rows from which default_recipe (below) gives two wide layers
# Files people pass that are not CSV text, named so the error can say what to do with them.
NOT_CSV = {".xlsx": "an Excel workbook", ".xls": "an Excel workbook", ".ods": "a spreadsheet",
           ".parquet": "a Parquet file", ".json": "a JSON file", ".zip": "a zip archive",
           ".gz": "a compressed file", ".npy": "a NumPy file", ".pkl": "a pickle"}


def read_csv(path: str | Path, decimal: str | None = None) -> pd.DataFrame:
    """A CSV file as a frame; the delimiter (, ; tab |) and the encoding (UTF-8, or UTF-16/32 by
    their byte-order mark or their zero bytes) are sniffed; '?' counts as missing, as in many UCI
    files. `decimal` is the decimal mark: "," reads `6,0` as 6.0, "." never does; by default a
    file separated by something other than commas has its decimal-comma columns read as numbers
    (a European spreadsheet's export). Anything that is not a CSV table with data rows is a
    DataError naming the file."""
    path = Path(path)
    if decimal not in (None, ",", "."):
        raise DeepstartError(f"the decimal mark must be ',' or '.'; received --decimal {decimal!r}.")
    what = NOT_CSV.get(path.suffix.lower())
    head = path.read_bytes()[:65536]
    encoding = _encoding(head)
    if what or encoding is None:
        what = what or "a binary file"
        raise DataError(f"{path} is {what}, not CSV text; save or export it as CSV (comma-separated "
                        "values) and pass that file.")
    if encoding == "utf-8":
        encoding = _utf8_or_windows(path)
    text = head.decode(encoding, errors="replace")
    if not text.strip("\ufeff \t\r\n"):
        raise DataError(f"{path} is empty; give a CSV file with a header row and data rows.")
    try:
        sample = "\n".join(text.splitlines()[:20])
        sep = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        sep = ","  # one column, or no consistent delimiter: let the parser say what it finds
    try:
        frame = pd.read_csv(path, sep=sep, na_values=["?"], skipinitialspace=True,
                            encoding=encoding, encoding_errors="replace")
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} is empty; give a CSV file with a header row and data rows.") from None
    except pd.errors.ParserError as e:
        detail = str(e).strip().splitlines()[-1].rstrip(".")
        raise DataError(f"{path} is not a well-formed CSV file ({detail}); check that every row has "
                        "as many fields as the header.") from None
    if frame.empty:
        raise DataError(f"{path} has a header but no data rows; give a CSV file with data rows.")
    frame.columns = [str(c).strip() for c in frame.columns]
    frame.attrs["encoding"] = encoding  # problem_from_path notes a file that was not UTF-8
    # A comma inside a comma-separated file's quoted field may be a list ("1,2"), not a decimal:
    # there only --decimal , converts; the column table says when numbers were left as text.
    if decimal == "," or (decimal is None and sep != ","):
        for c in frame.columns:
            numbers = decimal_comma_numbers(frame[c], thousands=decimal == ",")
            if numbers is not None:
                frame[c] = numbers
    return frame


def _utf8_or_windows(path: Path) -> str:
    """"utf-8", or "cp1252" for a file that is not UTF-8 and decodes as Windows-1252 (an old
    Excel or Windows export: "café" as one byte 0xe9); neither is a DataError with the fix.
    Binary files were refused before (their zero bytes)."""
    from deepstart.text import FALLBACK, decode_bytes

    data = path.read_bytes()
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        return FALLBACK if decode_bytes(data, str(path))[1] == FALLBACK else "utf-8"


def _encoding(head: bytes) -> str | None:
    """The file's text encoding from its first bytes, or None for a binary file. UTF-16 and UTF-32
    files (Excel's "Unicode text", PowerShell's default) carry zero bytes that are not binary."""
    for bom, name in ((b"\xff\xfe\0\0", "utf-32"), (b"\0\0\xfe\xff", "utf-32"),
                      (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"), (b"\xef\xbb\xbf", "utf-8-sig")):
        if head.startswith(bom):
            return name
    if b"\0" not in head:
        return "utf-8"
    # No mark: ASCII text in UTF-16 has a zero in every other byte, and nowhere else.
    even, odd = head[0::2], head[1::2]
    if len(head) >= 4:
        if odd.count(0) > 0.9 * len(odd) and even.count(0) < 0.1 * len(even):
            return "utf-16-le"
        if even.count(0) > 0.9 * len(even) and odd.count(0) < 0.1 * len(odd):
            return "utf-16-be"
    return None


def as_frame(data, columns=None) -> pd.DataFrame:
    """A DataFrame, a mapping of name -> values, or a 2-D NumPy array (columns x0, x1, ... unless
    `columns` names them) as a DataFrame with string column names."""
    if isinstance(data, pd.DataFrame):
        frame = data
    elif isinstance(data, Mapping):
        frame = pd.DataFrame(dict(data))
    else:
        array = np.asarray(data)
        if array.dtype.names:  # a structured array: its fields are the columns
            frame = pd.DataFrame({n: array[n] for n in array.dtype.names})
        elif array.ndim == 2:
            names = columns if columns is not None else [f"x{i}" for i in range(array.shape[1])]
            frame = pd.DataFrame(array, columns=list(names))
        else:
            raise DeepstartError(f"data must be a DataFrame, a mapping of columns or a 2-D array; "
                                 f"received {type(data).__name__} of shape {array.shape}.")
    frame = frame.copy()
    frame.columns = [str(c) for c in frame.columns]
    return frame


def check_column(frame: pd.DataFrame, column: str, what: str, source: str) -> None:
    if column in frame.columns:
        return
    close = difflib.get_close_matches(column, list(frame.columns), n=1, cutoff=0.6)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    shown = list(frame.columns)[:30]
    more = f" and {len(frame.columns) - 30} more" if len(frame.columns) > 30 else ""
    raise DeepstartError(f"{source} has no column '{column}'{hint} to use as {what}; its columns "
                         f"are: {', '.join(shown)}{more}.")


def tabular_problem(data, target: str, *, task: str | None = None, name: str = "table",
                    origin: str = "a table given from Python", path: str | None = None,
                    columns=None, text=(), test=None, title: str | None = None,
                    metric: str | None = None, references: tuple = (), recipe: dict | None = None,
                    recipes: tuple = (), notes: tuple | list = (),
                    tokenizer: str | None = None) -> Problem:
    """A Problem for a table and the name of its target column.

    >>> problem = tabular_problem(frame, target="species")   # doctest: +SKIP
    >>> Learner("mlp", problem).fit(30)                       # doctest: +SKIP

    `data` is a pandas DataFrame, a mapping of column name -> values, or a 2-D NumPy array (pass
    `target` as a column name: x0, x1, ... unless `columns` names them). `task` overrides the
    inference: binary, multiclass or regression. `text`: columns read as text whatever the text
    rule says (deepstart.problems.columns.TEXT_RULE); `test`: a second frame of the same columns,
    the canonical test rows (otherwise TEST_SIZE of the rows are held out). `title`, `metric`,
    `references` (shown before the computed baseline), `recipe` and `recipes` describe a
    built-in problem made from frames; `notes` come first among the data notes. `tokenizer`: a
    pretrained tokenizer for the text (deepstart.text.PRETRAINED_TOKENIZERS), not one fitted.
    """
    source = path or "the table"
    frame = as_frame(data, columns)
    target = str(target)
    check_column(frame, target, "the target", source)
    for c in text:
        check_column(frame, str(c), "a text column", source)
    n_given_test = 0
    if test is not None:
        test = as_frame(test, columns)
        for c in frame.columns:
            check_column(test, c, "a column of the test rows", "the test frame")
        n_given_test = len(test)
        frame = pd.concat([frame, test[list(frame.columns)]], ignore_index=True)
    if task is not None and task not in TASKS:
        raise DeepstartError(f"unknown task '{task}'; use one of: {', '.join(TASKS)}.")

    y_raw = frame[target]
    # a missing, blank or infinite target: the row teaches nothing and cannot be scored
    has_target = (np.isfinite(as_numbers(y_raw)) if y_raw.dtype.kind in "biuf"
                  else ~pd.isna(as_text(y_raw)))
    if not has_target.any():
        raise DataError(f"the target column '{target}' of {source} is empty: all {len(frame)} values "
                        "are missing; pick another column with --target.")
    no_target = int((~has_target).sum())
    given_test = np.arange(len(frame)) >= len(frame) - n_given_test
    frame = frame[has_target].reset_index(drop=True)
    given_test = given_test[has_target]
    if len(frame) < MIN_ROWS:
        raise DataError(f"{source} has {len(frame)} rows with a target; deepstart needs at least "
                        f"{MIN_ROWS} to train and test.")

    y, task, class_names, why = _target(frame[target], task, target)
    classify = task != "regression"
    if n_given_test:
        train, test = np.flatnonzero(~given_test), np.flatnonzero(given_test)
        if not len(test) or not len(train):
            raise DataError(f"the {'test' if not len(test) else 'training'} frame has no rows with "
                            f"a target '{target}'; give rows with a target in both.")
    else:
        n_test = max(1, int(np.ceil(len(frame) * TEST_SIZE)))
        train, test = split_indices(y, n_test, SPLIT_SEED, stratify=classify)

    features = frame.drop(columns=[target])
    entries = fit_columns({c: features[c].iloc[train] for c in features.columns},
                          text=[str(c) for c in text], tokenizer=tokenizer)
    names = feature_names(entries)
    comma = [e["name"] for e in entries if e.get("dropped", "").startswith(DECIMAL_DROP)]
    shown = ", ".join(comma[:5]) + (f" and {len(comma) - 5} more" if len(comma) > 5 else "")
    if not names and comma:
        raise DataError(f"{source} has no usable feature column: {shown} hold numbers with a decimal "
                        "comma, read as text; pass --decimal , to read them as numbers.")
    if not names:
        dropped = ", ".join(f"{e['name']} ({e['dropped']})" for e in entries) or "none"
        raise DataError(f"{source} has no usable feature column besides the target '{target}' "
                        f"(dropped: {dropped}); give a table with at least one informative column.")
    x = encode(entries, {c: features[c] for c in features.columns})
    dataset = Dataset(x[train], y[train], x[test], y[test], feature_names=names,
                      test_rows=features.iloc[test].reset_index(drop=True))

    split = (f"{'stratified ' if classify else ''}{1 - TEST_SIZE:.0%}/{TEST_SIZE:.0%} train/test "
             f"(seed {SPLIT_SEED}); {len(train)} + {len(test)} rows")
    if n_given_test:
        split = f"the given training and test frames; {len(train)} + {len(test)} rows"
    notes = list(notes) + _target_notes(frame[target], task, why, target, len(class_names))
    if comma:
        notes.append(f"{len(comma)} column(s) hold numbers with a decimal comma, read as text, and "
                     f"were dropped ({shown}); pass --decimal , to read them as numbers.")
    notes += few_test_rows_notes(len(test), classify, "rows")
    schema = {
        "columns": entries,
        "target": {"name": target, "task": task, "classes": list(class_names), "inferred": why,
                   "rows_without_target": no_target},
        "data_notes": notes,
    }
    if path is None:  # from Python: no data report is printed, so say it here
        for note in notes:
            warnings.warn(note, DataWarning, stacklevel=2)
    text_entry = next((e for e in entries if e["kind"] == "text"), None)
    size = f"{len(frame)} rows x {len(features.columns)} columns -> {len(names)} features"
    if text_entry is not None:
        others = sum(1 for e in entries if e["kind"] != "text" and not e.get("dropped"))
        vocabulary = (f"{tokenizer}'s own tokenizer ({text_entry['vocab_size']:,} tokens)"
                      if tokenizer else f"a vocabulary of {text_entry['vocab_size']:,} words")
        size = (f"{len(frame):,} texts" + (f" + {others} other column(s)" if others else "") +
                f"; {vocabulary}, texts cut at {text_entry['length']} tokens")
    if metric is not None:
        from deepstart.problems import check_metric

        check_metric(metric, task)
    if not recipe:  # none given (a built-in entry may have an empty one): the default
        if text_entry is not None:
            from deepstart.text import RECIPE as TEXT_RECIPE

            recipe = dict(TEXT_RECIPE)
        else:
            recipe = default_recipe(len(frame), len(names), len(class_names))
    return Problem(
        name=name, title=title or f"{name}: {target} from {len(features.columns)} columns",
        task=task, kind="tabular" if text_entry is None else "text",
        metric=metric or ("accuracy" if classify else "rmse"), split=split, origin=origin,
        size=size, load_raw=lambda **_: dataset, class_names=class_names,
        references=tuple(references) + _baseline(task, y[train], y[test], metric), recipe=recipe,
        recipes=tuple(recipes), path=path, schema=schema)


def _target(y: pd.Series, task: str | None, name: str):
    """(labels or values, task, class names, why the task was chosen)."""
    numeric = y.dtype.kind in "biuf"
    values = y.to_numpy(np.float64) if numeric else None
    whole = values is not None and bool(np.all(values == np.round(values)))
    distinct = y.nunique()
    if task is None:
        if not numeric or y.dtype.kind == "b":
            task, why = ("binary" if distinct == 2 else "multiclass"), f"{distinct} distinct values"
        elif whole and distinct <= MAX_INTEGER_CLASSES:
            task = "binary" if distinct == 2 else "multiclass"
            why = f"{distinct} distinct whole numbers"
        else:
            task, why = "regression", "numbers" + ("" if whole else " with fractions") + \
                f", {distinct} distinct values"
    else:
        why = "given with --task"

    if task == "regression":
        if values is None:
            example = next(str(v) for v in y if not _is_number(v))
            raise DeepstartError(f"the target '{name}' holds text (e.g. {example!r}), and regression "
                                 "needs numbers; use --task binary or --task multiclass.")
        return values.astype(np.float32), task, (), why
    if distinct < 2:
        raise DataError(f"the target '{name}' has a single class ({y.iloc[0]!r} in every row); a "
                        "classifier needs at least two classes.")
    if task == "binary" and distinct > 2:
        raise DeepstartError(f"the target '{name}' has {distinct} classes, not 2; use --task "
                             "multiclass (or leave --task out).")
    # Whole-number labels read back as integers ("1", not "1.0"), text labels as they are.
    if whole and y.dtype.kind != "b":
        labels = pd.Series(np.round(values).astype(np.int64))
    else:
        labels = y.astype(str).str.strip()
    classes, codes = np.unique(labels.to_numpy(), return_inverse=True)
    return codes.astype(np.int64), task, tuple(str(c) for c in classes), why


def _target_notes(y: pd.Series, task: str, why: str, name: str, n_classes: int) -> list[str]:
    """Targets that train without error and mean nothing: a row number, classes of one row each,
    a continuous column made into classes."""
    numeric = y.dtype.kind in "biuf"
    values = y.to_numpy(np.float64) if numeric else None
    n, distinct = len(y), y.nunique()
    whole = values is not None and bool(np.all(values == np.round(values)))
    if distinct == n and (not numeric or (whole and values.max() - values.min() == n - 1)):
        what = (f"the distinct whole numbers {values.min():.0f} to {values.max():.0f}" if numeric
                else "all different")
        return [f"the target '{name}' looks like a row identifier: its {n} values are {what}, which "
                "the other columns are unlikely to predict; check that --target names the column "
                "to learn."]
    if task == "multiclass" and why == "given with --task" and numeric and \
            (not whole or distinct > MAX_INTEGER_CLASSES):
        kind = "numbers with fractions" if not whole else "whole numbers"
        return [f"--task multiclass makes each of the {distinct} distinct values of '{name}' "
                f"({kind}) a class of about {n / distinct:.1f} rows, and the accuracy counts exact "
                "hits only; leave --task out to fit a regression."]
    if n_classes > n / 2:
        # whole numbers read as classes (a pulse, a count) are often a quantity to fit instead
        fix = ("check --target, or pass --task regression to fit its values as numbers"
               if numeric else "check --target")
        return [f"the target '{name}' has {n_classes} classes in {n} rows, most of them with one "
                f"row or two: too few to learn a class from or to test it; {fix}."]
    return []


def _is_number(v) -> bool:
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


def _baseline(task: str, y_train: np.ndarray, y_test: np.ndarray,
              metric: str | None = None) -> tuple[Reference, ...]:
    """What knowing nothing but the training targets scores on the same test rows, in the
    problem's metric: a model must beat it to have learned anything from the columns. The same
    answer for every row: the majority class (a ROC AUC of 0.5: one score for all), the training
    mean (the median for MAE, which it minimises)."""
    from deepstart.problems.metrics import compute

    metric = metric or ("rmse" if task == "regression" else "accuracy")
    source = f"baseline, computed on the same {len(y_test)} test rows"
    if task == "regression":
        median = metric == "mae"
        guess = float(np.median(y_train) if median else y_train.mean())
        value = compute(metric, y_test, np.full(len(y_test), guess))
        return (Reference(value, f"training {'median' if median else 'mean'} for every row", source),)
    majority = np.bincount(y_train).argmax()
    value = compute(metric, y_test, np.full(len(y_test), majority), score=np.zeros(len(y_test)))
    if value is None:  # undefined on these rows (ROC AUC with one class present)
        return ()
    return (Reference(float(value), "majority class for every row", source),)


def default_recipe(rows: int, features: int, classes: int) -> dict:
    """The network `deepstart run TABLE.csv` trains by default, sized by the table: one layer of
    64 units under 1,000 rows, of 256 under 10,000, two of 256 from there (fewer epochs of larger
    batches). Measured on eight real tables by benchmarks/table_defaults.py (docs/evaluate.md):
    on 20,000 rows of MNIST and Fashion-MNIST pixels the old one-size 64-unit layer scored 0.5-0.8
    points below this, digits (1,797 rows) 0.7; under 1,000 rows wider nets did not help. `features`
    and `classes` only widen a layer that would be narrower than them."""
    if rows >= LARGE_TABLE:
        hidden, epochs, batch = [256, 256], 30, 64
    else:
        hidden, epochs, batch = ([64] if rows < 1000 else [256]), 50, 32
    floor = max(features, 4 * classes)
    hidden = [max(h, min(256, 2 ** int(np.ceil(np.log2(max(floor, 1)))))) for h in hidden]
    return dict(RECIPE, hidden=hidden, epochs=epochs, batch_size=batch)
