"""Understanding a model: the summary table and the drawing of small networks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from conftest import require_path
from deepstart.errors import DeepstartError
from deepstart.models import build_model
from deepstart.summary import draw_graph, draw_network, layer_graph, neuron_figure, summary


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


def test_show_model_command(tmp_path, capsys):
    from deepstart.cli import main

    assert main(["show", "model", "perceptron", "--problem", "or-gate", "--activation", "step",
                 "--draw", str(tmp_path / "p.png")]) == 0
    out = capsys.readouterr().out
    assert "BinaryStep" in out and "3 parameters" in out
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["show", "model", "mlp", "--style", "neurons", "--draw",
                 str(tmp_path / "big.png")]) == 2
    assert "too wide to draw" in capsys.readouterr().err
    assert not (tmp_path / "big.png").exists()


# --- the layer graph -----------------------------------------------------------------------------

@pytest.fixture
def dot():
    return require_path(shutil.which("dot") or "/usr/bin/dot",
                        "apt-get install graphviz (Graphviz's dot lays out the layer graph)")


def _svg_graph(path):
    """(each node's text, edges as (source, target, label)) of a Graphviz SVG."""
    ns = {"s": "http://www.w3.org/2000/svg"}
    nodes, edges = {}, []
    for g in ET.parse(path).getroot().iter("{http://www.w3.org/2000/svg}g"):
        title = g.find("s:title", ns)
        texts = " ".join((t.text or "").strip() for t in g.findall("s:text", ns))
        if g.get("class") == "node":
            nodes[title.text] = texts
        elif g.get("class") == "edge":
            source, target = title.text.split("->")
            edges.append((source, target, texts))
    return nodes, edges


def _ins(edges, node):
    return [(s, label) for s, t, label in edges if t == node]


def _outs(edges, node):
    return [(t, label) for s, t, label in edges if s == node]


def _start(edges, node):
    """Up a chain of boxes with one way in and one way out, to where it forks off."""
    while len(_ins(edges, node)) == 1 and len(_outs(edges, _ins(edges, node)[0][0])) == 1:
        node = _ins(edges, node)[0][0]
    return _ins(edges, node)[0][0]


def test_googlenet_graph_has_inception_branches_that_join(tmp_path, dot):
    model = build_model("googlenet", (1, 28, 28), 10, "multiclass")  # the paper's widths
    graph, _ = draw_graph(model, (1, 28, 28), tmp_path / "g.svg")
    assert graph.traced_by == "torch.fx"
    nodes, edges = _svg_graph(tmp_path / "g.svg")
    joins = [n for n, text in nodes.items() if "cat" in text.split()]
    assert len(joins) == 9  # inception 3a-5b
    for join in joins:
        branches = _ins(edges, join)
        assert len(branches) == 4
        forks = {_start(edges, s) for s, _ in branches}  # all four start at the block's input
        assert len(forks) == 1 and len(_outs(edges, forks.pop())) == 4, nodes[join]
    first = next(n for n in joins if "blocks.3a" in nodes[n])
    # Table 1, module 3a: 64 + 128 + 32 + 32 filters on the 28x28 map, 256 out
    assert sorted(label for _, label in _ins(edges, first)) == sorted(
        ["64×28×28", "128×28×28", "32×28×28", "32×28×28"])
    assert {label for _, label in _outs(edges, first)} == {"256×28×28"}
    last = next(n for n in joins if "blocks.5b" in nodes[n])
    assert {label for _, label in _outs(edges, last)} == {"1024×7×7"}
    output = next(n for n, text in nodes.items() if text == "output")
    assert [label for _, label in _ins(edges, output)] == ["10"]


def test_resnet20_graph_has_skip_edges_and_fits_a_page(tmp_path, dot):
    model = build_model("resnet", (3, 32, 32), 10, "multiclass")
    graph, sizing = draw_graph(model, (3, 32, 32), tmp_path / "r.svg")
    nodes, edges = _svg_graph(tmp_path / "r.svg")
    adds = [n for n, text in nodes.items() if "add" in text.split()]
    assert len(adds) == 9
    identity = projection = 0
    for add in adds:
        (a, label_a), (b, label_b) = _ins(edges, add)
        assert label_a == label_b  # the two summands have one shape
        before_a, before_b = ([s for s, _ in _ins(edges, x)] for x in (a, b))
        if before_a == [b] or before_b == [a]:
            identity += 1  # a skip edge: the block's input goes straight to the sum
        else:
            assert before_a == before_b  # a 1x1 strided projection beside the body
            assert any("Conv2d 1×1 /2" in nodes[x] for x in (a, b))
            projection += 1
    assert (identity, projection) == (7, 2)
    assert {"3×32×32", "16×32×32", "32×16×16", "64×8×8", "10"} <= {label for *_, label in edges}
    assert len(nodes) == len(graph.nodes) <= 26  # containers merged: 24 boxes, not 70
    root = ET.parse(tmp_path / "r.svg").getroot()
    width, height = (float(root.get(k).removesuffix("pt")) / 72 for k in ("width", "height"))
    assert width <= 7.6 and height <= 10.9, sizing  # an A4 page less margins, in inches
    # --depth 2: each block one box
    shallow = layer_graph(model, (3, 32, 32), depth=2)
    assert sum(op.kind == "BasicBlock" for chain in shallow.nodes for op in chain) == 9
    assert not any(op.kind == "add" for chain in shallow.nodes for op in chain)


CUSTOM = '''
import torch
from torch import nn


class TwoPaths(nn.Module):
    """A user's own model: two branches joined by a sum, then a skip around a layer."""

    def __init__(self, in_shape=(1, 8, 8), n_outputs=10):
        super().__init__()
        self.wide = nn.Sequential(nn.Conv2d(in_shape[0], 6, 3, padding=1), nn.ReLU())
        self.narrow = nn.Conv2d(in_shape[0], 6, 1)
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.fc = nn.Linear(24, 24)
        self.out = nn.Linear(24, n_outputs)

    def forward(self, x):
        h = self.pool(self.wide(x) + self.narrow(x)).flatten(1)
        if CONDITION:
            h = h + torch.relu(self.fc(h))
        return self.out(h)
'''


@pytest.mark.parametrize("condition, traced_by", [
    ("True", "torch.fx"),
    ("bool(x.abs().sum() >= 0)", "one recorded forward pass"),  # control flow on a value
])
def test_a_custom_module_in_a_file_draws(tmp_path, dot, condition, traced_by):
    import importlib.util

    (tmp_path / "mynet.py").write_text(CUSTOM.replace("CONDITION", condition))
    spec = importlib.util.spec_from_file_location("mynet_drawn", tmp_path / "mynet.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    graph, _ = draw_graph(module.TwoPaths(), (1, 8, 8), tmp_path / "mine.svg")
    assert graph.traced_by == traced_by
    nodes, edges = _svg_graph(tmp_path / "mine.svg")
    joins = [n for n in nodes if len(_ins(edges, n)) == 2]
    assert len(joins) == 2  # the branches' sum, and the sum of the skip
    branches, skip = sorted(joins, key=lambda n: "24" in {label for _, label in _ins(edges, n)})
    assert [label for _, label in _ins(edges, branches)] == ["6×8×8", "6×8×8"]
    assert _start(edges, _ins(edges, branches)[0][0]) == _start(edges, _ins(edges, branches)[1][0])
    (a, _), (b, _) = _ins(edges, skip)
    assert [label for _, label in _ins(edges, skip)] == ["24", "24"]
    assert a in [s for s, _ in _ins(edges, b)] or b in [s for s, _ in _ins(edges, a)]
    output = next(n for n, text in nodes.items() if text == "output")
    assert [label for _, label in _ins(edges, output)] == ["10"]


def test_graph_as_dot_text_and_png(tmp_path, dot):
    model = build_model("convnet", (1, 8, 8), 10, "multiclass")
    draw_graph(model, (1, 8, 8), tmp_path / "c.dot")
    text = (tmp_path / "c.dot").read_text()
    assert text.startswith("digraph model {") and '"1×8×8"' in text.replace('" ', '"')
    draw_graph(model, (1, 8, 8), tmp_path / "c.png")
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(DeepstartError, match=r"use a \.png, \.svg, \.pdf or \.dot"):
        draw_graph(model, (1, 8, 8), tmp_path / "c.jpg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.dot", "c.png"]


def test_show_model_draws_a_graph_and_names_graphviz_when_missing(tmp_path, dot):
    args = [sys.executable, "-m", "deepstart", "show", "model", "convnet", "--problem", "digits",
            "--draw"]
    out = subprocess.run([*args, str(tmp_path / "g.svg")], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "traced by one recorded forward pass" in out.stdout  # the zoo's convnet defeats fx
    nodes, edges = _svg_graph(tmp_path / "g.svg")
    assert [label for s, _, label in edges if nodes[s] == "input"] == ["1×8×8"]  # digits: 8x8
    empty = tmp_path / "bin"
    empty.mkdir()  # a PATH without dot
    gone = subprocess.run([*args, str(tmp_path / "none.png")], capture_output=True, text=True,
                          timeout=120, env=os.environ | {"PATH": str(empty)})
    assert gone.returncode == 2 and "Traceback" not in gone.stderr
    assert "apt-get install graphviz" in gone.stderr and len(gone.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "none.png").exists()


# --- the neuron drawing: a legend, labels clear of the connections ------------------------------

def _crosses(segment, box, steps=200):
    (x0, y0), (x1, y1) = segment
    return any(box.contains(x0 + (x1 - x0) * t / steps, y0 + (y1 - y0) * t / steps)
               for t in range(steps + 1))


def test_neuron_drawing_has_a_legend_and_labels_clear_of_the_edges():
    import matplotlib.pyplot as plt
    import torch

    torch.manual_seed(0)  # weights of both signs
    # 8 units into 1: where a caption above the narrow column sat on the connections
    model = build_model("mlp", (3,), 1, "binary", hidden=[8], activation="tanh")
    fig = neuron_figure(model, ("sepal length (cm)", "x2", "x3"))
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        ax, legend = fig.axes[0], fig.legends[0]
        assert [t.get_text() for t in legend.get_texts()] == [
            "positive weight", "negative weight", "thicker: larger |weight|"]
        assert len(ax.lines) == 3 * 8 + 8 * 1
        assert {line.get_color() for line in ax.lines} == {"tab:blue", "tab:red"}
        assert len(ax.texts) == 3 + 3  # three input names, three captions
        boxes = [t.get_window_extent(renderer) for t in ax.texts]
        boxes.append(legend.get_window_extent(renderer))
        for line in ax.lines:
            segment = ax.transData.transform(line.get_xydata())
            for box in boxes:
                assert not _crosses(segment, box), (line.get_xydata().tolist(), box)
        for i, a in enumerate(boxes):  # and no label on another
            assert not any(a.overlaps(b) for b in boxes[i + 1:])
    finally:
        plt.close(fig)


SKIP_NET = '''
import math

import torch
from torch import nn


class SkipNet(nn.Module):
    def __init__(self, in_shape, n_outputs, width=8):
        super().__init__()
        self.fc1 = nn.Linear(math.prod(in_shape), width)
        self.fc2 = nn.Linear(width, width)
        self.out = nn.Linear(width, n_outputs)

    def forward(self, x):
        h = torch.relu(self.fc1(x.flatten(1)))
        return self.out(h + torch.relu(self.fc2(h)))
'''


def test_show_model_draws_a_users_class_and_its_trained_run(tmp_path, dot, monkeypatch, capsys):
    from deepstart.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DEEPSTART_HOME", str(tmp_path / "home"))
    (tmp_path / "skipnet.py").write_text(SKIP_NET)
    assert main(["show", "model", "skipnet.py:SkipNet", "--problem", "digits", "--option",
                 "width=12", "--draw", "mine.svg"]) == 0
    assert "traced by torch.fx" in capsys.readouterr().out
    nodes, edges = _svg_graph(tmp_path / "mine.svg")
    join = next(n for n in nodes if len(_ins(edges, n)) == 2)
    (a, _), (b, _) = _ins(edges, join)
    assert a in [s for s, _ in _ins(edges, b)] or b in [s for s, _ in _ins(edges, a)]  # the skip
    assert [label for _, label in _ins(edges, join)] == ["12", "12"]
    assert [label for s, _, label in edges if nodes[s] == "input"] == ["1×8×8"]
    # trained, from its run folder: model.json names the class, load_model imports it again
    assert main(["run", "digits", "--model", "skipnet.py:SkipNet", "--epochs", "1", "--quiet",
                 "--out", "runs"]) == 0
    run = next((tmp_path / "runs").iterdir())
    assert main(["show", "model", str(run), "--draw", "trained.svg"]) == 0
    trained, trained_edges = _svg_graph(tmp_path / "trained.svg")
    assert sorted(nodes.values()) == sorted(trained.values())
    assert sorted(label for *_, label in trained_edges) == sorted(
        label.replace("12", "8") for *_, label in edges)  # the run's default width, 8
