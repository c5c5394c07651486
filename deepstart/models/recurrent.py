"""LSTM and GRU networks: forecasters for series windows and classifiers for sequences.

A forecaster may learn around a naive forecast (`difference`): the network reads the window's
differences at a lag and predicts the target's change from the value that lag before it. With the
lag of a season (12 for months) it starts from seasonal naive and learns what that misses; on the
airline series this takes the LSTM's test RMSE from 78.9 (the plain 13-month window) to 14.65
(docs/recipes.md). It is part of the model, so model.json records it, and export and serve, which
feed the model the scaled window, need nothing else.

On a text problem (build_model fills in text_start, text_length, vocab_size) the network reads the
token ids instead: an embedding, the LSTM or GRU (bidirectional by default) over the packed
sequences (pack_padded_sequence, so pads are never read, in either direction), pooled into the
last hidden states of both directions (or the masked maximum over steps), concatenated with the
other columns' features, then the linear head.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from deepstart.errors import DeepstartError
from deepstart.models.checks import check_config
from deepstart.models.text import check_layout, split_text

POOLINGS = ("last", "max")


@dataclass
class RecurrentConfig:
    in_channels: int  # features per time step (1 for a univariate series window; unused on text)
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
    # text (filled in from a text problem's data; None on other data): where its token ids start
    # in x, after the other columns' features
    text_start: int | None = None
    text_length: int | None = None  # text: how many token ids (L; pads are 0, at the end)
    vocab_size: int | None = None  # text: the vocabulary, [PAD] = 0 and [UNK] = 1 included
    embed_dim: int = 64  # text: width of each token's embedding
    # read the sequence both ways and join the two states; None: yes on text, no on series
    bidirectional: bool | None = None
    pooling: str = "last"  # text: the "last" hidden states, or the "max" over steps of the outputs

    def __post_init__(self) -> None:
        check_config(self)
        if self.pooling not in POOLINGS:
            raise DeepstartError(f"pooling must be one of {', '.join(POOLINGS)}; "
                                 f"received pooling={self.pooling!r}.")
        if check_layout(self.cell, self) and self.difference is not None:
            raise DeepstartError(f"difference={self.difference} is for forecasting a series; "
                                 "a text problem has none: leave difference out.")
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
    get a feature axis; (N, steps, features) are used as they are. On text, see the module's
    docstring."""

    family = "lstm"

    def __init__(self, config: RecurrentConfig):
        super().__init__()
        self.config = c = config
        self.is_text = check_layout(c.cell, c)
        both = c.bidirectional if c.bidirectional is not None else self.is_text
        self.directions = 2 if both else 1
        if self.is_text:
            self.embed = nn.Embedding(c.vocab_size, c.embed_dim, padding_idx=0)
        rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[c.cell]
        self.rnn = rnn(c.embed_dim if self.is_text else c.in_channels, c.hidden_size,
                       num_layers=c.num_layers, batch_first=True, bidirectional=both,
                       dropout=c.dropout if c.num_layers > 1 else 0.0)
        width = c.hidden_size * self.directions + (c.text_start if self.is_text else 0)
        self.head = nn.Linear(width, c.out_features)
        self.family = c.cell

    def read_text(self, x: torch.Tensor) -> torch.Tensor:
        """(B, outputs) of a text batch: the packed sequences through the RNN, pooled, with the
        other features. An empty text reads one pad (packing needs a length of at least 1)."""
        from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

        c = self.config
        other, tokens, lengths = split_text(x, c.text_start, c.text_length)
        packed = pack_padded_sequence(self.embed(tokens), lengths.clamp(min=1).cpu(),
                                      batch_first=True, enforce_sorted=False)
        out, state = self.rnn(packed)
        if c.pooling == "max":
            steps, _ = pad_packed_sequence(out, batch_first=True, padding_value=float("-inf"))
            pooled = steps.max(dim=1).values
        else:
            h = state[0] if c.cell == "lstm" else state  # (layers * directions, B, hidden)
            pooled = torch.cat(list(h[-self.directions:]), dim=1)  # the top layer's directions
        return self.head(torch.cat([pooled, other], dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.is_text:
            return self.read_text(x)
        if x.dim() == 2:
            x = x.unsqueeze(-1)
        d = self.config.difference
        if d is None:
            out, _ = self.rnn(x)
            return self.head(out[:, -1])
        check_window(d, x.shape[1])
        out, _ = self.rnn(x[:, d:] - x[:, :-d])
        return x[:, -d] + self.head(out[:, -1])
