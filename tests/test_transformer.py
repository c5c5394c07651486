"""The transformer family: patch and sequence tokens, attention that mixes every position, saving
and loading, errors, and learning on real data (digits 8x8, airline passengers)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from deepstart import Learner
from deepstart.errors import DeepstartError
from deepstart.models import build_model, load_model, save_model
from deepstart.models.transformer import Transformer, TransformerConfig, sincos_1d, sincos_2d

SMALL = {"dim": 32, "depth": 2, "heads": 2}  # for the tests that train


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("shape, patches", [((1, 28, 28), 49), ((3, 32, 32), 64), ((1, 8, 8), 4)])
def test_images_become_patches(shape, patches):
    model = build_model("transformer", shape, 10, "multiclass").eval()
    x = torch.randn(3, *shape)
    assert model.config.tokens == patches  # (28 / 4)^2, (32 / 4)^2, (8 / 4)^2
    assert model.to_tokens(x).shape == (3, patches, 64)
    assert model(x).shape == (3, 10)
    conv = model.embed
    assert isinstance(conv, torch.nn.Conv2d) and conv.kernel_size == conv.stride == (4, 4)
    cls = build_model("transformer", shape, 10, "multiclass", pooling="cls")
    assert cls.to_tokens(x).shape == (3, patches + 1, 64)  # [CLS] in front


def test_sequences_tables_and_forecasts():
    window = build_model("transformer", (12,), 1, "forecast", **SMALL)
    assert window.to_tokens(torch.zeros(5, 12)).shape == (5, 12, 32)  # one token per month
    assert window(torch.zeros(5, 12)).shape == (5, 1)
    seq = build_model("transformer", (20, 3), 4, "multiclass", positional="sincos", **SMALL)
    assert seq(torch.zeros(5, 20, 3)).shape == (5, 4)
    table = build_model("transformer", (8,), 1, "binary", **SMALL)
    assert table(torch.zeros(5, 8)).shape == (5, 1)


def test_the_defaults_and_their_cost():
    """dim 64, depth 4, heads 4, MLP 128, patches of 4, mean pooling: the docstring's figures."""
    from torch.utils.flop_counter import FlopCounterMode

    model = build_model("transformer", (1, 28, 28), 10, "multiclass").eval()
    c = model.config
    assert (c.dim, c.depth, c.heads, c.mlp_ratio, c.patch_size, c.pooling) == (64, 4, 4, 2.0, 4, "mean")
    assert sum(p.numel() for p in model.parameters()) == 138_890
    with FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 1, 28, 28))
    # the counter sees the convolution and linear layers; add QK^T and AV by hand (it does not
    # count the CPU's fused attention kernel)
    attention = c.depth * 2 * (2 * 49 * 49 * 64)
    assert (counter.get_total_flops() + attention) / 1e6 == pytest.approx(15.4, abs=0.05)


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_changing_one_patch_changes_the_pooled_output(pooling):
    torch.manual_seed(0)
    model = build_model("transformer", (1, 28, 28), 10, "multiclass", pooling=pooling).eval()
    x = torch.rand(1, 1, 28, 28)
    y = x.clone()
    y[..., 24:, 24:] = 1 - y[..., 24:, 24:]  # the last patch only
    with torch.no_grad():
        assert not torch.allclose(model(x), model(y), atol=1e-6)
        # the tokens of the other 48 patches enter the encoder unchanged ...
        tx, ty = model.to_tokens(x), model.to_tokens(y)
        start = 1 if pooling == "cls" else 0
        torch.testing.assert_close(tx[:, start:start + 48], ty[:, start:start + 48])
        # ... and after one block every token has changed: attention carried the patch to all
        bx, by = model.blocks[0](tx), model.blocks[0](ty)
        assert ((bx - by).abs().amax(dim=2) > 1e-6).all()


def test_every_output_token_depends_on_every_input_patch():
    """No mask: the Jacobian of each output token with respect to each input patch is non-zero."""
    torch.manual_seed(0)
    model = build_model("transformer", (1, 8, 8), 10, "multiclass", patch_size=2, **SMALL).eval()
    x = torch.rand(1, 1, 8, 8, requires_grad=True)
    out = model.norm(model.blocks(model.to_tokens(x)))[0]  # (16 tokens, dim)
    for j in range(out.shape[0]):
        (grad,) = torch.autograd.grad(out[j].square().sum(), x, retain_graph=True)
        per_patch = grad[0, 0].reshape(4, 2, 4, 2).abs().sum(dim=(1, 3))  # (4, 4) patches
        assert (per_patch > 0).all(), f"output token {j} ignores some input patch"


