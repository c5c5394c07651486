"""Writing files so that a reader never sees half of one: write to a temp name, then rename."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside `path`; on success it is renamed onto `path`, on error removed."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, data: object) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=False, default=_jsonable) + "\n")


RESTORE = "restore the file from a copy, or rerun the run"


def read_text(path: str | os.PathLike, fix: str = RESTORE) -> str:
    """The file's UTF-8 text; a missing, unreadable or non-UTF-8 file is a DeepstartError that names
    it and says `fix`."""
    from deepstart.errors import DeepstartError

    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DeepstartError(f"{path}: the file is missing; {fix}.") from None
    except OSError as e:
        raise DeepstartError(f"{path}: cannot be read ({e.strerror}); {fix}.") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DeepstartError(f"{path}: not UTF-8 text (byte {e.start} is 0x{data[e.start]:02x}), so "
                             f"it is damaged; {fix}.") from None


def read_json(path: str | os.PathLike, required: dict | None = None, optional: dict | None = None,
              fix: str = RESTORE) -> dict:
    """The JSON object in `path`. `required` and `optional` map keys to the type (or tuple of types)
    their values must have; anything else wrong with the file is a DeepstartError that names it."""
    from deepstart.errors import DeepstartError

    path = Path(path)
    text = read_text(path, fix)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        what = "empty" if not text.strip() else f"not valid JSON ({e.msg} at line {e.lineno} column {e.colno})"
        raise DeepstartError(f"{path}: {what}, so it is damaged; {fix}.") from None
    if not isinstance(data, dict):
        raise DeepstartError(f"{path}: holds {_json_type(data)} where an object {{...}} was "
                             f"expected, so it is damaged; {fix}.")
    for key in required or {}:
        if key not in data:
            raise DeepstartError(f"{path}: the key \"{key}\" is missing; {fix}.")
    for key, types in ({**(optional or {}), **(required or {})}).items():
        check_type(path, key, data.get(key), types, fix, optional=key not in (required or {}))
    return data


def check_type(path: Path, key: str, value: object, types, fix: str = RESTORE,
               optional: bool = False) -> None:
    """`value` (the file's `key`) is one of `types`; None passes when `optional`. bool is not a
    number here (JSON true is not 1)."""
    from deepstart.errors import DeepstartError

    types = types if isinstance(types, tuple) else (types,)
    if value is None and (optional or type(None) in types):
        return
    if isinstance(value, bool) and bool not in types:
        ok = False
    else:
        ok = isinstance(value, types) or (float in types and isinstance(value, int))
    if not ok:
        wanted = " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in types)
        raise DeepstartError(f"{path}: \"{key}\" is {_shown(value)} where "
                             f"{wanted} was expected; {fix}.")


# JSON's names for the Python types json.loads gives (bool first: a bool is also an int)
_TYPE_NAMES = {bool: "true or false", dict: "an object", list: "a list", str: "a string",
               int: "an integer", float: "a number", type(None): "null"}


def _json_type(value: object) -> str:
    return next((name for t, name in _TYPE_NAMES.items() if isinstance(value, t)),
                type(value).__name__)


def _shown(value: object) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def _jsonable(value: object) -> object:
    # numpy scalars and arrays, tuples in dataclasses, paths
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
