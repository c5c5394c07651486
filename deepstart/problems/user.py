"""Problems from the user's own files: a path and its data options -> a Problem.

    data.csv   + target=COL [task, decimal]     a table (deepstart.problems.tabular)
    data.csv   + forecast=COL [horizon, season]  a series (deepstart.problems.series)
               [decimal]                         the decimal mark: "," reads 6,0 as 6.0
    data.csv   + target=COL, sequence [features_per_step, length, task, decimal]
                                                 a table whose rows are sequences (below)
    data.csv   + target=COL, text=COL[,COL]        a table whose COL is read as text, whatever
                                                 the text rule says (deepstart.problems.columns)
    tokenizer=NAME (a table with text, a folder of texts): a pretrained model's own tokenizer
                                                 instead of one fitted (`--model minilm` sets it)
    folder/    [image_size, color, strict]       images, one sub-folder per class (.folder)
    folder/                                      texts, .txt files, one sub-folder per class
    folder/    [length]                          CSV series, one file per example, one sub-folder
                                                 per class (.folder: class folders of .csv files)

A table is read as sequences when --sequence is given, never from the model alone: every column
but the target is a time step, in the file's order (numbers only; each step is `features_per_step`
consecutive columns, default 1), and missing values at the end of a row mark a shorter sequence.
Sequences of different lengths are padded or cut to `length` steps (default: the longest) as
deepstart.problems.folder.PAD_RULE says.

The path and the options are all a run's config.json stores, so `--resume` and the run record build
the same problem again. A problem is built once per process for the same file, options and
modification times (the config, the validation and the run all ask for it).
"""

from __future__ import annotations

import difflib
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from deepstart.errors import DataError, DeepstartError

if TYPE_CHECKING:
    import numpy as np

# option -> the command-line flag that sets it (errors name the flag the user typed)
FLAGS = {"target": "--target", "task": "--task", "forecast": "--forecast", "horizon": "--horizon",
         "season": "--season", "image_size": "--image-size", "color": "--color", "strict": "--strict",
         "decimal": "--decimal", "sequence": "--sequence", "features_per_step": "--features-per-step",
         "length": "--length", "text": "--text"}
# set by the model (RunConfig.for_problem), not by a flag of its own
MODEL_OPTIONS = ("tokenizer",)
TABLE_OPTIONS = ("target", "task", "decimal", "text")
SEQUENCE_OPTIONS = ("target", "task", "decimal") + ("sequence", "features_per_step", "length")
SERIES_OPTIONS = ("forecast", "horizon", "season", "decimal")
FOLDER_OPTIONS = ("image_size", "color", "strict")
SERIES_FOLDER_OPTIONS = ("length",)


def looks_like_path(name: str, check_disk: bool = True) -> bool:
    """A path, not a problem name: it has a folder separator or a file suffix, or exists here."""
    if "/" in name or os.sep in name or Path(name).suffix:
        return True
    return check_disk and Path(name).exists()


def no_options_for_builtin(name: str, options: dict) -> DeepstartError:
    flags = ", ".join(FLAGS.get(k, k) for k in options)
    one = len(options) == 1
    # a folder or file here with a built-in's name: the name wins, a path says which is meant
    local = f" (for the {name} here, write ./{name})" if Path(name).exists() else ""
    return DeepstartError(f"'{name}' is a built-in problem, and {flags} {'is' if one else 'are'} for "
                          f"your own data (a CSV file or a folder of images); drop "
                          f"{'it' if one else 'them'}, or pass the path of your data{local}.")


def problem_from_path(path: str | os.PathLike, options: dict):
    """The Problem for a CSV file or an image folder; `options` as in FLAGS."""
    path = Path(path)
    unknown = sorted(set(options) - set(FLAGS) - set(MODEL_OPTIONS))
    if unknown:
        raise DeepstartError(f"unknown data option(s) {', '.join(unknown)}; known: "
                             f"{', '.join([*FLAGS, *MODEL_OPTIONS])}.")
    if options.get("tokenizer") is not None:
        from deepstart.text import check_tokenizer

        check_tokenizer(options["tokenizer"])
    if not path.exists():
        raise DataError(f"there is no file or folder {path}{_did_you_mean(path)}; give the path of a "
                        "CSV file or of a folder of images, or a built-in problem name "
                        "(`deepstart problems` lists them).")
    given = {k: v for k, v in options.items() if v is not None and v is not False}
    return _build(str(path.resolve()), _signature(path), tuple(sorted(given.items())))


def name_for(path: Path) -> str:
    """The run folder's middle part: the file's stem (the folder's name), in safe characters."""
    stem = path.stem if path.is_file() else path.name
    return re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.") or "data"


