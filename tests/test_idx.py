from __future__ import annotations

import gzip
import tempfile
from pathlib import Path

import numpy as np
import pytest
from conftest import require_path
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from deepstart.errors import DataError
from deepstart.problems.idx import read_idx, write_idx

FASHION = Path("/usr/share/datasets/fashion-mnist")
FASHION_HINT = "install it with `sudo apt-get install dataset-fashion-mnist`"

DTYPES = st.sampled_from(["uint8", "int8", "int16", "int32", "float32", "float64"])
SHAPES = hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5)
ARRAYS = DTYPES.flatmap(lambda dtype: hnp.arrays(dtype, SHAPES))


@given(array=ARRAYS, compressed=st.booleans())
def test_write_then_read_gives_the_same_array(array: np.ndarray, compressed: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("a.idx.gz" if compressed else "a.idx")
        write_idx(path, array)
        back = read_idx(path)
    assert back.dtype == array.dtype and back.shape == array.shape
    assert back.tobytes() == array.tobytes()  # bit-exact, NaNs and -0.0 included
    assert back.flags.writeable and back.dtype.isnative


def test_layout_matches_the_format_description(tmp_path: Path) -> None:
    path = tmp_path / "labels.idx"
    write_idx(path, np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int32))
    assert path.read_bytes()[:12] == bytes([0, 0, 0x0C, 2, 0, 0, 0, 2, 0, 0, 0, 3])
    assert path.read_bytes()[12:16] == bytes([0, 0, 0, 1])  # big-endian values


def test_gzip_is_recognised_by_its_content_not_its_name(tmp_path: Path) -> None:
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    write_idx(tmp_path / "a.gz", array)
    (tmp_path / "a.gz").rename(tmp_path / "compressed-without-suffix")
    write_idx(tmp_path / "plain", array)
    (tmp_path / "plain").rename(tmp_path / "plain-with-suffix.gz")
    np.testing.assert_array_equal(read_idx(tmp_path / "compressed-without-suffix"), array)
    np.testing.assert_array_equal(read_idx(tmp_path / "plain-with-suffix.gz"), array)


@settings(max_examples=50)
@given(data=st.data(), compressed=st.booleans())
def test_a_file_cut_at_any_byte_is_named(data: st.DataObject, compressed: bool) -> None:
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("cut.gz" if compressed else "cut")
        write_idx(path, array)
        content = path.read_bytes()
        path.write_bytes(content[:data.draw(st.integers(0, len(content) - 1))])
        with pytest.raises(DataError, match="cut"):
            read_idx(path)


def test_truncated_payload_names_file_and_byte_counts(tmp_path: Path) -> None:
    path = tmp_path / "images.idx"
    write_idx(path, np.zeros((10, 28, 28), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError) as error:
        read_idx(path)
    message = str(error.value)
    assert str(path) in message and "truncated" in message
    assert "7856" in message and "7756" in message  # 16 + 10*28*28 expected, 100 fewer there
    assert "delete it" in message


def test_trailing_junk_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "labels.idx.gz"
    write_idx(path, np.zeros(5, dtype=np.uint8))
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes()) + b"junk"))
    with pytest.raises(DataError, match="trailing bytes.*13 bytes, but it has 17"):
        read_idx(path)


@pytest.mark.parametrize("header, problem", [
    (b"\x01\x00\x08\x01", "not an IDX file"),
    (b"\x00\x00\x07\x01", "type code 0x07"),
    (b"\x00\x00\x08\x00", "0 dimensions"),
    (b"\x00\x00\x08\x03\x00\x00", "header needs 16 bytes"),
])
def test_bad_headers_are_named(tmp_path: Path, header: bytes, problem: str) -> None:
    path = tmp_path / "bad.idx"
    path.write_bytes(header)
    with pytest.raises(DataError, match=problem):
        read_idx(path)


def test_corrupt_gzip_is_named(tmp_path: Path) -> None:
    path = tmp_path / "x.gz"
    write_idx(path, np.arange(1000, dtype=np.int32))
    content = bytearray(path.read_bytes())
    content[len(content) // 2] ^= 0xFF
    path.write_bytes(bytes(content))
    with pytest.raises(DataError, match="x.gz is a corrupt or truncated gzip file"):
        read_idx(path)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="nothing.idx does not exist"):
        read_idx(tmp_path / "nothing.idx")


def test_write_refuses_what_idx_cannot_store(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="dtype"):
        write_idx(tmp_path / "a", np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="dimensions"):
        write_idx(tmp_path / "a", np.array(3, dtype=np.uint8))


def test_reads_the_real_fashion_mnist_test_set() -> None:
    folder = require_path(FASHION, FASHION_HINT)
    images = read_idx(folder / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(folder / "t10k-labels-idx1-ubyte.gz")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and np.bincount(labels).tolist() == [1000] * 10
    assert labels[:5].tolist() == [9, 2, 1, 1, 6]  # ankle boot, pullover, trouser, trouser, shirt
