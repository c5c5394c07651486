"""A small, fast convolutional network for small images (28x28, 32x32, 8x8)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass
class ConvNetConfig:
    in_channels: int
    out_features: int
    widths: list[int] = field(default_factory=lambda: [32, 64, 128])
    dropout: float = 0.25
    batch_norm: bool = True


class ConvNet(nn.Module):
    """Per width: 3x3 convolution, batch norm, ReLU, 2x2 max-pool (skipped once the image is down
    to 2 pixels); then global average pooling, dropout and a linear layer. Global pooling makes it
    work for any image size. Cost with the default widths (32, 64, 128): 14.9 MFLOP per 28x28
    image forward (the small CNN of BENCHMARKS.md: 8.5); widths (16, 32, 64) cost a quarter."""

    family = "convnet"

    def __init__(self, config: ConvNetConfig):
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        channels = config.in_channels
        for width in config.widths:
            layers.append(nn.Conv2d(channels, width, 3, padding=1, bias=not config.batch_norm))
            if config.batch_norm:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.ReLU())
            layers.append(_PoolIfLarge())
            channels = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(config.dropout),
                                  nn.Linear(channels, config.out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class _PoolIfLarge(nn.Module):
    """2x2 max-pool while the image is at least 4 pixels on a side (8x8 digits keep a 2x2 map)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.max_pool2d(x, 2) if min(x.shape[-2:]) >= 4 else x
