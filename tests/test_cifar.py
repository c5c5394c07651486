"""The CIFAR-10 binary reader, on small archives built in the dataset's exact format."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

from deepstart.errors import DataError
from deepstart.problems.catalog import _cifar
from deepstart.problems.cifar import RECORD, TEST_MEMBER, TRAIN_MEMBERS, read_cifar_binary
from deepstart.problems.sources import RemoteFile


def records(n: int, seed: int) -> tuple[bytes, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n, dtype=np.uint8)
    pixels = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
    raw = np.concatenate([labels[:, None], pixels.reshape(n, -1)], axis=1).tobytes()
    return raw, labels, pixels


def build_archive(path: Path, n: int = 7, tamper=None) -> dict:
    members, truth = {}, {"x": [], "y": []}
    for i, name in enumerate((*TRAIN_MEMBERS, TEST_MEMBER)):
        raw, labels, pixels = records(n, i)
        members[name] = raw
        truth["x"].append(pixels)
        truth["y"].append(labels)
    if tamper:
        tamper(members)
    with tarfile.open(path, "w:gz") as tar:
        for name, raw in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return truth


def test_reads_every_record_in_the_documented_layout(tmp_path):
    truth = build_archive(tmp_path / "c.tar.gz")
    data = read_cifar_binary(tmp_path / "c.tar.gz")
    assert data["x_train"].shape == (35, 3, 32, 32) and data["x_test"].shape == (7, 3, 32, 32)
    np.testing.assert_array_equal(data["x_train"], np.concatenate(truth["x"][:5]))
    np.testing.assert_array_equal(data["y_train"], np.concatenate(truth["y"][:5]))
    np.testing.assert_array_equal(data["x_test"], truth["x"][5])
    # channel planes: the first 1,024 pixel bytes are the red plane, row-major
    raw = records(7, 0)[0]
    assert data["x_train"][0, 0, 0, 5] == raw[1 + 5] and data["x_train"][0, 1, 0, 0] == raw[1 + 1024]


@pytest.mark.parametrize("tamper, message", [
    (lambda m: m.update({TEST_MEMBER: m[TEST_MEMBER][:-5]}), "not a whole number of 3073-byte records"),
    (lambda m: m.update({TEST_MEMBER: bytes([12]) + m[TEST_MEMBER][1:]}), "label 12"),
    (lambda m: m.pop(TRAIN_MEMBERS[2]), "has no cifar-10-batches-bin/data_batch_3.bin"),
])
def test_damaged_archives_are_named(tmp_path, tamper, message):
    build_archive(tmp_path / "c.tar.gz", tamper=tamper)
    with pytest.raises(DataError, match=message):
        read_cifar_binary(tmp_path / "c.tar.gz")


def test_not_an_archive(tmp_path):
    (tmp_path / "c.tar.gz").write_bytes(b"<html>not found</html>")
    with pytest.raises(DataError, match="not a readable tar.gz archive"):
        read_cifar_binary(tmp_path / "c.tar.gz")


def test_problem_loader_verifies_then_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPSTART_HOME", str(tmp_path / "home"))
    folder = tmp_path / "data"
    folder.mkdir()
    build_archive(folder / "cifar-10-binary.tar.gz")
    md5 = hashlib.md5((folder / "cifar-10-binary.tar.gz").read_bytes()).hexdigest()
    files = (RemoteFile("cifar-10-binary.tar.gz", ("http://127.0.0.1:9/",), md5),)
    data = _cifar(files=files, data_dir=folder, download=False)
    assert data.x_train.shape == (35, 3, 32, 32) and data.pixel_max == 255
    assert (tmp_path / "home" / "cifar10" / "arrays-bin-v1").is_dir()
    assert RECORD == 3073
    monkeypatch.setenv("DEEPSTART_HOME", str(tmp_path / "other-home"))  # nothing cached there
    with pytest.raises(DataError, match="not available offline"):
        _cifar(data_dir=tmp_path / "empty", download=False)  # the real archive is not here
