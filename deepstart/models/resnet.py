"""A CIFAR-style residual network (He, Zhang, Ren & Sun 2016, "Deep residual learning", section 4.2):
a 3x3 stem, three stages of basic blocks with 16, 32, 64 filters (times `width`), the second and
third stage halving the image with a strided first block, global average pooling and a linear layer.
depth = 6n + 2 (20, 32, 44, 56, 110). Shortcuts that change shape use a 1x1 strided convolution
with batch norm (the paper's option B) rather than zero padding (option A), which is simpler and
costs under 1 % more parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from deepstart.errors import DeepstartError
from deepstart.models.checks import check_config


@dataclass
class ResNetConfig:
    in_channels: int  # channels of the image (1 grey, 3 colour)
    out_features: int  # outputs: one logit per class (1 for two classes or a value)
    depth: int = 20  # layers with weights, 6n + 2: 8, 14, 20, 32, 44, 56, 110
    width: int = 1  # multiplies 16, 32, 64

    def __post_init__(self) -> None:
        check_config(self)


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout),
            nn.ReLU(), nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout))
        self.shortcut = nn.Identity() if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


class ResNet(nn.Module):
    family = "resnet"

    def __init__(self, config: ResNetConfig):
        super().__init__()
        if (config.depth - 2) % 6 or config.depth < 8:
            raise DeepstartError(f"a CIFAR ResNet has depth 6n + 2 (8, 14, 20, 32, 44, 56, 110); "
                                 f"received depth={config.depth}.")
        n = (config.depth - 2) // 6
        widths = [16 * config.width, 32 * config.width, 64 * config.width]
        layers: list[nn.Module] = [nn.Conv2d(config.in_channels, widths[0], 3, padding=1, bias=False),
                                   nn.BatchNorm2d(widths[0]), nn.ReLU()]
        cin = widths[0]
        for stage, cout in enumerate(widths):
            for block in range(n):
                layers.append(BasicBlock(cin, cout, 2 if stage > 0 and block == 0 else 1))
                cin = cout
        self.config = config
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, config.out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
