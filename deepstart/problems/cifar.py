"""The CIFAR-10 *binary* version (cifar-10-binary.tar.gz from the dataset's page at the University
of Toronto): fixed-size records of 1 label byte and 3,072 pixel bytes (1,024 red, 1,024 green, 1,024
blue, each 32x32 row-major), 10,000 records per file. Read straight out of the archive with
NumPy; nothing is unpickled (the "python version" of CIFAR-10 is pickles) and nothing is extracted.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np

from deepstart.errors import DataError

RECORD = 1 + 3 * 32 * 32
TRAIN_MEMBERS = tuple(f"cifar-10-batches-bin/data_batch_{i}.bin" for i in range(1, 6))
TEST_MEMBER = "cifar-10-batches-bin/test_batch.bin"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def _records(archive: Path, tar: tarfile.TarFile, name: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        member = tar.getmember(name)
    except KeyError:
        raise DataError(f"{archive} has no {name}: it is not the CIFAR-10 binary archive "
                        "(cifar-10-binary.tar.gz); delete it and run again to download it.") from None
    data = tar.extractfile(member).read() if member.isfile() else b""
    if not data or len(data) % RECORD:
        raise DataError(f"{archive}: {name} has {len(data)} bytes, not a whole number of "
                        f"{RECORD}-byte records; the archive is damaged, delete it and run again.")
    table = np.frombuffer(data, dtype=np.uint8).reshape(-1, RECORD)
    labels = table[:, 0].astype(np.int64)
    if labels.max() >= len(CLASSES):
        raise DataError(f"{archive}: {name} has label {labels.max()}, but CIFAR-10 labels are 0-9; "
                        "the archive is damaged or another data set, delete it and run again.")
    return table[:, 1:].reshape(-1, 3, 32, 32).copy(), labels


def read_cifar_binary(archive: str | Path) -> dict[str, np.ndarray]:
    """x_train (50000, 3, 32, 32) uint8, y_train, x_test (10000, 3, 32, 32), y_test."""
    archive = Path(archive)
    try:
        with tarfile.open(archive, "r:*") as tar:
            train = [_records(archive, tar, name) for name in TRAIN_MEMBERS]
            x_test, y_test = _records(archive, tar, TEST_MEMBER)
    except (tarfile.TarError, EOFError, OSError) as e:
        raise DataError(f"{archive} is not a readable tar.gz archive ({e}); delete it and run again "
                        "to download a fresh copy.") from None
    return {"x_train": np.concatenate([x for x, _ in train]),
            "y_train": np.concatenate([y for _, y in train]), "x_test": x_test, "y_test": y_test}
