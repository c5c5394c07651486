"""Data frames out of an R package's lazy-load database, without R: the package `rdata` (pure
Python) parses R's serialization, and this module finds and unpacks the database around it.

An installed R package that ships data (`LazyData: true`) keeps it in `data/Rdata.rdx` and
`data/Rdata.rdb`. The .rdx is a gzip'd serialized index: for each object name its (offset, length)
in the .rdb, and how entries are compressed. Each .rdb entry is a 4-byte big-endian length of the
serialized object, then (databases compressed with bzip2 or xz) one type byte, b"Z" for raw LZMA2
(xz's filter at preset 9 | extreme, no container), b"2" bzip2, b"1" zlib, b"0" stored, and the
compressed bytes; a zlib database (compressed = 1) has no type byte. Written after R's
src/main/serialize.c (R_compress1/2/3 and their decompressors).

Debian's r-cran-modeldata holds the modeldata package this way; `apt-get download` + `dpkg-deb -x`
unpack it without pulling R in.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import struct
import warnings
import zlib
from pathlib import Path

from deepstart.errors import DataError, unknown_name

MODELDATA_HINT = ("get Debian's copy without installing R: `apt-get download r-cran-modeldata && "
                  "dpkg-deb -x r-cran-modeldata_*.deb /` (as root; or `sudo apt-get install "
                  "r-cran-modeldata`, which pulls in R), or in R `install.packages('modeldata')`")
SITE_LIBRARIES = (Path("/usr/lib/R/site-library"), Path("/usr/local/lib/R/site-library"))
_LZMA2 = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}]
# what rdata and the decompressors raise on bytes that are not what they should be
_DAMAGE = (ValueError, EOFError, OSError, IndexError, KeyError, TypeError, AttributeError,
           NotImplementedError, struct.error, zlib.error, lzma.LZMAError)


def r_libraries() -> list[Path]:
    """Where R looks for installed packages: R_LIBS and R_LIBS_USER (colon-separated), then the
    site libraries of Debian's R and of an R built from source."""
    listed = [os.environ.get(name, "") for name in ("R_LIBS", "R_LIBS_USER")]
    folders = [Path(p).expanduser() for value in listed for p in value.split(os.pathsep) if p]
    return folders + list(SITE_LIBRARIES)


def package_data(package: str, hint: str) -> Path:
    """The `data` folder of an installed R package that has a lazy-load database; DataError with
    `hint` (how to install it) when no library holds one."""
    places = [lib / package / "data" for lib in r_libraries()]
    for folder in places:
        if (folder / "Rdata.rdx").is_file():
            return folder
    raise DataError(f"the R package {package} is not installed (no {package}/data/Rdata.rdx in "
                    f"{', '.join(str(p.parent.parent) for p in places)}); {hint}.")


def read_modeldata(name: str):
    """The data frame `name` of modeldata (e.g. "training_data", "ames"), as a pandas DataFrame."""
    return read_lazyload(package_data("modeldata", MODELDATA_HINT), name, hint=MODELDATA_HINT)


def lazyload_index(folder: Path, hint: str = MODELDATA_HINT) -> dict:
    """{"variables": {name: (offset, length)}, "compressed": 1, 2 or 3} of `folder`/Rdata.rdx."""
    path = folder / "Rdata.rdx"
    try:
        index = _parse(gzip.decompress(path.read_bytes()))
        variables = {str(k): (int(v[0]), int(v[1])) for k, v in index["variables"].items()}
        compressed = int(index["compressed"][0]) if "compressed" in index else 1
    except _DAMAGE + (gzip.BadGzipFile,) as e:
        raise DataError(f"{path} is damaged ({_why(e)}): it is not an R lazy-load index; {hint}.") from None
    return {"variables": variables, "compressed": compressed}


def read_lazyload(folder: Path, name: str, hint: str = MODELDATA_HINT):
    """One object of the lazy-load database in `folder`, converted by rdata (a data frame becomes
    a pandas DataFrame with string column names and a 0-based index)."""
    index = lazyload_index(folder, hint)
    if name not in index["variables"]:
        raise DataError(str(unknown_name(f"object in {folder / 'Rdata.rdb'}", name, index["variables"])))
    offset, length = index["variables"][name]
    path = folder / "Rdata.rdb"
    try:
        with path.open("rb") as f:
            f.seek(offset)
            entry = f.read(length)
        if len(entry) != length:
            raise EOFError(f"'{name}' needs bytes {offset}..{offset + length}, the file has "
                           f"{path.stat().st_size}: it is truncated")
        raw = _decompress(entry, index["compressed"])
        value = _parse(raw)
    except _DAMAGE as e:
        raise DataError(f"{path} is damaged: '{name}' cannot be read ({_why(e)}); {hint}.") from None
    return _tidy(value)


def _decompress(entry: bytes, compressed: int) -> bytes:
    size = struct.unpack(">I", entry[:4])[0]
    if compressed == 1:
        raw = zlib.decompress(entry[4:])
    else:
        kind, body = entry[4:5], entry[5:]
        if kind == b"Z":
            raw = lzma.decompress(body, format=lzma.FORMAT_RAW, filters=_LZMA2)
        elif kind == b"2":
            raw = bz2.decompress(body)
        elif kind == b"1":
            raw = zlib.decompress(body)
        elif kind == b"0":
            raw = body
        else:
            raise ValueError(f"unknown compression type byte {kind!r}")
    if len(raw) != size:
        raise ValueError(f"it unpacks to {len(raw)} bytes, its header says {size}")
    return raw


def _parse(raw: bytes):
    import rdata

    with warnings.catch_warnings():  # rdata warns that a bare serialization is "assumed RDS": it is
        warnings.simplefilter("ignore", UserWarning)
        return rdata.conversion.convert(rdata.parser.parse_data(raw, expand_altrep=True))


def _tidy(value):
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        value = value.reset_index(drop=True)  # R's row names 1..n
        value.columns = [str(c) for c in value.columns]  # numpy strings from rdata
    return value


def _why(error: Exception) -> str:
    return str(error) or type(error).__name__