@lru_cache(maxsize=8)
def _build(path_text: str, signature: tuple, options: tuple):
    path = Path(path_text)
    opts = dict(options)
    tokenizer = opts.pop("tokenizer", None)
    name = name_for(path)
    if path.is_dir():
        from deepstart.problems import folder

        if folder.is_text_folder(path):
            _only(opts, (), f"{path} is a folder of texts")
            return folder.text_folder_problem(path, name=name, tokenizer=tokenizer)
        if tokenizer is not None:
            from deepstart.text import not_text

            kind = "CSV series" if folder.is_series_folder(path) else "images"
            raise not_text(tokenizer, f"{path} is a folder of {kind}")
        if folder.is_series_folder(path):
            _only(opts, SERIES_FOLDER_OPTIONS, f"{path} is a folder of CSV series, read as "
                  "sequences")
            return folder.series_folder_problem(path, length=opts.get("length"), name=name)
        _only(opts, FOLDER_OPTIONS, f"{path} is a folder of images")
        return folder.image_folder_problem(path, image_size=opts.get("image_size"),
                                           color=opts.get("color"),
                                           strict=bool(opts.get("strict")), name=name)

    from deepstart.problems.tabular import read_csv

    if "text" in opts and "target" not in opts:
        raise DeepstartError(f"--text names text columns of a table; add --target COLUMN for {path}.")
    if "target" in opts and "forecast" in opts:
        raise DeepstartError(f"give either --target (a table) or --forecast (a series) for {path}, "
                             "not both.")
    for k in FOLDER_OPTIONS:
        if k in opts:
            raise DeepstartError(f"{FLAGS[k]} applies to folders of images, and {path} is a file; "
                                 "drop it.")
    if tokenizer is not None and ("forecast" in opts or opts.get("sequence")):
        from deepstart.text import not_text

        raise not_text(tokenizer, f"{path} is read as a series" if "forecast" in opts else
                       f"{path} is read as sequences (--sequence)")
    frame = read_csv(path, decimal=opts.get("decimal"))
    if "target" in opts and opts.get("sequence"):
        _only(opts, SEQUENCE_OPTIONS, "--sequence reads a table's rows as sequences")
        return table_sequence_problem(frame, opts["target"], features_per_step=opts.get(
            "features_per_step", 1), length=opts.get("length"), task=opts.get("task"), name=name,
            origin=f"the file {path}", path=path_text)
    for k in ("sequence", "features_per_step", "length"):
        if k in opts:
            raise DeepstartError(f"{FLAGS[k]} applies to a table read as sequences (--target COLUMN "
                                 f"--sequence) or to a folder of CSV series, and {path} is read "
                                 f"{'as a series (--forecast)' if 'forecast' in opts else 'as a table'}"
                                 f"{'' if 'forecast' in opts or k == 'sequence' else '; add --sequence'}"
                                 f"{'; add --target COLUMN' if k == 'sequence' else ''}.")
    if "target" in opts:
        _only(opts, TABLE_OPTIONS, "--target makes a table problem")
        from deepstart.problems.tabular import tabular_problem

        text = tuple(c.strip() for c in opts.get("text", "").split(",") if c.strip())
        from deepstart.text import FALLBACK

        notes = ([f"{path.name} is not UTF-8 and was read as Windows-1252 ({FALLBACK}); if its "
                  "accents look wrong, save it as UTF-8."] if frame.attrs.get("encoding") == FALLBACK
                 else [])
        return tabular_problem(frame, opts["target"], task=opts.get("task"), name=name,
                               origin=f"the file {path}", path=path_text, text=text, notes=notes,
                               tokenizer=tokenizer)
    if "forecast" in opts:
        _only(opts, SERIES_OPTIONS, "--forecast makes a series problem")
        from deepstart.problems.series import series_problem

        return series_problem(frame, opts["forecast"], horizon=opts.get("horizon", 1),
                              season=opts.get("season"), name=name, origin=f"the file {path}",
                              path=path_text)
    columns = ", ".join(list(frame.columns)[:30])
    raise DeepstartError(f"say what to learn from {path}: --target COLUMN to predict a column from the "
                         f"others, or --forecast COLUMN to forecast a series; its columns are: {columns}.")


