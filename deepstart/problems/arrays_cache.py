"""Prepared arrays kept on disk as .npy files, so that a second load skips decompressing and parsing.

Fashion-MNIST's 70k images load in a few tens of milliseconds this way, against about half a second
to decompress and parse the IDX files. `.npy` holds no pickles (we load with allow_pickle=False).

`checksums.json` beside the arrays records each one's CRC-32, shape and dtype when it is written, and
every load checks them: a damaged array is named, never used (half of a zeroed `y_test.npy` once
scored 0.47 without a word). CRC-32, not a cryptographic hash: it guards against damage, not
tampering (the source files themselves are checked against published MD5s), and at about 1.5 GB/s
it keeps Fashion-MNIST's second load under 0.1 s, where SHA-256 alone took 0.1 s
(benchmarks/cache_load.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from deepstart.errors import DataError
from deepstart.files import remove_stale_parts, temp_name, write_json
from deepstart.problems.sources import data_home

# Names become file and folder names: no separators, and no leading dot (which also rules out "..").
_SAFE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")
MANIFEST = "checksums.json"
_FORMAT = "deepstart-arrays-1"


# What the built-in datasets cache: one array per split (they pass it as `names`).
SPLITS = ("x_train", "y_train", "x_test", "y_test")


def cached_arrays(dataset: str, key: str, build: Callable[[], dict[str, np.ndarray]],
                  names: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """The arrays `build()` returns, computed once and then read from `data_home()/<dataset>/arrays-<key>/`.

    `key` must change whenever what `build` computes changes (say, a version or the preparation's
    parameters): a folder that exists is trusted to hold what `build` would return, once its
    checksums agree. A folder without checksums (written by an older deepstart) is rebuilt.
    """
    for name in (dataset, key):
        if not _SAFE_NAME.fullmatch(name):
            raise ValueError(f"'{name}' cannot name a cache folder; "
                             f"use letters, digits, '_', '-' and inner dots.")
    folder = data_home() / dataset / f"arrays-{key}"
    if (folder / MANIFEST).is_file():
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
    fix = f"delete {folder} and run again to rebuild it"
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        entries = manifest["arrays"]
        if manifest.get("format") != _FORMAT or not isinstance(entries, dict):
            raise ValueError(f"format {manifest.get('format')!r}, expected {_FORMAT!r}")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise DataError(f"{folder / MANIFEST} is damaged ({e}); {fix}.") from None
    arrays = {}
    for name, entry in entries.items():
        path = folder / f"{name}.npy"
        if not _SAFE_NAME.fullmatch(name):
            raise DataError(f"{folder / MANIFEST} names an array '{name}' that cannot be a file; {fix}.")
        try:
            array = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise DataError(f"{path} is missing from the cached arrays; {fix}.") from None
        except (OSError, ValueError, EOFError) as e:
            raise DataError(f"{path} is damaged ({e}); {fix}.") from None
        try:
            expected = (entry["shape"], entry["dtype"], entry["crc32"])
        except (KeyError, TypeError):
            raise DataError(f"{folder / MANIFEST} is damaged (no shape, dtype and crc32 for "
                            f"'{name}'); {fix}.") from None
        got = (list(array.shape), array.dtype.str, _crc32(array))
        if got != expected:
            what = ("its CRC-32 does not match the one recorded when it was written"
                    if got[:2] == expected[:2] else
                    f"it holds {got[1]} of shape {tuple(got[0])}, but {expected[1]} of shape "
                    f"{tuple(expected[0])} was written")
            raise DataError(f"{path} is damaged ({what}); {fix}.")
        arrays[name] = array
    return arrays


def _crc32(array: np.ndarray) -> int:
    return zlib.crc32(np.ascontiguousarray(array).reshape(-1).view(np.uint8))


def _save(folder: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write every array and its checksum into a temporary folder, then rename it into place in one
    step; an older folder without checksums is moved aside first and removed after."""
    for name in arrays:
        if not _SAFE_NAME.fullmatch(name):
            raise ValueError(f"array name '{name}' cannot name a file; "
                             f"use letters, digits, '_', '-' and inner dots.")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(folder)
    tmp.mkdir()
    try:
        entries = {}
        for name, array in arrays.items():
            array = np.ascontiguousarray(array)
            np.save(tmp / f"{name}.npy", array, allow_pickle=False)
            entries[name] = {"shape": list(array.shape), "dtype": array.dtype.str, "crc32": _crc32(array)}
        write_json(tmp / MANIFEST, {"format": _FORMAT, "arrays": entries})
        if folder.is_dir() and not (folder / MANIFEST).is_file():  # unchecked, from an older version
            old = temp_name(folder)
            os.rename(folder, old)
            shutil.rmtree(old, ignore_errors=True)
        tmp.rename(folder)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not folder.is_dir():  # if it is, another process cached the same arrays first: fine
            raise
    except BaseException:  # including KeyboardInterrupt: leave no partial folder behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    remove_stale_parts(folder.parent)  # what a killed build left
