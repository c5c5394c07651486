"""A small, fast convolutional network for small images (28x28, 32x32, 8x8)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from deepstart.errors import DeepstartError
from deepstart.models.checks import check_config

HEADS = ("gap", "flatten")
DOWNSAMPLES = ("pool", "stride")


@dataclass
class ConvNetConfig:
    in_channels: int  # channels of the image (1 grey, 3 colour)
    out_features: int  # outputs: one logit per class (1 for two classes or a value)
    widths: list[int] = field(default_factory=lambda: [32, 64, 128])  # filters of each stage
    dropout: float = 0.25  # rate of the dropout in the head
    batch_norm: bool = True  # batch norm after each convolution
    # "gap": global average pooling (any image size, fewest weights); "flatten": keep where each
    # feature was (the last feature map flattened), which small images such as Fashion-MNIST's
    # clothes reward
    head: str = "gap"
    hidden: int = 0  # units of a dense layer before the output (0: none)
    image_size: list[int] | None = None  # (height, width); derived from the data, needed by "flatten"
    # Pool right after the convolution, before batch norm and ReLU: max-pool commutes with ReLU,
    # and batch norm and ReLU then touch a quarter of the values. On the 2-core CPU, batch norm
    # and ReLU were 36 % of a training step of the (32, 64, 128) net in the usual order.
    pool_first: bool = True
    # "pool": 3x3 convolution then 2x2 max-pool; "stride": after the first block, 3x3 convolutions
    # of stride 2, which compute a quarter of the outputs (a third of the FLOPs of the default net)
    downsample: str = "pool"

    def __post_init__(self) -> None:
        check_config(self)


class ConvNet(nn.Module):
    """Per width: 3x3 convolution, 2x2 max-pool (skipped once the image is down to 2 pixels), batch
    norm, ReLU; then the head: global average pooling or the flattened feature map, dropout, an
    optional dense layer, and a linear output layer. Cost with the default widths (32, 64, 128):
    14.9 MFLOP per 28x28 image forward (the small CNN of BENCHMARKS.md: 8.5); widths (16, 32, 64)
    cost a quarter. The head adds little: 128 x 3 x 3 -> 10 is 0.02 MFLOP."""

    family = "convnet"

    def __init__(self, config: ConvNetConfig):
        super().__init__()
        if config.head not in HEADS:
            raise DeepstartError(f"convnet head must be one of {', '.join(HEADS)}; "
                                 f"received {config.head!r}.")
        self.config = config
        layers: list[nn.Module] = []
        channels = config.in_channels
        size = list(config.image_size) if config.image_size else None
        if config.downsample not in DOWNSAMPLES:
            raise DeepstartError(f"convnet downsample must be one of {', '.join(DOWNSAMPLES)}; "
                                 f"received {config.downsample!r}.")
        for i, width in enumerate(config.widths):
            large = size is None or min(size) >= 4
            strided = config.downsample == "stride" and i > 0 and large
            layers.append(nn.Conv2d(channels, width, 3, stride=2 if strided else 1, padding=1,
                                    bias=not config.batch_norm))
            pool = [] if strided else [_PoolIfLarge()]
            if config.pool_first:
                layers += pool
            if config.batch_norm:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.ReLU())
            if not config.pool_first:
                layers += pool
            if size and min(size) >= 4:
                size = [(s + 1) // 2 if strided else s // 2 for s in size]
            channels = width
        self.features = nn.Sequential(*layers)
        if config.head == "gap":
            head: list[nn.Module] = [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
            n = channels
        else:
            if not size:
                raise DeepstartError("a convnet with head 'flatten' needs image_size (height, width); "
                                     "build it with build_model, which takes it from the data.")
            head, n = [nn.Flatten()], channels * size[0] * size[1]
        head.append(nn.Dropout(config.dropout))
        if config.hidden:
            head += [nn.Linear(n, config.hidden), nn.ReLU(), nn.Dropout(config.dropout)]
            n = config.hidden
        head.append(nn.Linear(n, config.out_features))
        self.head = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class _PoolIfLarge(nn.Module):
    """2x2 max-pool while the image is at least 4 pixels on a side (8x8 digits keep a 2x2 map)."""

    shown_as = "MaxPool2d (2x2, while 4+ px)"  # the summary table's name for it

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.max_pool2d(x, 2) if min(x.shape[-2:]) >= 4 else x
