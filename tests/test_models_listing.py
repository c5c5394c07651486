"""`deepstart models`: the zoo listed from the code (configs, build_model, the catalog's recipes and
docs/recipes.json's measurements), checked against the real models and the real problems."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest
import torch

from deepstart.cli import main
from deepstart.errors import DeepstartError
from deepstart.models import FAMILIES, build_model
from deepstart.models import listing
from deepstart.pretrained import BACKBONES, is_pretrained
from deepstart.problems import get_problem

from conftest import require_path


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    """Rows on one line each (a pipe's console is 120 columns, which folds the cells)."""
    from deepstart.console import console

    monkeypatch.setattr(console, "width", 400)


def installed(name: str) -> bool:
    from importlib.util import find_spec

    return find_spec(BACKBONES[name].module) is not None


def real_parameters(name, shape, n_outputs, task, options=None, text=None) -> int:
    if is_pretrained(name):  # the count, not the weights (lite1/lite2 are not installed here)
        options = {"pretrained": False} | (options or {})
    return sum(p.numel() for p in build_model(name, shape, n_outputs, task, text=text,
                                              **(options or {})).parameters())


def test_reference_inputs_are_what_prepare_makes_of_each_problem():
    from deepstart.prepare import prepare

    for name, (shape, n_outputs, task, _) in listing.REFERENCE_INPUTS.items():
        problem = get_problem(name)
        if not problem.available_offline():
            require_path(f"~/.cache/deepstart/{name}", problem.get_hint)
        data = prepare(problem.load(download=False), problem, val_split=0.0,
                       lookback=13 if problem.kind == "series" else None)
        assert (tuple(data.input_shape), data.n_outputs, data.task) == (shape, n_outputs, task), name
        assert data.text == listing.REFERENCE_TEXT.get(name), name


def test_every_family_is_listed_with_its_real_parameter_count(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in FAMILIES:
        ref = listing.reference(name)
        shape, n_outputs, task, _ = listing.REFERENCE_INPUTS[ref]
        # counted on the meta device by the listing; here on real tensors
        count = real_parameters(name, shape, n_outputs, task, text=listing.reference_text(name, ref))
        assert f"{count:,} ({ref})" in out, name
        assert listing.DESCRIPTIONS[name][:20] in out
    assert "269,322 (fashion-mnist)" in out  # the articles' MLP 256-256 on 784 pixels
    assert "1x28x28 images, 10 classes" in out  # the reference inputs are stated


def test_a_family_reference_is_its_first_recipes_problem():
    assert listing.reference("convnet") == "fashion-mnist"
    assert listing.reference("linear") == "airline-passengers"
    assert listing.reference("logistic") == "iris"  # no recipe: the stated fallback


def test_kinds_are_the_ones_build_model_accepts():
    assert listing.kinds("convnet") == ["images"]
    assert listing.kinds("mlp") == ["tables", "images (flattened)", "series"]
    assert listing.kinds("lstm") == ["tables (columns as steps)", "series", "text"]
    assert listing.kinds("linear") == ["tables", "series"]
    assert listing.kinds("transformer") == ["tables", "images", "series", "text"]
    assert listing.kinds("bag") == ["text"]
    with pytest.raises(DeepstartError, match="is for images"):
        build_model("convnet", (4,), 3, "multiclass")
    with pytest.raises(DeepstartError, match="does not fit a multiclass"):
        build_model("linear", (1, 8, 8), 10, "multiclass")


def test_recipes_are_listed_with_the_measured_scores_of_docs_recipes_json(capsys):
    store = json.loads(listing.MEASURED.read_text())
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    cpu = store["fashion-mnist/convnet"]["CPU AMD EPYC, 2 threads"]["score"]
    gpu = store["fashion-mnist/resnet"]["GPU NVIDIA H100 80GB HBM3 (recipe sweep)"]["score"]
    assert f"{cpu:.4g}" in out and f"{gpu:.4g}" in out
    assert "≤ 42.3 rmse" in out  # airline's linear recipe: lower is better
    assert "the default model of cifar10" in out  # resnet: `deepstart run cifar10`


def test_without_measurements_the_listing_says_so(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(listing, "MEASURED", tmp_path / "missing.json")
    assert main(["models"]) == 0
    assert "is not in this installation" in capsys.readouterr().out
    (tmp_path / "empty.json").write_text('{"fashion-mnist/resnet": {"CPU": {"score": "?"}}}')
    monkeypatch.setattr(listing, "MEASURED", tmp_path / "empty.json")
    assert main(["models", "googlenet"]) == 0
    assert "measured not yet (python benchmarks/recipes.py --only fashion-mnist/googlenet)" in \
        " ".join(capsys.readouterr().out.split())
    assert main(["models"]) == 0  # a row without a score (a hand-edited file) is left out
    assert "fashion-mnist ≥ 0.94 accuracy: not measured yet" in capsys.readouterr().out


def test_every_config_field_has_a_meaning_beside_it():
    for name, (_, config_cls, _) in FAMILIES.items():
        helps = listing.field_help(config_cls)
        for f in dataclasses.fields(config_cls):
            assert helps.get(f.name), f"{config_cls.__name__}.{f.name} has no comment beside it"
    from deepstart.models.convnet import ConvNetConfig
    from deepstart.models.resnet import ResNetConfig

    assert listing.field_help(ResNetConfig)["width"] == "multiplies 16, 32, 64"
    head = listing.field_help(ConvNetConfig)["head"]  # three comment lines above the field
    assert head.startswith('"gap": global average pooling') and head.endswith("clothes reward")


def test_the_data_fills_exactly_the_fields_build_model_refuses_as_options():
    for name in FAMILIES:
        ref = listing.reference(name)
        shape, n_outputs, task, _ = listing.REFERENCE_INPUTS[ref]
        text = listing.reference_text(name, ref)
        for f in listing.options(name):
            if f["from_data"]:
                with pytest.raises(DeepstartError, match=f"has no option {f['name']}"):
                    build_model(name, shape, n_outputs, task, text=text, **{f["name"]: f["value"]})
            else:  # an option: its default is accepted as given
                options = {f["name"]: f["default"]}
                if is_pretrained(name):  # the weights are not what is checked here
                    options = {"pretrained": False} | options
                if options.get("pretrained") and not installed(name):
                    with pytest.raises(DeepstartError, match="needs its pretrained weights"):
                        build_model(name, shape, n_outputs, task, text=text, **options)
                    continue
                with torch.device("meta"):
                    build_model(name, shape, n_outputs, task, text=text, **options)


def test_one_family_shows_its_options_and_recipes(capsys):
    assert main(["models", "convnet"]) == 0
    out = capsys.readouterr().out
    flat = " ".join(out.split())
    assert "│ widths │ list[int] │ [32, 64, 128] │ filters of each stage" in flat
    assert "│ dropout │ float │ 0.25 │ rate of the dropout in the head" in flat
    assert "filled in from the data" in out and "│ image_size │ list[int] | None │ [28, 28]" in flat
    assert "94,186 at the defaults, on fashion-mnist (1x28x28 images, 10 classes)" in flat
    recipe = get_problem("fashion-mnist").recipe_for("convnet")
    options = {k: v for k, v in recipe.items() if k in ("widths", "downsample", "head")}
    assert f"parameters {real_parameters('convnet', (1, 28, 28), 10, 'multiclass', options):,}" in flat
    assert "recipe deepstart run fashion-mnist --model convnet (target ≥ 0.93 accuracy)" in flat
    assert "0.9326 accuracy on CPU AMD EPYC, 2 threads" in flat and "meets the target" in flat
    assert "searches lr, batch_size, weight_decay, schedule, width, dropout" in flat

    assert main(["models", "mlp"]) == 0
    flat = " ".join(capsys.readouterr().out.split())
    assert "recipe deepstart run digits --model mlp (target ≥ 0.97 accuracy)" in flat
    assert "measured 0.9756 accuracy on CPU" in flat  # the report's digits, not .4g's 0.9756/1
    assert "measured 1.0000 accuracy on CPU" in flat and "short of the target" in flat  # mnist1d
    assert "the default model of: xor, digits" in flat


def test_an_unknown_family_is_one_line_with_the_known_ones():
    result = subprocess.run([sys.executable, "-m", "deepstart.cli", "models", "resnt"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown model 'resnt'; did you mean 'resnet'?" in lines[0]
    assert "Known: bag, convnet, efficientnet-lite0" in lines[0] and not result.stdout


def test_help_lists_models_without_importing_torch():
    code = ("import sys; from deepstart.cli import main\n"
            "try: main(['--help'])\nexcept SystemExit: pass\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip().endswith("False") and "models" in out.stdout


def test_a_field_the_data_fills_given_as_an_option_is_one_line(tmp_path):
    """It was a TypeError traceback: build_model got input_shape twice."""
    result = subprocess.run([sys.executable, "-m", "deepstart.cli", "run", "digits", "--model",
                             "transformer", "--option", "input_shape=[1,8,8]", "--out",
                             str(tmp_path / "runs")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == ("deepstart: error: model 'transformer' has no option "
                                     "input_shape; its options are: depth, dim, dropout, heads, "
                                     "mlp_ratio, patch_size, pooling, positional.")
    assert not (tmp_path / "runs").exists()


def test_a_class_of_your_own_shows_its_arguments_and_search_space(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.py").write_text(
        "from torch import nn\n\n\n"
        "class Net(nn.Module):\n"
        '    """Two layers, as the paper draws them."""\n\n'
        '    SEARCH_SPACE = {"width": [8, 16], "decay": {"low": 1e-4, "high": 1e-1, "log": True}}\n\n'
        "    def __init__(self, in_shape, n_outputs, width=8, decay=0.01):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(in_shape[0], n_outputs)\n\n"
        "    def forward(self, x):\n"
        "        return self.fc(x)\n")
    assert main(["models", "net.py:Net"]) == 0
    flat = " ".join(capsys.readouterr().out.split())
    assert "Net (net.py:Net): your own class: Two layers, as the paper draws them." in flat
    assert "│ in_shape │ required │ deepstart, from the data │" in flat
    assert "│ width │ 8 │ you (--option) │" in flat
    assert "│ width │ 8, 16 │" in flat and "│ decay │ float 0.0001 to 0.1, log scale │" in flat
    assert "which runs your own code" in flat
    result = subprocess.run([sys.executable, "-m", "deepstart.cli", "models", "missing.py:Net"],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "missing.py does not exist" in result.stderr
