"""Everything downstream of a text run (issue 17), on 300 real Amazon fine-food reviews
(tests/data/fine_foods_300.csv, from modeldata's small_fine_foods): the report shows the vocabulary
as counted on the training texts, sample texts and the worst mistakes as the test texts with their
probabilities (in Chromium too); serve takes {"text": ...} and answers as the model does offline,
and its page predicts a typed review; export writes an ONNX graph on token ids with tokenizer.json
beside it, and docs/export.md's snippet goes from a text to the run's label; diagnose suggests real
`deepstart run` commands with the run's full configuration; tune searches bag's options. One text
run (and one of a table that mixes the text with a number) serves every test."""

from __future__ import annotations

import dataclasses
import json
import shlex
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepstart.cli import main

DATA = Path(__file__).parent / "data" / "fine_foods_300.csv"
NETS = Path(__file__).parent / "text_nets.py"


def model_name() -> str:
    """The zoo's bag where it exists, else the tests' own tiny bag (tests/text_nets.py)."""
    from deepstart.models import model_names

    return "bag" if "bag" in model_names() else f"{NETS}:TinyBag"


def train(csv: Path, out: Path) -> Path:
    assert main(["run", str(csv), "--target", "score", "--model", model_name(), "--epochs", "3",
                 "--seed", "1", "--quiet", "--out", str(out)]) == 0
    return next(out.iterdir())


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return pd.read_csv(DATA)


@pytest.fixture(scope="module")
def text_run(tmp_path_factory, frame):
    """A run on the reviews alone (the product codes are all distinct: dropped as identifiers)."""
    folder = tmp_path_factory.mktemp("text")
    csv = folder / "reviews.csv"
    frame.to_csv(csv, index=False)
    return train(csv, folder / "runs")


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory, frame):
    """A table that mixes the text with a number: each review's length in characters."""
    folder = tmp_path_factory.mktemp("mixed")
    csv = folder / "mixed.csv"
    frame.assign(chars=frame["review"].str.len()).to_csv(csv, index=False)
    return train(csv, folder / "runs"), csv


@pytest.fixture(scope="module")
def report_context(text_run):
    from deepstart.record import read_run
    from deepstart.report import context

    return context(read_run(text_run))


