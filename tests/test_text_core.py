"""Text as a fourth kind of data (issue 17, the core): tokenizer, text columns in tables, the
text layout through prepare, models and batches, folders of .txt files, and bad input.

Real texts: 300 Amazon fine-food reviews (modeldata's small_fine_foods training rows, as
tests/data/README.md says) and 40 SpamAssassin messages (2 of them in ISO-8859, not UTF-8).
The model is a tiny embedding bag of the tests' own (tests/text_nets.py), so the core is tested
without the zoo's text families."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from deepstart import Learner, tabular_problem, text_problem
from deepstart.cli import main
from deepstart.errors import DataError, DeepstartError
from deepstart.models import FAMILIES, build_model, data_settings
from deepstart.prepare import prepare
from deepstart.problems import Problem, get_problem
from deepstart.problems.columns import action_text, as_text, encode, fit_columns, is_text_column
from deepstart.problems.folder import is_text_folder, text_folder_problem
from deepstart.text import (decode, decode_bytes, encode_texts, fit_tokenizer, text_entry,
                            text_layout)

DATA = Path(__file__).parent / "data"
REVIEWS = DATA / "fine_foods_300.csv"
SPAM = DATA / "spam_assassin"
NET = str(Path(__file__).parent / "text_nets.py") + ":TinyBag"


@pytest.fixture(scope="module")
def reviews() -> pd.DataFrame:
    return pd.read_csv(REVIEWS)


@pytest.fixture(scope="module")
def problem(reviews):
    """240 reviews to train on, the next 60 as the given test rows."""
    return text_problem(reviews.iloc[:240], text="review", target="score", test=reviews.iloc[240:],
                        name="fine-foods-slice")


@pytest.fixture(scope="module")
def learner(problem):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model on a shared machine (conftest's one_torch_thread)
    try:
        learner = Learner(NET, problem, lr=1e-2, batch_size=16, verbose=0, seed=3)
        learner.fit(2)
        yield learner
    finally:
        torch.set_num_threads(threads)


# --- tokenizer ----------------------------------------------------------------------------------

def test_the_tokenizer_is_word_level_lower_cased_and_byte_for_byte_deterministic(reviews):
    texts = reviews["review"].iloc[:240].tolist()
    first, again = fit_tokenizer(texts), fit_tokenizer(list(reversed(texts)))
    assert first.to_str() == again.to_str()  # same texts, another order: the same JSON
    vocab = first.get_vocab()
    assert vocab["[PAD]"] == 0 and vocab["[UNK]"] == 1
    assert "great" in vocab and "Great" not in vocab and "<br" not in vocab
    words = pd.Series([w for t in texts for w, _ in first.pre_tokenizer.pre_tokenize_str(
        first.normalizer.normalize_str(t))]).value_counts()
    assert set(vocab) - {"[PAD]", "[UNK]"} == set(words.index[words >= 2])  # seen once: [UNK]
    assert first.encode("Great coffee!!").tokens == ["great", "coffee", "!!"]


def test_the_text_entry_chooses_its_length_from_the_training_token_counts(problem, reviews):
    entry = text_entry(problem.schema)
    tokenizer = fit_tokenizer(reviews["review"].iloc[:240].tolist())
    counts = np.array([len(e.ids) for e in tokenizer.encode_batch(reviews["review"].iloc[:240].tolist())])
    assert entry["length"] == min(512, math.ceil(np.quantile(counts, 0.95)))
    assert entry["truncated"] == int((counts > entry["length"]).sum()) > 0
    assert entry["vocab_size"] == tokenizer.get_vocab_size()
    assert entry["pad_id"] == 0 and entry["unk_id"] == 1 and entry["columns"] == ["review"]
    assert len(entry["features"]) == entry["length"]
    # the JSON alone rebuilds a tokenizer that pads and cuts to L, as export and serve need
    from tokenizers import Tokenizer

    alone = Tokenizer.from_str(json.dumps(entry["tokenizer"]))
    assert len(alone.encode("short one").ids) == entry["length"]


def test_features_are_token_ids_after_the_other_columns_and_prepare_leaves_them_unscaled(reviews):
    frame = reviews.assign(helpful=np.arange(len(reviews)) % 7 * 1.5)
    problem = tabular_problem(frame, target="score")
    assert problem.kind == "text"
    kinds = {e["name"]: (e["kind"], e.get("dropped")) for e in problem.schema["columns"]}
    assert kinds == {"product": ("categorical", "identifier-like"), "helpful": ("numeric", None),
                     "review": ("text", None)}
    layout = text_layout(problem.schema)
    entry = text_entry(problem.schema)
    assert layout == {"text_start": 1, "text_length": entry["length"],
                      "vocab_size": entry["vocab_size"]}
    data = problem.load()
    assert data.x_train.dtype == np.float32 and data.x_train.shape[1] == 1 + entry["length"]
    ids = encode_texts(entry, data.test_rows["review"].tolist())
    assert np.array_equal(data.x_test[:, 1:], ids.astype(np.float32))
    assert decode(entry, encode_texts(entry, ["This is GREAT coffee,<br />really zqxj."])) == \
        ["this is great coffee , really [UNK] ."]
    prepared = prepare(data, problem, val_split=0.1)
    assert prepared.text == layout
    x = prepared.x_train.numpy()
    assert abs(x[:, 0].mean()) < 0.2 and x[:, 0].std() == pytest.approx(1, abs=0.1)  # standardised
    assert np.all(x[:, 1:] == np.round(x[:, 1:])) and x[:, 1:].max() < entry["vocab_size"]
    assert prepared.scaling["x"]["offset"][1:] == [0.0] * entry["length"]


def test_a_given_test_frame_is_the_canonical_split(problem):
    data = problem.load()
    assert (len(data.x_train), len(data.x_test)) == (240, 60)
    assert problem.split == "the given training and test frames; 240 + 60 rows"
    assert problem.recipe["model"] == "bag" and problem.class_names == ("great", "other")


def test_several_text_columns_join_into_one_entry_each_part_after_its_name(reviews):
    frame = reviews.assign(title=reviews["review"].str.split().str[:6].str.join(" "))
    entries = fit_columns({c: frame[c] for c in ("title", "review", "product")})
    text = [e for e in entries if e["kind"] == "text"]
    assert len(text) == 1 and text[0]["columns"] == ["title", "review"]
    assert entries[-1] is text[0]  # the token ids come last
    x = encode(entries, {"title": ["great taste"], "review": ["I loved it"], "product": ["B0"]})
    words = decode(text[0], x[:, -text[0]["length"]:])[0]
    assert words.startswith("title : great taste | review : i loved it")


# --- the text rule ------------------------------------------------------------------------------

WORDS = st.text("abcdefghij", min_size=1, max_size=8)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.lists(WORDS, min_size=4, max_size=12).map(" ".join), min_size=12, max_size=40,
                unique=True))
def test_long_mostly_distinct_values_are_text(values):
    assert is_text_column(as_text(values))
    assert is_text_column(as_text(values + [None] * len(values)))  # gaps do not count
    assert not is_text_column(as_text(values[:2] * 10))  # the same two: a category


@settings(max_examples=15, deadline=None)
@given(st.lists(st.text("ABCDEF0123456789-", min_size=6, max_size=36), min_size=12, max_size=40,
                unique=True))
def test_short_unique_codes_stay_identifier_like(values):
    assert not is_text_column(as_text(values))
    entry = fit_columns({"code": values})[0]
    assert entry["kind"] == "categorical" and entry["dropped"] == "identifier-like"


def test_a_few_recurring_sentences_stay_categories():
    values = ["not satisfied with the service", "very happy with the result",
              "would not buy it again"] * 10
    entry = fit_columns({"answer": values})[0]
    assert entry["kind"] == "categorical" and not entry.get("dropped")


# --- models and batches -------------------------------------------------------------------------

def test_a_users_class_gets_the_text_layout_and_predicts_raw_texts(learner, problem, reviews):
    layout = text_layout(problem.schema)
    model = learner.model
    assert (model.vocab_size, model.text_start, model.text_length) == (
        layout["vocab_size"], layout["text_start"], layout["text_length"])
    texts = reviews["review"].iloc[240:250].tolist()
    by_rows = learner.predict_proba([{"review": t} for t in texts])
    assert np.allclose(learner.predict_proba(texts), by_rows)
    assert np.allclose(learner.predict_proba(pd.DataFrame({"review": texts})), by_rows)
    assert np.allclose(by_rows, learner.predict_proba("test")[:10], atol=1e-6)
    assert learner.predict(texts[0]).shape == (1,)
    whole = learner.predict_proba("test")
    learner.eval_batch = 16  # sorted by length into batches of 16, the outputs put back in order
    try:
        assert np.allclose(learner.predict_proba("test"), whole, atol=1e-6)
        widths = learner.model.widths[-4:]  # 60 test rows: 4 batches, shortest texts first
        assert widths == sorted(widths) and widths[0] < widths[-1] <= entry_length(problem)
    finally:
        learner.eval_batch = 4096


def entry_length(problem) -> int:
    return text_entry(problem.schema)["length"]


def test_zoo_families_that_cannot_read_text_are_refused_and_text_ones_get_the_layout(
        problem, monkeypatch):
    layout = text_layout(problem.schema)
    with pytest.raises(DeepstartError, match="model 'mlp' cannot read text .* use one of: bag, "
                                             "lstm, gru, transformer"):
        build_model("mlp", (layout["text_length"],), 1, "binary", text=layout)

    @dataclasses.dataclass
    class ProbeConfig:
        vocab_size: int = 0
        text_start: int = 0
        text_length: int = 0
        out_features: int = 1
        dim: int = 4

    class Probe(torch.nn.Module):
        family = "probe"

        def __init__(self, config):
            super().__init__()
            self.config = config

    monkeypatch.setitem(FAMILIES, "probe", (Probe, ProbeConfig, ("binary",)))
    assert data_settings("probe", (layout["text_length"],), 1, layout) == layout | {"out_features": 1}
    model = build_model("probe", (layout["text_length"],), 1, "binary", text=layout, dim=8)
    assert model.config == ProbeConfig(layout["vocab_size"], 0, layout["text_length"], 1, 8)
    with pytest.raises(DeepstartError, match="has no option vocab_size"):
        build_model("probe", (layout["text_length"],), 1, "binary", text=layout, vocab_size=3)


def test_batches_are_bucketed_by_length_deterministically_and_cover_every_row(learner):
    n = len(learner._tensors["x_train"])
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(1))

    def epoch(seed, buckets):
        learner.generator.manual_seed(seed)
        learner.bucket_batches = buckets
        return learner._batch_indices(perm)

    try:
        batches = epoch(5, 50)
        assert torch.equal(torch.sort(torch.cat(batches)).values, torch.arange(n))
        assert all(torch.equal(a, b) for a, b in zip(batches, epoch(5, 50)))
        lengths = learner._lengths
        bucketed = sum(int(lengths[b].max()) * len(b) for b in batches)
        plain = sum(int(lengths[b].max()) * len(b) for b in epoch(5, 1))
        assert bucketed < 0.7 * plain  # token slots a batch padded to its longest text costs
        assert [len(b) for b in batches].count(16) == n // 16
    finally:
        learner.bucket_batches = 50


def test_an_epochs_training_scores_pair_each_bucketed_batch_with_its_own_targets(learner):
    # lr 0: the weights stay, so the epoch's scores must be those of the training rows scored
    # after it, though the batches came sorted by length, not in the permutation's order
    for group in learner.opt.param_groups:
        group["lr"] = 0.0
    try:
        learner.fit(1)
    finally:
        for group in learner.opt.param_groups:
            group["lr"] = learner.lr
    row = learner.history.rows[-1]
    after = learner.evaluate("train")
    assert row["roc_auc"] == pytest.approx(after["roc_auc"], abs=1e-6) and after["roc_auc"] > 0.6
    assert row["accuracy"] == pytest.approx(after["accuracy"], abs=1e-6)


# --- folders of texts and bad input -------------------------------------------------------------

def test_a_folder_of_txt_files_per_class_is_a_text_problem_with_its_encodings_said():
    assert is_text_folder(SPAM)
    problem = text_folder_problem(SPAM)
    assert problem.kind == "text" and problem.class_names == ("ham", "spam")
    assert len(problem.load().x_train) + len(problem.load().x_test) == 40
    notes = problem.schema["data_notes"]
    assert any("2 of the 40 files are not UTF-8 and were read as Windows-1252" in n for n in notes)
    assert get_problem(str(SPAM)).kind == "text"


@pytest.mark.parametrize("content, message", [
    (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10", "is a binary file, not text"),
    (b"caf\x81 au lait \x8d", "is not UTF-8 text (byte 0x81 at offset 3) nor Windows-1252"),
])
def test_a_bad_txt_file_is_one_line_and_exit_2_with_nothing_written(tmp_path, capsys, content,
                                                                     message):
    folder = tmp_path / "texts"
    for label in ("ham", "spam"):
        (folder / label).mkdir(parents=True)
        for f in sorted((SPAM / label).iterdir())[:8]:
            (folder / label / f.name).write_bytes(f.read_bytes())
    (folder / "spam" / "odd.txt").write_bytes(content)
    with pytest.raises(DataError, match=re.escape(message)):
        text_folder_problem(folder)
    code = main(["run", str(folder), "--model", NET, "--epochs", "1", "--out", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "odd.txt" in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.parametrize("values, message", [
    (["", " ", None] * 5, "is empty: all 12 training values are missing or blank"),
    ([np.nan] * 15, "is empty: all 12 training values are missing or blank"),
    (["the very same review text"] * 15, "holds the same text .* in all 12 training rows"),
])
def test_a_text_column_without_texts_to_learn_from_is_refused(reviews, values, message):
    frame = pd.DataFrame({"note": values, "y": ["a", "b", "c"] * 5})
    with pytest.raises(DataError, match=message):
        text_problem(frame, text="note", target="y")


def test_the_text_flag_forces_a_column_and_names_a_wrong_one(tmp_path, capsys):
    path = tmp_path / "answers.csv"
    pd.DataFrame({"answer": ["yes please", "no thanks", "maybe later", "yes of course"] * 5,
                  "y": ["a", "b"] * 10}).to_csv(path, index=False)
    assert get_problem(str(path), {"target": "y"}).kind == "tabular"  # short, recurring: categories
    forced = get_problem(str(path), {"target": "y", "text": "answer"})
    assert forced.kind == "text" and text_entry(forced.schema)["forced"] == ["answer"]
    code = main(["run", str(path), "--target", "y", "--text", "answr", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "has no column 'answr' (did you mean 'answer'?) to use as a text column" in err


def test_decoding_text_bytes_reads_utf8_utf16_and_windows_1252():
    assert decode_bytes("café".encode(), "a.txt") == ("café", "utf-8")
    assert decode_bytes("café".encode("utf-16"), "a.txt") == ("café", "utf-16")
    assert decode_bytes("café – 5 €".encode("cp1252"), "a.txt") == ("café – 5 €", "cp1252")


@settings(max_examples=40, deadline=None)
@given(st.text(st.characters(codec="cp1252", exclude_categories=("Cc", "Cs")), min_size=1,
               max_size=60))
def test_any_windows_1252_text_reads_back_as_written(text):
    data = text.encode("cp1252")
    got, encoding = decode_bytes(data, "a.txt")
    # bytes that happen to be valid UTF-8 (all ASCII, say) read as UTF-8, as they should
    assert got == (data.decode("utf-8") if encoding == "utf-8" else text)
    assert encoding in ("utf-8", "cp1252")
    assert decode_bytes(text.encode("utf-8"), "a.txt") == (text, "utf-8")


# --- built-in problems made from their data ------------------------------------------------------

def test_a_catalog_entry_with_materialize_is_built_once_by_get_problem(problem):
    calls = []

    def build():
        calls.append(1)
        return problem

    entry = Problem(name="probe-texts", title="probe", task="binary", kind="text",
                    metric="accuracy", split="given", origin="tests", size="300 texts",
                    load_raw=lambda **_: None, materialize=build)
    assert get_problem(entry) is problem and get_problem(entry) is problem
    assert calls == [1]


def test_a_csv_in_windows_1252_is_read_and_said_and_one_in_neither_is_refused(tmp_path, reviews,
                                                                              capsys):
    frame = reviews.iloc[:60].assign(review=reviews["review"].iloc[:60] + " Café crème, 5 €.")
    path = tmp_path / "reviews.csv"
    frame.to_csv(path, index=False, encoding="cp1252")
    problem = get_problem(str(path), {"target": "score"})
    assert problem.schema["data_notes"][0] == ("reviews.csv is not UTF-8 and was read as "
                                               "Windows-1252 (cp1252); if its accents look wrong, "
                                               "save it as UTF-8.")
    assert "café" in text_entry(problem.schema)["tokenizer"]["model"]["vocab"]
    bad = tmp_path / "bad.csv"
    bad.write_bytes(path.read_bytes() + b"\x81\x8d,other\n")
    code = main(["run", str(bad), "--target", "score", "--out", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "bad.csv is not UTF-8 text" in err and "iconv -f ITS-ENCODING -t UTF-8" in err
    assert not (tmp_path / "runs").exists()


def test_deepstart_run_on_a_review_table_says_what_was_done_to_the_text(tmp_path, capsys):
    code = main(["run", str(REVIEWS), "--target", "score", "--model", NET, "--epochs", "1",
                 "--batch-size", "32", "--out", str(tmp_path / "runs")])
    out = capsys.readouterr().out
    assert code == 0
    run = next((tmp_path / "runs").iterdir())
    spec = json.loads((run / "model.json").read_text())
    entry = text_entry(spec)
    assert spec["custom"]["arguments"]["vocab_size"] == entry["vocab_size"]
    assert spec["input_shape"] == [entry["length"]]
    said = action_text(entry)
    assert said == (f"text: median >= 4 words and >= 50% distinct values; tokenized word-level "
                    f"(lower case, punctuation split): {entry['vocab_size']:,} tokens (words seen "
                    f">= 2 times + [PAD], [UNK]); padded or cut to {entry['length']} tokens (the 95% "
                    f"quantile of the training texts' token counts, at most 512); "
                    f"{entry['truncated']} of 240 training texts cut; "
                    f"{entry['unknown_share']:.1%} of their tokens [UNK]")
    cells = " ".join(out.replace("│", " ").split())
    assert (f"300 texts; a vocabulary of {entry['vocab_size']:,} words, texts cut at "
            f"{entry['length']} tokens") in cells
    assert "review text 0 text: median >= 4 words" in cells  # the column table's row


def test_a_text_problem_takes_the_metric_its_references_use(reviews):
    problem = text_problem(reviews, text="review", target="score", metric="roc_auc")
    assert problem.metric == "roc_auc" and problem.greater_is_better
    # the computed baseline is in the problem's metric: one score for every row ranks nothing
    assert [(r.model, r.value) for r in problem.references] == [("majority class for every row", 0.5)]
    f1 = text_problem(reviews, text="review", target="score", metric="f1")
    assert f1.references[0].value == 0.0  # the majority, "great", is class 0: no class 1 found
    accuracy = text_problem(reviews, text="review", target="score")
    y_test = accuracy.load().y_test
    assert accuracy.references[0].value == pytest.approx(np.mean(y_test == 0))
    with pytest.raises(DeepstartError, match="does not score a binary problem"):
        text_problem(reviews, text="review", target="score", metric="mae")


def test_a_long_text_is_tokenized_from_its_start_with_the_ids_of_the_whole_and_its_count_bounded(reviews):
    """A text past CUT_CHARS is tokenized from its first characters only: its first L ids are the
    whole text's, and statistics at the bound say they are bounds (a 10,000-word speech once read
    'median 774 tokens')."""
    from deepstart.text import CUT_CHARS, MARGIN, MAX_LENGTH, _token_ids, fit_text_entry

    texts = list(reviews["review"].iloc[:200])
    # long ones: 40 reviews joined (about 10 times CUT_CHARS), one of long "words" (base64-like),
    # and one whose cut falls inside a <br /> and a word
    long = [" ".join(texts[i:i + 40]) for i in range(0, 120, 40)]
    long.append(" ".join(["QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo" * 3] * 400))
    long.append("a" * (CUT_CHARS - 3) + "<br /> tasty " * 600)
    entry = fit_text_entry("review", ["review"], texts + long)
    tokenizer = fit_tokenizer([t[:CUT_CHARS] for t in texts + long])
    whole = [e.ids for e in tokenizer.encode_batch(long)]
    for fast, full in zip(_token_ids(tokenizer, long), whole):
        assert fast[:MAX_LENGTH + MARGIN] == full[:MAX_LENGTH + MARGIN]
    ids = encode_texts(entry, long)
    assert all(list(row) == full[:entry["length"]] + [0] * (entry["length"] - len(full[:entry["length"]]))
               for row, full in zip(ids, whole))
    assert entry["token_counts"]["exact_below"] == MAX_LENGTH + MARGIN
    assert entry["token_counts"]["max"] >= MAX_LENGTH + MARGIN
    assert entry["truncated"] == sum(len(w) > entry["length"] for w in
                                     [e.ids for e in tokenizer.encode_batch(texts)] + whole)
