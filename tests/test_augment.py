"""Batch augmentation checked against per-sample reference implementations, and the convnet."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from deepstart import Learner, get_problem
from deepstart.augment import parse_augment, random_crop, random_erase, random_flip
from deepstart.errors import DeepstartError
from deepstart.models import build_model


def real_images(n: int = 64) -> torch.Tensor:
    data = get_problem("digits").load()
    return torch.from_numpy(data.x_train[:n] / 16.0).float()  # (n, 1, 8, 8), real digits


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 6), c=st.integers(1, 3), h=st.integers(4, 20), w=st.integers(4, 20),
       pad=st.integers(1, 4), seed=st.integers(0, 1000))
def test_crop_is_a_window_of_the_padded_image(n, c, h, w, pad, seed):
    x = torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed + 1))
    out = random_crop(x, pad, torch.Generator().manual_seed(seed))
    assert out.shape == x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    for i in range(n):  # the reference: a plain slice at some offset
        assert any(torch.equal(out[i], padded[i, :, dy:dy + h, dx:dx + w])
                   for dy in range(2 * pad + 1) for dx in range(2 * pad + 1))


def test_crop_offsets_vary_and_repeat_with_the_seed():
    x = real_images()
    a = random_crop(x, 1, torch.Generator().manual_seed(0))
    b = random_crop(x, 1, torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    assert sum(not torch.equal(a[i], x[i]) for i in range(len(x))) > len(x) // 2


def test_flip_mirrors_about_half():
    x = real_images(200)
    out = random_flip(x, torch.Generator().manual_seed(0))
    flipped = [torch.equal(out[i], x[i].flip(2)) and not torch.equal(x[i], x[i].flip(2))
               for i in range(len(x))]
    kept = [torch.equal(out[i], x[i]) for i in range(len(x))]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 60 < sum(flipped) < 140


def test_erase_replaces_one_rectangle_in_about_half_the_images():
    x = torch.full((400, 1, 28, 28), -1.0)  # noise is in [0, 1), so erased pixels are easy to see
    out = random_erase(x, torch.Generator().manual_seed(0))
    erased = 0
    for img in out[:, 0]:
        rows, cols = torch.nonzero(img >= 0, as_tuple=True)
        if len(rows) == 0:
            continue
        erased += 1
        h = int(rows.max() - rows.min() + 1)
        w = int(cols.max() - cols.min() + 1)
        assert len(rows) == h * w  # a filled rectangle
        assert 0.02 * 784 * 0.5 <= h * w <= 0.33 * 784 * 1.5
    assert 150 < erased < 250


def test_parse_augment():
    assert parse_augment("crop, flip") == ("crop", "flip")
    assert parse_augment(None) == parse_augment("none") == ()
    with pytest.raises(DeepstartError, match="unknown augmentation 'flop'; did you mean 'flip'"):
        parse_augment("crop,flop")


def test_learner_augments_images_only_and_stays_repeatable():
    def fit():
        learner = Learner("convnet", "digits", lr=3e-3, augment="crop,erase", verbose=0)
        learner.fit(2)
        return learner.history["loss"], learner.evaluate()

    assert fit() == fit()
    with pytest.raises(DeepstartError, match="augmentation .* is for images"):
        Learner("mlp", "wine", augment="crop", verbose=0)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 8, 8)])
def test_convnet_takes_small_images(shape):
    model = build_model("convnet", shape, 10, "multiclass")
    assert model(torch.zeros(2, *shape)).shape == (2, 10)


def test_convnet_is_for_images():
    with pytest.raises(DeepstartError, match="'convnet' is for images"):
        build_model("convnet", (13,), 3, "multiclass")
