"""Understanding a model: the summary table and the drawing of small networks."""

from __future__ import annotations

import subprocess
import sys

import pytest

from deepstart.errors import DeepstartError
from deepstart.models import build_model
from deepstart.summary import draw_network, summary


def test_summary_shapes_and_parameters_of_the_articles_mlp():
    model = build_model("mlp", (1, 28, 28), 10, "multiclass")
    rows = summary(model, (1, 28, 28))
    assert [(r.kind, r.output_shape, r.parameters) for r in rows] == [
        ("Flatten", (784,), 0), ("Linear", (256,), 784 * 256 + 256), ("ReLU", (256,), 0),
        ("Linear", (256,), 256 * 256 + 256), ("ReLU", (256,), 0), ("Linear", (10,), 2570)]
    assert sum(r.parameters for r in rows) == sum(p.numel() for p in model.parameters())


def test_summary_of_a_convnet_follows_the_pooling():
    rows = summary(build_model("convnet", (1, 28, 28), 10, "multiclass"), (1, 28, 28))
    convs = [r.output_shape for r in rows if r.kind == "Conv2d"]
    assert convs == [(32, 28, 28), (64, 14, 14), (128, 7, 7)]
    assert rows[-1].output_shape == (10,)


def test_drawing_a_small_network(tmp_path):
    model = build_model("mlp", (3,), 1, "binary", hidden=[4], activation="tanh")
    path = draw_network(model, tmp_path / "net.png", ("x1", "x2", "x3"))
    import matplotlib.image

    assert matplotlib.image.imread(path).ndim == 3
    svg = draw_network(model, tmp_path / "net.svg").read_text()
    # 3x4 + 4x1 connections, 3 + 4 + 1 units
    assert svg.count("<path") >= 16 + 8


@pytest.mark.parametrize("model, message", [
    (build_model("mlp", (784,), 10, "multiclass"), "too wide to draw"),
    (build_model("convnet", (1, 8, 8), 10, "multiclass"), "only networks of linear layers"),
])
def test_what_cannot_be_drawn_says_so(tmp_path, model, message):
    with pytest.raises(DeepstartError, match=message):
        draw_network(model, tmp_path / "x.png")
    assert not list(tmp_path.iterdir())


def test_show_model_command(tmp_path):
    out = subprocess.run([sys.executable, "-m", "deepstart", "show", "model", "perceptron",
                          "--problem", "or-gate", "--activation", "step", "--draw",
                          str(tmp_path / "p.png")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "BinaryStep" in out.stdout and "3 parameters" in out.stdout
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    bad = subprocess.run([sys.executable, "-m", "deepstart", "show", "model", "mlp", "--draw",
                          str(tmp_path / "big.png")], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "too wide to draw" in bad.stderr
    assert not (tmp_path / "big.png").exists()
