"""LSTM and GRU networks: forecasters for series windows and classifiers for sequences."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from deepstart.models.checks import check_config


@dataclass
class RecurrentConfig:
    in_channels: int  # features per time step (1 for a univariate series window)
    out_features: int  # outputs: the next value, or one logit per class
    cell: str = "lstm"  # lstm or gru
    hidden_size: int = 32  # units of the hidden state (and of the LSTM's cell state)
    num_layers: int = 1  # recurrent layers stacked, each reading the one below's outputs
    dropout: float = 0.0  # between stacked layers

    def __post_init__(self) -> None:
        check_config(self)


class RecurrentNet(nn.Module):
    """An LSTM or GRU reads the sequence; a linear layer maps its last hidden state to the outputs
    (the next value of a series, or class logits). Inputs (N, steps) are a univariate window and
    get a feature axis; (N, steps, features) are used as they are."""

    family = "lstm"

    def __init__(self, config: RecurrentConfig):
        super().__init__()
        self.config = config
        rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[config.cell]
        self.rnn = rnn(config.in_channels, config.hidden_size, num_layers=config.num_layers,
                       batch_first=True, dropout=config.dropout if config.num_layers > 1 else 0.0)
        self.head = nn.Linear(config.hidden_size, config.out_features)
        self.family = config.cell

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            x = x.unsqueeze(-1)
        out, _ = self.rnn(x)
        return self.head(out[:, -1])
