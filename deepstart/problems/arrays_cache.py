"""Prepared arrays kept on disk as .npy files, so that a second load skips decompressing and parsing.

Fashion-MNIST's 60k training images load in a few tens of milliseconds this way, against about half a
second to decompress and parse the IDX file. `.npy` holds no pickles (we load with allow_pickle=False).
"""

from __future__ import annotations

import re
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from deepstart.errors import DataError
from deepstart.problems.sources import data_home

# Names become file and folder names: no separators, and no leading dot (which also rules out "..").
_SAFE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")


# What the built-in datasets cache: one array per split (they pass it as `names`).
SPLITS = ("x_train", "y_train", "x_test", "y_test")


def cached_arrays(dataset: str, key: str, build: Callable[[], dict[str, np.ndarray]],
                  names: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """The arrays `build()` returns, computed once and then read from `data_home()/<dataset>/arrays-<key>/`.

    `key` must change whenever what `build` computes changes (say, a version or the preparation's
    parameters): a folder that exists is trusted as it is, once it has one file per name in `names`.
    """
    for name in (dataset, key):
        if not _SAFE_NAME.fullmatch(name):
            raise ValueError(f"'{name}' cannot name a cache folder; "
                             f"use letters, digits, '_', '-' and inner dots.")
    folder = data_home() / dataset / f"arrays-{key}"
    if folder.is_dir():
        missing = [name for name in names if not (folder / f"{name}.npy").is_file()]
        if missing:
            raise DataError(f"{folder / (missing[0] + '.npy')}: missing from the cached arrays; "
                            f"delete the folder {folder} and run again to rebuild them.")
        return _load(folder)
    arrays = build()
    try:
        _save(folder, arrays)
    except OSError as e:
        warnings.warn(f"could not cache arrays in {folder} ({e}); they will be rebuilt next time. "
                      f"Set DEEPSTART_HOME to a writable folder to avoid that.", stacklevel=2)
    return arrays


def _load(folder: Path) -> dict[str, np.ndarray]:
    try:
        return {path.stem: np.load(path, allow_pickle=False) for path in sorted(folder.glob("*.npy"))}
    except (OSError, ValueError, EOFError) as e:
        raise DataError(f"the cached arrays in {folder} are damaged ({e}); delete that folder and run "
                        f"again to rebuild them.") from None


def _save(folder: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write every array into a temporary folder, then rename it into place in one step."""
    for name in arrays:
        if not _SAFE_NAME.fullmatch(name):
            raise ValueError(f"array name '{name}' cannot name a file; "
                             f"use letters, digits, '_', '-' and inner dots.")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".part"))
    try:
        for name, array in arrays.items():
            np.save(tmp / f"{name}.npy", np.asarray(array), allow_pickle=False)
        tmp.rename(folder)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not folder.is_dir():  # if it is, another process cached the same arrays first: fine
            raise
    except BaseException:  # including KeyboardInterrupt: leave no partial folder behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise
