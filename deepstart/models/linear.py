"""The course's first networks: a perceptron (one unit), linear and logistic regression as a single
linear layer. Each is a config dataclass beside its module; the config travels with the weights."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from deepstart.models.activations import activation
from deepstart.models.checks import check_config


@dataclass
class PerceptronConfig:
    in_features: int  # inputs per sample (an image or a window flattened)
    activation: str = "identity"  # identity, step, sigmoid, tanh, relu
    bias: bool = True  # add a learned bias b to w . x

    def __post_init__(self) -> None:
        check_config(self)


class Perceptron(nn.Module):
    """One unit: activation(w . x + b). With the identity and a logistic loss it is logistic
    regression; with `step` it is Rosenblatt's perceptron (see BinaryStep for its gradient)."""

    family = "perceptron"

    def __init__(self, config: PerceptronConfig):
        super().__init__()
        self.config = config
        self.linear = nn.Linear(config.in_features, 1, bias=config.bias)
        self.act = activation(config.activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.linear(x.flatten(1)))


@dataclass
class LinearConfig:
    in_features: int  # inputs per sample (an image or a window flattened)
    out_features: int = 1  # outputs: 1 value, or one logit per class

    def __post_init__(self) -> None:
        check_config(self)


class LinearModel(nn.Module):
    """y = W x + b. As `linear` it predicts numbers (squared-error loss); as `logistic` its outputs
    are logits that the loss turns into probabilities with a sigmoid (2 classes) or softmax."""

    family = "linear"

    def __init__(self, config: LinearConfig):
        super().__init__()
        self.config = config
        self.linear = nn.Linear(config.in_features, config.out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.flatten(1))


class LogisticRegression(LinearModel):
    family = "logistic"
