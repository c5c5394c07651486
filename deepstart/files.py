"""Writing files so that a reader never sees half of one: write to a temp name, then rename.

A temp name is `.<name>.<pid>-<token>.part` beside its target (the dash sets it apart from mkdtemp's
names, whose random part has none). A process killed mid-write leaves
one behind; the next successful write into the same folder removes every such file whose process
is gone, so a crash costs a stray file only until the folder is written again.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

_PART = re.compile(r"\..+\.(\d+)-[0-9a-f]{8}\.part")


def temp_name(path: str | os.PathLike) -> Path:
    """A fresh temp name beside `path` that says which process writes it."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.part")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside `path`; on success it is renamed onto `path`, on error removed.
    The file ends with mode 0666 less the umask, as open() would make `path` itself (mkstemp's
    0600 made run folders unreadable to a web server), whatever mode the writer gave it
    (safetensors writes 0600)."""
    path = Path(path)
    while True:
        tmp = temp_name(path)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:  # the same 32-bit token twice: draw another
            continue
    mode = os.fstat(fd).st_mode & 0o777  # the umask applied, read without changing it
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    remove_stale_parts(path.parent)


def remove_stale_parts(folder: str | os.PathLike) -> None:
    """Remove the temp files and folders that killed writers left in `folder`: names of the form
    `temp_name` makes whose process no longer runs. A live writer's temp file is left alone."""
    try:
        names = [n for n in os.listdir(folder) if n.endswith(".part")]
    except OSError:
        return
    for name in names:
        match = _PART.fullmatch(name)
        if match is None or _running(int(match.group(1))):
            continue
        stale = os.path.join(folder, name)
        if os.path.isdir(stale) and not os.path.islink(stale):
            shutil.rmtree(stale, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(stale)


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True  # ours: another thread may be writing it
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # gone, or a pid no process can have
        return False
    except PermissionError:  # another user's live process
        return True
    return True


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


def data_sha256(path: str | os.PathLike) -> str:
    """The content hash of a data file, or of a folder of them (every file under it, by relative
    path and content): what says two commands saw the same data, wherever it was copied."""
    import hashlib

    path = Path(path)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    total = hashlib.sha256()
    for f in files:
        h = hashlib.sha256()
        with open(f, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                h.update(block)
        name = "" if f == path else f.relative_to(path).as_posix()
        total.update(f"{name}\0{h.hexdigest()}\n".encode())
    return total.hexdigest()
