"""GoogLeNet / Inception v1 from the paper (Szegedy et al. 2014, "Going deeper with convolutions",
Table 1 and section 5), adapted to small images.

Kept from the paper: the inception module's four branches (1x1; 1x1 reduce then 3x3; 1x1 reduce then
5x5; 3x3 max-pool then 1x1 projection) concatenated on channels, with the paper's filter counts for
modules 3a-5b (`INCEPTION_TABLE`); max-pooling between stages 3, 4 and 5; global average pooling,
dropout 0.4 and one linear layer; two auxiliary classifiers on 4a and 4d (5x5 average pool stride 3,
1x1 convolution with 128 filters, a 1024-unit layer, dropout 0.7), whose losses count with weight 0.3
during training only and which are ignored at inference.

Deviations, and why:
- The stem. The paper's (7x7/2 convolution, pooling, LRN, 1x1 and 3x3 convolutions, pooling) shrinks
  224x224 to 28x28; a 28x28 or 32x32 image is already that size, so the stem is one 3x3 convolution
  to the 192 channels module 3a expects (as CIFAR adaptations of GoogLeNet do).
- Batch normalisation after every convolution (from Inception v2, Ioffe & Szegedy 2015) instead of
  local response normalisation: without it this depth trains slowly from scratch, and LRN is not used
  in current practice.
- `width` scales every filter count (1.0 is the paper's) so that the network fits a CPU budget; the
  channel arithmetic of the table is unchanged at width 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from deepstart.models.checks import check_config

# name: (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj) -- the paper's Table 1
INCEPTION_TABLE: dict[str, tuple[int, int, int, int, int, int]] = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}


def conv_bn(cin: int, cout: int, k: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU())


class Inception(nn.Module):
    def __init__(self, cin: int, n1: int, r3: int, n3: int, r5: int, n5: int, pool: int):
        super().__init__()
        self.branch1 = conv_bn(cin, n1, 1)
        self.branch3 = nn.Sequential(conv_bn(cin, r3, 1), conv_bn(r3, n3, 3))
        self.branch5 = nn.Sequential(conv_bn(cin, r5, 1), conv_bn(r5, n5, 5))
        self.branch_pool = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), conv_bn(cin, pool, 1))
        self.out_channels = n1 + n3 + n5 + pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch3(x), self.branch5(x), self.branch_pool(x)], 1)


class AuxClassifier(nn.Module):
    def __init__(self, cin: int, n_out: int, width: float):
        super().__init__()
        c, h = max(8, round(128 * width)), max(16, round(1024 * width))
        self.net = nn.Sequential(conv_bn(cin, c, 1), nn.Flatten(), nn.Linear(c * 16, h), nn.ReLU(),
                                 nn.Dropout(0.7), nn.Linear(h, n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if min(x.shape[-2:]) >= 5:
            x = nn.functional.avg_pool2d(x, 5, stride=3)  # the paper's: 14x14 -> 4x4
        return self.net(nn.functional.adaptive_avg_pool2d(x, 4))  # (a no-op at 4x4)


@dataclass
class GoogLeNetConfig:
    in_channels: int  # channels of the image (1 grey, 3 colour)
    out_features: int  # outputs: one logit per class
    width: float = 1.0  # multiplies every filter count of the paper's table (1.0: the paper's)
    aux_classifiers: bool = True  # the two auxiliary classifiers on 4a and 4d (loss weight 0.3)

    def __post_init__(self) -> None:
        check_config(self)


class GoogLeNet(nn.Module):
    """Returns logits; in training mode with auxiliary classifiers, a tuple (main, aux 4a, aux 4d)
    that the Learner turns into loss(main) + aux_weight * (loss(aux 4a) + loss(aux 4d))."""

    family = "googlenet"
    aux_weight = 0.3  # the paper's discount for the auxiliary losses

    def __init__(self, config: GoogLeNetConfig):
        super().__init__()
        self.config = config

        def scaled(row):
            return tuple(max(4, round(c * config.width)) for c in row)

        stem_out = max(8, round(192 * config.width))
        self.stem = conv_bn(config.in_channels, stem_out, 3)
        self.blocks = nn.ModuleDict()
        cin = stem_out
        for name, row in INCEPTION_TABLE.items():
            block = Inception(cin, *scaled(row))
            self.blocks[name] = block
            cin = block.out_channels
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.aux = nn.ModuleDict()
        if config.aux_classifiers:
            self.aux["4a"] = AuxClassifier(self.blocks["4a"].out_channels, config.out_features, config.width)
            self.aux["4d"] = AuxClassifier(self.blocks["4d"].out_channels, config.out_features, config.width)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.4),
                                  nn.Linear(cin, config.out_features))

    def forward(self, x: torch.Tensor):
        x = self.stem(x)
        aux_out = []
        for name, block in self.blocks.items():
            if name in ("4a", "5a"):  # the paper pools before stages 4 and 5
                x = self.pool(x)
            x = block(x)
            if self.training and name in self.aux:
                aux_out.append(self.aux[name](x))
        main = self.head(x)
        return (main, *aux_out) if aux_out else main
