"""LSTM and GRU networks: forecasters for series windows and classifiers for sequences.

A forecaster may learn around a naive forecast (`difference`): the network reads the window's
differences at a lag and predicts the target's change from the value that lag before it. With the
lag of a season (12 for months) it starts from seasonal naive and learns what that misses; on the
airline series this takes the LSTM's test RMSE from 78.9 (the plain 13-month window) to 14.65
(docs/recipes.md). It is part of the model, so model.json records it, and export and serve, which
feed the model the scaled window, need nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from deepstart.errors import DeepstartError
from deepstart.models.checks import check_config


@dataclass
class RecurrentConfig:
    in_channels: int  # features per time step (1 for a univariate series window)
    out_features: int  # outputs: the next value, or one logit per class
    cell: str = "lstm"  # lstm or gru
    hidden_size: int = 32  # units of the hidden state (and of the LSTM's cell state)
    num_layers: int = 1  # recurrent layers stacked, each reading the one below's outputs
    dropout: float = 0.0  # between stacked layers
    # forecasts of one series: None reads the window as it is and predicts the value; a lag d reads
    # the window's differences x[i] - x[i-d] and predicts the target's change from the window's
    # value d steps before its end (1: from the last value, persistence; a season: from the same
    # season's value, seasonal naive at horizon 1). The window must be longer than d.
    difference: int | None = None

    def __post_init__(self) -> None:
        check_config(self)
        if self.difference is not None and (self.in_channels != 1 or self.out_features != 1):
            raise DeepstartError(
                f"difference={self.difference} is for forecasting one series (one value per step, "
                f"one output); these inputs have {self.in_channels} feature(s) per step and "
                f"{self.out_features} output(s): leave difference out.")


def check_window(difference: int | None, steps: int) -> None:
    """A DeepstartError unless windows of `steps` values leave at least one difference at the lag
    `difference` (run checks this before its folder exists; forward, for windows from Python)."""
    if difference is not None and steps <= difference:
        raise DeepstartError(f"difference={difference} needs windows longer than {difference} "
                             f"values; these have {steps}: use --lookback {2 * difference} (or at "
                             f"least {difference + 1}), a smaller difference, or --option difference=null "
                             "to read the window as it is.")


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
        d = self.config.difference
        if d is None:
            out, _ = self.rnn(x)
            return self.head(out[:, -1])
        check_window(d, x.shape[1])
        out, _ = self.rnn(x[:, d:] - x[:, :-d])
        return x[:, -d] + self.head(out[:, -1])