def table_sequence_problem(frame, target: str, *, features_per_step: int = 1,
                           length: int | None = None, task: str | None = None, name: str = "table",
                           origin: str = "a table given from Python", path: str | None = None):
    """A Problem for a table whose rows are sequences: every column but `target` is a step (or
    `features_per_step` consecutive columns are one), in order; trailing gaps end a row early."""
    from deepstart.problems.folder import SEQUENCE_RECIPE, sequence_problem
    from deepstart.problems.tabular import MIN_ROWS, _target, as_frame, check_column

    source = path or "the table"
    frame = as_frame(frame)
    check_column(frame, str(target), "the target", source)
    steps = [c for c in frame.columns if c != target]
    k = int(features_per_step)
    if k < 1 or len(steps) % k:
        raise DeepstartError(f"--features-per-step {k} does not divide the {len(steps)} step columns "
                             f"of {source}; give a divisor of {len(steps)}.")
    values = step_values(frame, steps, k, source)
    has_target = frame[target].notna().to_numpy()
    frame, values = frame[has_target].reset_index(drop=True), values[has_target]
    if len(frame) < MIN_ROWS:
        raise DataError(f"{source} has {len(frame)} rows with a target; deepstart needs at least "
                        f"{MIN_ROWS} to train and test.")
    y, task, class_names, why = _target(frame[target], task, target)
    features = steps[:k] if k > 1 else ["value"]
    schema_target = {"name": target, "task": task, "classes": list(class_names), "inferred": why,
                     "rows_without_target": int((~has_target).sum())}
    problem = sequence_problem(
        values, y, class_names, [str(f) for f in features], length=length, name=name,
        origin=origin, path=path or source, task=task, target=schema_target,
        source={"from": "table", "columns": [str(c) for c in steps], "features_per_step": k,
                "rule": "--sequence: every column but the target is a time step, in order"},
        recipe=dict(SEQUENCE_RECIPE))
    return problem


def step_values(frame, steps: list[str], k: int, source) -> np.ndarray:
    """The step columns of a table as (rows, steps, k) float64, NaN after each row's end. Text, or
    a gap before a row's last value (a hole, not a shorter sequence), is a DataError naming it."""
    import numpy as np

    text = [c for c in steps if frame[c].dtype.kind not in "biuf"]
    if text:
        c = text[0]
        import pandas as pd

        numbers = pd.to_numeric(frame[c], errors="coerce")
        i = int(np.flatnonzero(numbers.isna().to_numpy() & frame[c].notna().to_numpy())[0])
        example = frame[c].iloc[i]
        raise DataError(f"--sequence reads every column of {source} but the target as a time step, "
                        f"and the column '{c}' holds text ({example!r} in row {i + 1}); remove it "
                        "from the file, or drop --sequence to read the columns as a table's features.")
    values = frame[steps].to_numpy(np.float64).reshape(len(frame), len(steps) // k, k)
    finite = np.isfinite(values)
    present, partial = finite.all(axis=2), finite.any(axis=2) & ~finite.all(axis=2)
    lengths = present.sum(axis=1)
    last = np.where(present.any(axis=1), present.shape[1] - np.argmax(present[:, ::-1], axis=1), 0)
    bad = np.flatnonzero((lengths < last) | (lengths == 0) | partial.any(axis=1))
    if len(bad):
        i = int(bad[0])
        gap = int(np.argmax(~present[i] | partial[i])) + 1
        where = "has no values" if lengths[i] == 0 else f"has a gap at step {gap} before its end"
        raise DataError(f"row {i + 1} of {source} {where}; --sequence reads missing (or infinite) "
                        "values only at the end of a row, as a shorter sequence: fill the gap or "
                        "remove the row.")
    return np.where(present[:, :, None], values, np.nan)


def sequence_rows(spec: dict, frame, source) -> np.ndarray:
    """New rows of a table read as sequences (`deepstart export --input`) as the model's raw
    inputs (rows, steps, features): the run's step columns by name, padded or cut as it was."""
    import numpy as np

    from deepstart.problems.folder import fit_lengths

    info = spec["sequence"]
    missing = [c for c in info["columns"] if c not in frame.columns]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise DataError(f"{source} lacks the step column(s) {shown}; the model reads the columns "
                        f"{info['columns'][0]} to {info['columns'][-1]} as its steps.")
    values = step_values(frame, info["columns"], info["features_per_step"], source)
    lengths = np.isfinite(values).all(axis=2).sum(axis=1)
    return fit_lengths(values, lengths, int(spec["input_shape"][0])).astype(np.float32)


def _only(options: dict, allowed: tuple[str, ...], why: str) -> None:
    extra = [FLAGS[k] for k in options if k not in allowed]
    if extra:
        raise DeepstartError(f"{', '.join(extra)} does not apply here ({why}); drop it.")


def _signature(path: Path) -> tuple:
    """What changes when the data changes: the modification times of the file, or of the folder and
    its class folders (adding or removing an image changes its class folder's time)."""
    paths = [path] + (sorted(p for p in path.iterdir() if p.is_dir()) if path.is_dir() else [])
    return tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in paths)


def _did_you_mean(path: Path) -> str:
    parent = path.parent if str(path.parent) else Path(".")
    try:
        siblings = [p.name for p in parent.iterdir()]
    except OSError:
        return ""
    close = difflib.get_close_matches(path.name, siblings, n=1, cutoff=0.6)
    return f" (did you mean {parent / close[0]}?)" if close else ""
