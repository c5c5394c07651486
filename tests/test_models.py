"""The first part of the zoo: shapes, the perceptron's update checked by hand, activations, and
saving/loading a model folder without pickle."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch

from deepstart.errors import DeepstartError
from deepstart.models import build_model, load_model, model_names, save_model
from deepstart.models.activations import ACTIVATIONS, activation
from deepstart.models.linear import Perceptron, PerceptronConfig


def test_zoo_names():
    assert model_names() == ["bag", "convnet", "efficientnet-lite0", "efficientnet-lite1",
                             "efficientnet-lite2", "googlenet", "gru", "linear", "logistic", "lstm",
                             "minilm", "mlp", "perceptron", "resnet", "transformer"]


def test_mlp_layers_follow_the_config():
    model = build_model("mlp", (1, 28, 28), 10, "multiclass", hidden=[256, 256], dropout=0.2,
                        batch_norm=True)
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(784, 256), (256, 256), (256, 10)]
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in model.modules()) == 2
    assert sum(isinstance(m, torch.nn.Dropout) for m in model.modules()) == 2
    assert model(torch.zeros(5, 1, 28, 28)).shape == (5, 10)
    # the articles' MLP 256-256: 784*256+256 + 256*256+256 + 256*10+10 parameters
    plain = build_model("mlp", (784,), 10, "multiclass")
    assert sum(p.numel() for p in plain.parameters()) == 269_322


def test_perceptron_step_update_is_the_perceptron_rule():
    """With a binary step and squared error, one gradient step is w += lr * (t - o) * x (x2 from
    the square, folded into the learning rate here by using half the squared error)."""
    torch.manual_seed(0)
    p = Perceptron(PerceptronConfig(in_features=2, activation="step"))
    with torch.no_grad():
        p.linear.weight[:] = torch.tensor([[-0.5, 0.2]])
        p.linear.bias[:] = torch.tensor([0.1])
    x = torch.tensor([[1.0, 0.0]])
    t = torch.tensor([[1.0]])
    out = p(x)  # -0.5 + 0.1 < 0 -> 0
    assert out.item() == 0.0
    loss = 0.5 * (out - t).square().sum()
    loss.backward()
    lr = 0.1
    expected_w = torch.tensor([[-0.5, 0.2]]) + lr * (1 - 0) * x
    with torch.no_grad():
        new_w = p.linear.weight - lr * p.linear.weight.grad
        new_b = p.linear.bias - lr * p.linear.bias.grad
    torch.testing.assert_close(new_w, expected_w)
    torch.testing.assert_close(new_b, torch.tensor([0.2]))


@pytest.mark.parametrize("name, x, expected", [
    ("identity", [-2.0, 0.0, 3.0], [-2.0, 0.0, 3.0]),
    ("step", [-2.0, 0.0, 3.0], [0.0, 1.0, 1.0]),
    ("sigmoid", [0.0], [0.5]),
    ("tanh", [0.0, 100.0], [0.0, 1.0]),
    ("relu", [-1.0, 2.0], [0.0, 2.0]),
    ("softmax", [1.0, 1.0], [0.5, 0.5]),
])
def test_activations(name, x, expected):
    out = activation(name)(torch.tensor(x))
    torch.testing.assert_close(out, torch.tensor(expected))


def test_every_activation_is_named():
    assert set(ACTIVATIONS) == {"identity", "step", "sigmoid", "tanh", "relu", "softmax"}
    with pytest.raises(DeepstartError, match="unknown activation 'rleu'; did you mean 'relu'"):
        activation("rleu")


@pytest.mark.parametrize("name, shape, n_out, task, options, message", [
    ("resnt", (4,), 3, "multiclass", {}, "unknown model 'resnt'"),
    ("linear", (4,), 3, "multiclass", {}, "does not fit a multiclass problem; use one of: logistic, mlp"),
    ("mlp", (4,), 3, "multiclass", {"width": 3}, "has no option width; its options are: activation"),
])
def test_bad_model_requests(name, shape, n_out, task, options, message):
    with pytest.raises(DeepstartError, match=message):
        build_model(name, shape, n_out, task, **options)


def test_save_and_load_roundtrip_without_pickle(tmp_path):
    torch.manual_seed(1)
    model = build_model("mlp", (8,), 3, "multiclass", hidden=[5], activation="tanh")
    save_model(model, tmp_path, extra={"problem": "wine"})
    spec = json.loads((tmp_path / "model.json").read_text())
    weights = (tmp_path / "model.safetensors").read_bytes()
    assert spec.pop("weights_sha256") == hashlib.sha256(weights).hexdigest()
    assert spec == {"family": "mlp", "config": {"in_features": 8, "out_features": 3, "hidden": [5],
                                                "activation": "tanh", "dropout": 0.0,
                                                "batch_norm": False}, "problem": "wine"}
    head = (tmp_path / "model.safetensors").read_bytes()[:8]
    assert int.from_bytes(head, "little") < 10_000  # a safetensors JSON header length, not a pickle
    loaded, _ = load_model(tmp_path)
    x = torch.randn(4, 8)
    torch.testing.assert_close(loaded(x), model.eval()(x))


def test_a_flipped_weight_byte_is_named(tmp_path):
    """One bit of a weight changed still parses as safetensors; the sha256 in model.json tells."""
    save_model(build_model("mlp", (8,), 3, "multiclass", hidden=[5]), tmp_path)
    data = bytearray((tmp_path / "model.safetensors").read_bytes())
    data[-3] ^= 0x01
    (tmp_path / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(DeepstartError, match="model.safetensors: its bytes are not the ones"):
        load_model(tmp_path)


def test_load_model_from_a_folder_without_one(tmp_path):
    with pytest.raises(DeepstartError, match="holds no saved model"):
        load_model(tmp_path)


@pytest.mark.parametrize("name, shape, options, message", [
    ("mlp", (4,), {"hidden": [0]}, "hidden must be a non-empty list of positive integers, e.g. "
                                   "[256, 256]; received hidden=[0]."),
    ("mlp", (4,), {"hidden": (8, -5)}, "received hidden=(8, -5)"),
    ("mlp", (4,), {"hidden": "abc"}, "received hidden='abc'"),
    ("mlp", (4,), {"hidden": [8.5]}, "received hidden=[8.5]"),
    ("mlp", (4,), {"dropout": 5}, "dropout must be a rate in [0, 1), e.g. 0.2; received dropout=5."),
    ("mlp", (4,), {"dropout": float("nan")}, "received dropout=nan"),
    ("mlp", (4,), {"batch_norm": "yes"}, "batch_norm must be true or false"),
    ("mlp", (4,), {"activation": 3}, "activation must be text"),
    ("convnet", (1, 8, 8), {"widths": [0, -1]}, "received widths=[0, -1]"),
    ("convnet", (1, 8, 8), {"hidden": -1}, "hidden must be an integer >= 0 (0: none)"),
    ("convnet", (1, 8, 8), {"dropout": -0.1}, "received dropout=-0.1"),
    ("resnet", (1, 8, 8), {"width": True}, "width must be a positive integer; received width=True"),
    ("googlenet", (1, 8, 8), {"width": float("inf")}, "width must be a positive number"),
    ("lstm", (12,), {"num_layers": 0}, "num_layers must be a positive integer"),
    ("transformer", (12,), {"mlp_ratio": -1.0}, "mlp_ratio must be a positive number"),
    ("transformer", (12,), {"dropout": 1.0}, "dropout must be a rate in [0, 1)"),
])
def test_model_settings_are_checked_by_the_family_config(name, shape, options, message):
    with pytest.raises(DeepstartError) as e:
        build_model(name, shape, 3, "multiclass", **options)
    assert message in str(e.value)


def test_config_takes_tuples_and_numpy_numbers_and_saves_plain_json(tmp_path):
    import numpy as np

    model = build_model("mlp", (4,), 3, "multiclass", hidden=(np.int64(6), 5), dropout=0)
    assert model.config.hidden == [6, 5] and model.config.dropout == 0.0
    save_model(model, tmp_path)
    assert json.loads((tmp_path / "model.json").read_text())["config"]["hidden"] == [6, 5]
    spec = json.loads((tmp_path / "model.json").read_text())
    spec["config"]["hidden"] = [6, 0]  # a hand-edited model.json gets the same check
    (tmp_path / "model.json").write_text(json.dumps(spec))
    with pytest.raises(DeepstartError, match=r"received hidden=\[6, 0\]"):
        load_model(tmp_path)


def test_python_options_warmup_and_weight_decay_are_checked(one_torch_thread):
    import numpy as np
    from sklearn.datasets import load_iris

    from deepstart.learner import Learner
    from deepstart.run import RunConfig
    from deepstart.sklearn import NetClassifier

    with pytest.raises(DeepstartError, match=r"received hidden=\[0\]"):
        Learner("mlp", "iris", model_options={"hidden": [0]}, verbose=0)
    for setting, value in (("warmup_epochs", -1.0), ("weight_decay", float("nan")),
                           ("warmup_epochs", float("nan"))):
        with pytest.raises(DeepstartError, match=f"{setting} must be a number >= 0"):
            Learner("mlp", "iris", **{setting: value}, verbose=0)
    with pytest.raises(DeepstartError, match="dropout must be a rate"):  # before any data loads
        RunConfig.for_problem("iris", model_options={"dropout": float("nan")}).validate()
    x, y = load_iris(return_X_y=True)
    for net in (NetClassifier(hidden=(0,), epochs=1), NetClassifier(model_options={"hidden": [-5]}),
                NetClassifier(dropout=5.0, epochs=1)):
        with pytest.raises(DeepstartError, match="must be"):
            net.fit(x.astype(np.float32), y)
        assert not hasattr(net, "model_")
