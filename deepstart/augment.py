"""Image augmentation on whole batches of tensors: each transform is a handful of tensor operations
over the batch, never a Python loop over samples.

    crop    random crop with zero padding (4 pixels for 28x28 and 32x32 images, as in the ResNet and
            Wide ResNet papers' CIFAR recipe)
    flip    horizontal flip with probability 1/2 (for clothes and objects, not for digits or letters)
    erase   random erasing (Zhong et al. 2017): with probability 1/2, a rectangle of 2-33 % of the
            image, aspect ratio 0.3-3.3, filled with uniform noise

Randomness comes from the Learner's generator, so a seeded run stays repeatable and resumable.
"""

from __future__ import annotations

import math

import torch

from deepstart.errors import DeepstartError, unknown_name

TRANSFORMS = ("crop", "flip", "erase")


def parse_augment(spec: str | None) -> tuple[str, ...]:
    """"crop,flip" -> ("crop", "flip"); None or "" or "none" -> ()."""
    if not spec or spec == "none":
        return ()
    names = tuple(s.strip() for s in spec.split(",") if s.strip())
    for name in names:
        if name not in TRANSFORMS:
            raise unknown_name("augmentation", name, TRANSFORMS)
    return names


def check_images(names: tuple[str, ...], input_shape: tuple[int, ...]) -> None:
    if names and len(input_shape) != 3:
        raise DeepstartError(f"augmentation ({', '.join(names)}) is for images (channels, height, "
                             f"width); these inputs have shape {input_shape}.")


def _uniform(n: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.rand(n, generator=generator).to(device)


def random_crop(x: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    """Pad by `pad` zeros on every side, then cut each image back to size at its own random offset
    (one gather for the whole batch)."""
    n, c, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(x.device)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator).to(x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chans = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, chans, rows, cols]


def random_flip(x: torch.Tensor, generator: torch.Generator, p: float = 0.5) -> torch.Tensor:
    flip = (_uniform(len(x), generator, x.device) < p)[:, None, None, None]
    return torch.where(flip, x.flip(3), x)


def random_erase(x: torch.Tensor, generator: torch.Generator, p: float = 0.5,
                 area: tuple[float, float] = (0.02, 0.33),
                 ratio: tuple[float, float] = (0.3, 3.3)) -> torch.Tensor:
    n, c, h, w = x.shape
    dev = x.device
    frac = area[0] + (area[1] - area[0]) * _uniform(n, generator, dev)
    log_r = math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * _uniform(n, generator, dev)
    aspect = log_r.exp()
    eh = (frac * h * w * aspect).sqrt().round().clamp(1, h)
    ew = (frac * h * w / aspect).sqrt().round().clamp(1, w)
    top = ((h - eh + 1) * _uniform(n, generator, dev)).floor()
    left = ((w - ew + 1) * _uniform(n, generator, dev)).floor()
    rows = torch.arange(h, device=dev)[None, :]
    cols = torch.arange(w, device=dev)[None, :]
    in_rows = (rows >= top[:, None]) & (rows < (top + eh)[:, None])
    in_cols = (cols >= left[:, None]) & (cols < (left + ew)[:, None])
    chosen = _uniform(n, generator, dev) < p
    mask = (in_rows[:, :, None] & in_cols[:, None, :] & chosen[:, None, None])[:, None]
    noise = torch.rand(x.shape, generator=generator).to(dev, x.dtype)
    return torch.where(mask, noise, x)


def augment(x: torch.Tensor, names: tuple[str, ...], generator: torch.Generator) -> torch.Tensor:
    """Apply the named transforms, in the order crop, flip, erase."""
    if "crop" in names:
        x = random_crop(x, 4 if min(x.shape[2:]) >= 16 else 1, generator)
    if "flip" in names:
        x = random_flip(x, generator)
    if "erase" in names:
        x = random_erase(x, generator)
    return x
