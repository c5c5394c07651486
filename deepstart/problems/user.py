"""Problems from the user's own files: a path and its data options -> a Problem.

    data.csv   + target=COL [task, decimal]     a table (deepstart.problems.tabular)
    data.csv   + forecast=COL [horizon, season]  a series (deepstart.problems.series)
               [decimal]                         the decimal mark: "," reads 6,0 as 6.0
    folder/    [image_size, color, strict]       images, one sub-folder per class (.folder)

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

from deepstart.errors import DataError, DeepstartError

# option -> the command-line flag that sets it (errors name the flag the user typed)
FLAGS = {"target": "--target", "task": "--task", "forecast": "--forecast", "horizon": "--horizon",
         "season": "--season", "image_size": "--image-size", "color": "--color", "strict": "--strict",
         "decimal": "--decimal"}
TABLE_OPTIONS = ("target", "task", "decimal")
SERIES_OPTIONS = ("forecast", "horizon", "season", "decimal")
FOLDER_OPTIONS = ("image_size", "color", "strict")


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
    unknown = sorted(set(options) - set(FLAGS))
    if unknown:
        raise DeepstartError(f"unknown data option(s) {', '.join(unknown)}; known: {', '.join(FLAGS)}.")
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
    name = name_for(path)
    if path.is_dir():
        _only(opts, FOLDER_OPTIONS, f"{path} is a folder of images")
        from deepstart.problems.folder import image_folder_problem

        return image_folder_problem(path, image_size=opts.get("image_size"), color=opts.get("color"),
                                    strict=bool(opts.get("strict")), name=name)

    from deepstart.problems.tabular import read_csv

    if "target" in opts and "forecast" in opts:
        raise DeepstartError(f"give either --target (a table) or --forecast (a series) for {path}, "
                             "not both.")
    for k in FOLDER_OPTIONS:
        if k in opts:
            raise DeepstartError(f"{FLAGS[k]} applies to folders of images, and {path} is a file; "
                                 "drop it.")
    frame = read_csv(path, decimal=opts.get("decimal"))
    if "target" in opts:
        _only(opts, TABLE_OPTIONS, "--target makes a table problem")
        from deepstart.problems.tabular import tabular_problem

        return tabular_problem(frame, opts["target"], task=opts.get("task"), name=name,
                               origin=f"the file {path}", path=path_text)
    if "forecast" in opts:
        _only(opts, SERIES_OPTIONS, "--forecast makes a series problem")
        from deepstart.problems.series import series_problem

        return series_problem(frame, opts["forecast"], horizon=opts.get("horizon", 1),
                              season=opts.get("season"), name=name, origin=f"the file {path}",
                              path=path_text)
    columns = ", ".join(list(frame.columns)[:30])
    raise DeepstartError(f"say what to learn from {path}: --target COLUMN to predict a column from the "
                         f"others, or --forecast COLUMN to forecast a series; its columns are: {columns}.")


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