def split_rows(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The CSV problem's training and test rows, in its order (stratified 20 %, seed 0)."""
    from deepstart.problems.splits import split_indices

    y = (frame["score"] == "other").astype(int).to_numpy()
    train_rows, test_rows = split_indices(y, int(np.ceil(len(frame) * 0.2)), 0, stratify=True)
    return frame.iloc[train_rows], frame.iloc[test_rows]


def entry_of(run: Path) -> dict:
    spec = json.loads((run / "model.json").read_text())
    return next(e for e in spec["columns"] if e["kind"] == "text")


def offline_proba(run: Path) -> np.ndarray:
    """The saved model's class probabilities on the prepared test rows, as the run scored them."""
    from deepstart.record import load_data, load_trained_model, model_outputs, read_run

    record = read_run(run)
    model, spec = load_trained_model(record)
    _, data = load_data(record)
    return model_outputs(model, spec, data.x_test, data.y_test, data.scaling).proba


# --- report ---------------------------------------------------------------------------------------

def test_report_counts_the_vocabulary_and_shows_texts_with_their_probabilities(
        text_run, frame, report_context):
    from tokenizers import Tokenizer

    from deepstart.report import render

    ctx = report_context
    text, mistakes = ctx["data"]["text"], ctx["mistakes"]
    entry = entry_of(text_run)
    train_rows, test_rows = split_rows(frame)

    # the vocabulary, recounted here from the CSV's training reviews with the run's tokenizer
    tokenizer = Tokenizer.from_str(json.dumps(entry["tokenizer"]))
    ids = [e.ids for e in tokenizer.encode_batch(list(train_rows["review"]))]
    counts = Counter(i for row in ids for i in row if i != 0)
    top = [(tokenizer.id_to_token(i), n) for i, n in counts.most_common(6) if i != 1][:5]
    assert [(t["token"], t["count"]) for t in text["top"][:5]] == top
    assert text["vocab_size"] == tokenizer.get_vocab_size() == entry["vocab_size"]
    tokenizer.no_truncation()
    tokenizer.no_padding()
    lengths = [len(e.ids) for e in tokenizer.encode_batch(list(train_rows["review"]))]
    assert text["truncated"] == sum(n > text["length"] for n in lengths) > 0
    # samples: training texts with their labels, as the model reads them (lower case)
    classes = {s["label"] for s in text["samples"]}
    assert classes == {"great", "other"}
    first = text["samples"][0]
    assert first["label"] == train_rows["score"].iloc[first["id"]]
    assert first["text"].split()[:3] == [tokenizer.id_to_token(i) for i in ids[first["id"]][:3]]

    # the worst mistakes: the test reviews as written, lowest probability of the true class first
    assert mistakes["kind"] == "texts" and mistakes["as_written"]
    proba = offline_proba(text_run)
    classes = list(json.loads((text_run / "model.json").read_text())["class_names"])
    truth = [classes.index(s) for s in test_rows["score"]]
    p_true = proba[np.arange(len(truth)), truth]
    items = mistakes["items"]
    assert [m["id"] for m in items] == list(np.argsort(p_true, kind="stable")[:len(items)])
    for m in items:
        review = test_rows["review"].iloc[m["id"]]
        assert m["text"] == " ".join(review.split())[:len(m["text"]) - 1] + "…" \
            if m["text"].endswith("…") else m["text"] == " ".join(review.split())
        assert m["p_true"] == pytest.approx(p_true[m["id"]], abs=1e-6)
        assert m["true"] == test_rows["score"].iloc[m["id"]]

    from markupsafe import escape

    html = render(ctx)
    assert str(escape(items[0]["text"])) in html
    assert f"{text['truncated']} of {text['texts']} training texts were cut" in html


def test_report_of_a_text_run_in_chromium(browser, text_run, report_context, tmp_path):
    from test_report_browser import open_report

    from deepstart.report import render

    page_file = tmp_path / "report.html"  # what `deepstart report` writes, from the same context
    page_file.write_text(render(report_context), encoding="utf-8")
    page, errors, requests = open_report(browser, page_file)
    try:
        assert errors == [] and requests == []
        entry = entry_of(text_run)
        assert page.inner_text("#vocab-size").startswith(f"{entry['vocab_size']:,} tokens")
        assert page.inner_text("#text-length").startswith(f"{entry['length']} tokens")
        assert page.locator("#mistake-texts tr").count() == 1 + 12
        assert page.locator("#top-tokens code").count() >= 20
        # a long review wraps inside the page rather than widening it
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    finally:
        page.close()


# --- serve ----------------------------------------------------------------------------------------

def test_serve_takes_a_text_and_answers_as_the_model_offline(text_run, frame):
    from fastapi.testclient import TestClient

    from deepstart.serve import create_app

    client = TestClient(create_app(text_run))
    _, test_rows = split_rows(frame)
    reviews = list(test_rows["review"])
    proba = offline_proba(text_run)
    schema = client.get("/schema").json()
    assert schema["input"]["kind"] == "text"
    assert schema["input"]["features"] == [{"name": "review", "type": "text", "nullable": True,
                                            "length": entry_of(text_run)["length"]}]
    one = client.post("/predict", json={"text": reviews[0]}).json()
    assert one["probabilities"]["great"] == pytest.approx(proba[0, 0], abs=1e-6)
    many = client.post("/predict", json={"rows": [{"review": r, "product": "x"}
                                                   for r in reviews]}).json()["predictions"]
    assert np.allclose([p["probabilities"]["other"] for p in many], proba[:, 1], atol=1e-6)
    # a text longer than the model reads is cut, as in training, and said
    long = client.post("/predict", json={"text": reviews[0] + " good" * 600}).json()
    assert any("the model reads the first" in w for w in long["warnings"])
    for body, status, words in (({"text": 5}, 422, "text: expected the text (a string)"),
                                ({"features": {"review": ["a"]}}, 422, "features.review: expected a text"),
                                ({"txt": "a"}, 422, 'takes "text" or "features" or "rows"')):
        answer = client.post("/predict", json=body)
        assert answer.status_code == status and words in answer.json()["detail"]
    request = client.get("/openapi.json").json()["paths"]["/predict"]["post"]["requestBody"]
    variants = request["content"]["application/json"]["schema"]["oneOf"]
    assert variants[0]["required"] == ["text"]


def test_serve_page_predicts_a_typed_review(browser, text_run):
    from test_serve_browser import page_of, running, shown_bars

    review = "Terrible. The coffee tasted burnt and stale, and half the bag was spilled."
    with running(text_run) as url, page_of(browser, url) as (page, errors, outside, sent):
        box = page.locator("textarea#f0")
        assert "270" in box.get_attribute("placeholder") or "tokens" in box.get_attribute("placeholder")
        box.fill(review)
        page.click("button.primary")
        page.wait_for_selector("#bars .bar")
        page.wait_for_load_state("networkidle")
        assert json.loads(sent[-1]) == {"text": review}
        import httpx

        answer = httpx.post(url + "/predict", json={"text": review}).json()
        assert page.inner_text("#predicted") == answer["predicted"]
        bars = shown_bars(page)
        assert bars[answer["predicted"]] == pytest.approx(answer["probabilities"][answer["predicted"]],
                                                          abs=0.02)
        assert errors == [] and outside == []


def test_serve_takes_a_mixed_table_by_column_name(mixed_run, frame):
    from fastapi.testclient import TestClient

    from deepstart.serve import create_app

    run, _ = mixed_run
    client = TestClient(create_app(run))
    fields = client.get("/schema").json()["input"]
    assert fields["kind"] == "table"
    assert [(f["name"], f["type"]) for f in fields["features"]] == [("chars", "number"),
                                                                     ("review", "text")]
    _, test_rows = split_rows(frame)
    rows = [{"review": r, "chars": len(r)} for r in test_rows["review"]]
    answer = client.post("/predict", json={"rows": rows}).json()["predictions"]
    assert np.allclose([p["probabilities"]["great"] for p in answer], offline_proba(run)[:, 0],
                       atol=1e-6)
    refused = client.post("/predict", json={"text": "good"})
    assert refused.status_code == 422 and '"features" or "rows"' in refused.json()["detail"]


# --- export ---------------------------------------------------------------------------------------

def test_export_takes_token_ids_and_the_snippet_goes_from_text_to_label(text_run, frame, capsys):
    from test_export import snippet

    # --input: new rows by column name (here the test rows, copied from the CSV with their target)
    _, test_rows = split_rows(frame)
    new_rows = text_run.parent / "new.csv"
    test_rows.to_csv(new_rows, index=False)
    assert main(["export", str(text_run), "--input", str(new_rows)]) == 0
    out = capsys.readouterr().out
    given = pd.read_csv(text_run / "predictions-new.csv")
    scored = pd.read_csv(text_run / "predictions.csv")
    assert list(given["predicted"]) == list(scored["predicted"])
    assert list(given["true"]) == list(test_rows["score"])
    metrics = json.loads((text_run / "metrics.json").read_text())
    metric = metrics["metric"]
    assert "raw inputs input_ids;" in out
    assert f"{metric} from onnxruntime's outputs {metrics['test'][metric]:.4f} (metrics.json: " \
           f"{metrics['test'][metric]:.4f})" in out
    import onnx

    graph = onnx.load(str(text_run / "model.onnx")).graph
    ids = graph.input[0]
    assert ids.name == "input_ids" and ids.type.tensor_type.elem_type == onnx.TensorProto.INT64
    assert [d.dim_param or d.dim_value for d in ids.type.tensor_type.shape.dim] == [
        "batch", entry_of(text_run)["length"]]

    # docs/export.md's five lines on a real test review: the text -> tokenizer.json -> ids (the
    # run's own ids for that review) -> onnxruntime -> the run's label and probabilities
    i = 3
    done = snippet("A text", {"runs/2026-12-02-fine-foods-bag-1": str(text_run),
                              '"Great coffee, I would buy it again."':
                                  json.dumps(test_rows["review"].iloc[i])})
    from deepstart.record import load_data, read_run

    _, data = load_data(read_run(text_run))
    length = entry_of(text_run)["length"]
    assert done["ids"].tolist() == [np.asarray(data.x_test[i])[-length:].astype(int).tolist()]
    proba = offline_proba(text_run)[i]
    classes = json.loads((text_run / "model.json").read_text())["class_names"]
    assert done["label"].tolist() == [classes[int(np.argmax(proba))]]
    assert done["probabilities"][0] == pytest.approx(proba, abs=1e-5)


def test_export_graph_of_a_mixed_table_and_a_tokenizer_that_differs(mixed_run, tmp_path):
    """The graph's front for a mixed table (the number, then the token ids; torch only here: the
    ONNX conversion of the same module is checked on the text run above) gives the run's outputs
    on the raw test rows; a tokenizer that no longer gives the run's ids is refused before anything
    is written."""
    import torch

    from deepstart.export import ExportCheckFailed, _graph_module, export_run, raw_test_inputs
    from deepstart.record import load_data, load_trained_model, model_outputs, read_run

    run, _ = mixed_run
    record = read_run(run)
    model, spec = load_trained_model(record)
    raw, data = load_data(record)
    layout, feeds = raw_test_inputs(spec, raw, data)
    assert [(item["name"], item["kind"], item["dtype"]) for item in layout] == [
        ("chars", "number", "float32"), ("input_ids", "tokens", "int64")]
    graph = _graph_module(model, spec, layout)
    with torch.inference_mode():
        _, proba = graph(*(torch.from_numpy(feeds[item["name"]]) for item in layout))
    want = model_outputs(model, spec, data.x_test, data.y_test, data.scaling).proba
    assert np.abs(proba.numpy() - want).max() < 1e-6

    copy = tmp_path / run.name
    shutil.copytree(run, copy)
    spec = json.loads((copy / "model.json").read_text())
    entry = next(e for e in spec["columns"] if e["kind"] == "text")
    vocab = entry["tokenizer"]["model"]["vocab"]
    a, b = sorted(vocab, key=vocab.get)[2:4]  # two words swap their ids
    vocab[a], vocab[b] = vocab[b], vocab[a]
    (copy / "model.json").write_text(json.dumps(spec))
    with pytest.raises(ExportCheckFailed, match="into other token ids than the run's"):
        export_run(copy)
    assert not any((copy / n).exists() for n in ("model.onnx", "tokenizer.json", "predictions.csv"))


# --- diagnose and tune ------------------------------------------------------------------------------

def test_diagnose_suggests_real_commands_with_the_runs_configuration(text_run):
    from deepstart.cli import _config, build_parser
    from deepstart.diagnose import diagnose, facts_from_folder

    facts = facts_from_folder(text_run)
    assert facts.kind == "text"
    steps = diagnose(facts).steps
    runs = [s for s in steps if s.command and s.command.startswith("deepstart run ")]
    assert runs
    recorded = json.loads((text_run / "config.json").read_text())
    for step in runs:
        words = shlex.split(step.command)
        assert "mlp" not in words  # mlp cannot read text
        args = build_parser().parse_args(words[1:])
        args.argv = words[1:]
        config = dataclasses.asdict(_config(args))
        changed = {k for k in config if config[k] != recorded.get(k)} - {"command"}
        want = set(step.changes) - {"model"}
        if "model" in step.changes:
            assert config["model"] == step.changes["model"]
            continue  # another family starts from its recipe
        options = {k for k in step.changes if k not in config}
        assert changed == (want - options) | ({"model_options"} if options else set()), step.command
        for k in options:
            assert config["model_options"][k] == step.changes[k]


def test_tune_searches_the_bag_options_and_each_sample_builds(text_run):
    optuna = pytest.importorskip("optuna")
    from deepstart.models import build_model, model_names
    from deepstart.run import RunConfig
    from deepstart.tune import searched, suggest

    if "bag" not in model_names():
        pytest.skip("the zoo has no bag yet (branch textmodels)")
    assert searched("bag") == ["lr", "batch_size", "weight_decay", "schedule", "dim", "hidden",
                               "dropout"]
    spec = json.loads((text_run / "model.json").read_text())
    from deepstart.text import text_layout

    layout = text_layout(spec)
    base = RunConfig(problem="reviews.csv", model="bag")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(6):
        trial = study.ask()
        config = suggest(trial, base)
        options = config.model_options
        assert options["dim"] in (16, 32, 64, 128) and options["hidden"] in (0, 64)
        assert 0 <= options["dropout"] <= 0.5
        model = build_model("bag", tuple(spec["input_shape"]), 1, "binary", text=layout, **options)
        assert model.config.dim == options["dim"]
        seen.add(options["dim"])
        study.tell(trial, 0.5)
    assert len(seen) > 1