@pytest.mark.parametrize("shape, options", [
    ((1, 28, 28), {}),
    ((1, 28, 28), {"pooling": "cls", "positional": "sincos", "patch_size": 7}),
    ((20, 3), {"positional": "sincos", "dim": 32, "heads": 8}),
])
def test_save_then_load_gives_identical_outputs(shape, options, tmp_path):
    torch.manual_seed(0)
    model = build_model("transformer", shape, 3, "multiclass", **options)
    with torch.no_grad():  # move the learned parts away from their initial values
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    save_model(model, tmp_path)
    spec = json.loads((tmp_path / "model.json").read_text())
    assert spec["family"] == "transformer" and spec["config"]["input_shape"] == list(shape)
    loaded, _ = load_model(tmp_path)
    x = torch.randn(4, *shape)
    torch.testing.assert_close(loaded(x), model.eval()(x), rtol=0, atol=0)
    if options.get("positional") == "sincos":  # fixed positions are rebuilt, not stored
        from safetensors.torch import load_file

        assert "pos" not in load_file(str(tmp_path / "model.safetensors"))


def test_sincos_tables():
    table = sincos_1d(10, 8)
    assert table.shape == (10, 8)
    torch.testing.assert_close(table[0], torch.tensor([0.0] * 4 + [1.0] * 4))  # sin 0, cos 0
    assert table[3, 0] == pytest.approx(math.sin(3))  # the fastest frequency is 1
    grid = sincos_2d(7, 7, 64)
    assert grid.shape == (49, 64)
    assert len({tuple(r.tolist()) for r in grid}) == 49  # every patch position distinct
    torch.testing.assert_close(grid[8, :32], grid[9, :32])  # same row, same first half


def test_bad_settings_say_what_to_use():
    with pytest.raises(DeepstartError, match="patch_size 5 does not divide the 28x28 images.*1, 2, 4, 7, 14, 28"):
        build_model("transformer", (1, 28, 28), 10, "multiclass", patch_size=5)
    with pytest.raises(DeepstartError, match="dim must be a multiple of heads"):
        build_model("transformer", (1, 28, 28), 10, "multiclass", dim=30, heads=4)
    with pytest.raises(DeepstartError, match="pooling must be one of mean, cls"):
        build_model("transformer", (12,), 1, "forecast", pooling="max")
    with pytest.raises(DeepstartError, match="has no option width; its options are: depth, dim"):
        build_model("transformer", (12,), 1, "forecast", width=2)
    with pytest.raises(DeepstartError, match="reads images .* or sequences"):
        build_model("transformer", (1, 2, 8, 8), 10, "multiclass")
    with pytest.raises(DeepstartError, match="depth must be a positive integer; received depth=0"):
        Transformer(TransformerConfig(input_shape=[12], out_features=1, depth=0))


def test_learns_digits_well_above_chance():
    """8x8 digits in 2x2 patches (16 tokens) and a [CLS] token, 10 epochs, about 3 s: test accuracy
    0.88-0.97 over seeds 0-4 here (mean pooling: 0.77-0.93); chance is 0.10."""
    learner = Learner("transformer", "digits", optimizer="adamw", lr=3e-3, batch_size=32,
                      schedule="onecycle", verbose=0,
                      model_options={"patch_size": 2, "pooling": "cls", **SMALL})
    history = learner.fit(10)
    assert history["loss"][-1] < history["loss"][0] / 2
    assert learner.evaluate()["accuracy"] > 0.8


def test_same_seed_same_result():
    def run(seed):
        learner = Learner("transformer", "digits", optimizer="adamw", lr=3e-3, batch_size=64,
                          seed=seed, verbose=0, model_options={"patch_size": 4, **SMALL})
        learner.fit(2)
        return learner.history["loss"], learner.predict_proba()

    (loss_a, p_a), (loss_b, p_b), (loss_c, _) = run(1), run(1), run(2)
    assert loss_a == loss_b
    assert (p_a == p_b).all()
    assert loss_a != loss_c


def test_forecasts_airline_passengers():
    learner = Learner("transformer", "airline-passengers", lookback=12, batch_size=8, lr=3e-3,
                      optimizer="adamw", verbose=0, model_options=SMALL)
    history = learner.fit(5)
    assert all(math.isfinite(v) for v in history["loss"])
    assert history["loss"][-1] < history["loss"][0]
    assert 0 < learner.evaluate()["rmse"] < 500
