"""Multi-layer perceptron: the articles' MLP 256-256 and the course's "add hidden layers"."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from deepstart.models.activations import activation
from deepstart.models.checks import check_config


@dataclass
class MLPConfig:
    in_features: int  # inputs per sample (an image or a window flattened)
    out_features: int  # outputs: 1 value, or one logit per class
    hidden: list[int] = field(default_factory=lambda: [256, 256])  # units of each hidden layer
    activation: str = "relu"  # after each hidden layer: identity, step, sigmoid, tanh, relu
    dropout: float = 0.0  # rate of the dropout after each hidden layer (0: none)
    batch_norm: bool = False  # batch norm between each hidden layer and its activation

    def __post_init__(self) -> None:
        check_config(self)


class MLP(nn.Module):
    """Flatten, then (Linear, [BatchNorm], activation, [Dropout]) per hidden layer, then a Linear
    output layer producing logits (classification) or values (regression)."""

    family = "mlp"

    def __init__(self, config: MLPConfig):
        super().__init__()
        self.config = config
        layers: list[nn.Module] = [nn.Flatten()]
        width = config.in_features
        for units in config.hidden:
            layers.append(nn.Linear(width, units))
            if config.batch_norm:
                layers.append(nn.BatchNorm1d(units))
            layers.append(activation(config.activation))
            if config.dropout > 0:
                layers.append(nn.Dropout(config.dropout))
            width = units
        layers.append(nn.Linear(width, config.out_features))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
