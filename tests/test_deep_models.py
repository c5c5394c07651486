"""ResNet and GoogLeNet: structure checked against their papers, and the auxiliary-loss path."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from deepstart import Learner
from deepstart.errors import DeepstartError
from deepstart.models import build_model
from deepstart.models.googlenet import INCEPTION_TABLE, Inception


def test_inception_3a_matches_the_papers_table():
    """Table 1, inception (3a): input 28x28x192; #1x1 64, #3x3 reduce 96, #3x3 128, #5x5 reduce 16,
    #5x5 32, pool proj 32; output 28x28x256."""
    block = Inception(192, *INCEPTION_TABLE["3a"]).eval()
    x = torch.randn(2, 192, 28, 28)
    branches = [block.branch1(x), block.branch3(x), block.branch5(x), block.branch_pool(x)]
    assert [b.shape[1] for b in branches] == [64, 128, 32, 32]
    assert all(b.shape[2:] == (28, 28) for b in branches)
    out = block(x)
    assert out.shape == (2, 256, 28, 28)
    torch.testing.assert_close(out, torch.cat(branches, 1))  # concatenated in the table's order
    convs = [m for m in block.branch3.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == \
        [(192, 96, (1, 1)), (96, 128, (3, 3))]


def test_googlenet_output_channels_follow_table_1():
    model = build_model("googlenet", (1, 28, 28), 10, "multiclass")
    expected = {"3a": 256, "3b": 480, "4a": 512, "4b": 512, "4c": 512, "4d": 528, "4e": 832,
                "5a": 832, "5b": 1024}
    assert {name: block.out_channels for name, block in model.blocks.items()} == expected


def test_googlenet_aux_classifiers_only_while_training():
    model = build_model("googlenet", (1, 28, 28), 10, "multiclass", width=0.25)
    model.train()
    out = model(torch.zeros(2, 1, 28, 28))
    assert isinstance(out, tuple) and len(out) == 3 and all(o.shape == (2, 10) for o in out)
    model.eval()
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


class MainAndAux(nn.Module):
    aux_weight = 0.3

    def __init__(self):
        super().__init__()
        self.main = nn.Linear(64, 10)
        self.side = nn.Linear(64, 10)

    def forward(self, x):
        x = x.flatten(1)
        return (self.main(x), self.side(x)) if self.training else self.main(x)


def test_learner_adds_auxiliary_losses_with_the_models_weight():
    torch.manual_seed(0)
    model = MainAndAux()
    learner = Learner(model, "digits", optimizer="sgd", lr=1e-9, verbose=0)
    x, y = learner._tensors["x_train"][:32], learner._tensors["y_train"][:32]
    with torch.no_grad():
        expected = (nn.functional.cross_entropy(model.main(x.flatten(1)), y)
                    + 0.3 * nn.functional.cross_entropy(model.side(x.flatten(1)), y))
    model.train()
    _, loss = learner._train_step(x, y)
    assert float(loss) == pytest.approx(float(expected), rel=1e-6)


def test_small_googlenet_and_resnet_train_on_digits():
    for name, options in (("googlenet", {"width": 0.125}), ("resnet", {"depth": 8})):
        learner = Learner(name, "digits", lr=3e-3, batch_size=64, verbose=0, model_options=options)
        history = learner.fit(2)
        assert all(math.isfinite(v) for v in history["loss"])
        assert history["loss"][1] < history["loss"][0]


def test_resnet_depth_is_6n_plus_2():
    model = build_model("resnet", (3, 32, 32), 10, "multiclass", depth=20)
    convs3 = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    assert len(convs3) + 1 == 20  # 19 3x3 convolutions + the linear layer
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(DeepstartError, match="depth 6n \\+ 2"):
        build_model("resnet", (3, 32, 32), 10, "multiclass", depth=21)
