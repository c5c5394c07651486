"""LSTM and GRU networks: forecasters for series windows and classifiers for sequences.

A forecaster may learn around a naive forecast (`difference`): the network reads the window's
differences at a lag and predicts the target's change from the value that lag before it. With the
lag of a season (12 for months) it starts from seasonal naive and learns what that misses; on the
airline series this takes the LSTM's test RMSE from 78.9 (the plain 13-month window) to 14.65
(docs/recipes.md). It is part of the model, so model.json records it, and export and serve, which
feed the model the scaled window, need nothing else.

On a text problem (build_model fills in text_start, text_length, vocab_size) the network reads the
token ids instead: an embedding, then the LSTM or GRU, bidirectional by default, with masking: the
forward RNN reads each text from its first token, the backward one (a second RNN) the text reversed
within its length, the pads staying at the end, and each is read at the text's last token (or
`pooling="max"`: the maximum over the real tokens), so no pad is read before a real token in
either direction. The two directions' vectors and the other columns' features go to the head.
Masking rather than pack_padded_sequence, because packed sequences were 4 times slower to train on
the CPU: forward + backward of a bidirectional GRU (64 units) on 256 texts of 60-120 tokens took
5.6 s packed against 1.3 s as two padded passes (one thread, torch 2.13 CPU build). With
num_layers > 1 each direction stacks its own layers.
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
        rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[c.cell]
        layers = {"num_layers": c.num_layers, "batch_first": True,
                  "dropout": c.dropout if c.num_layers > 1 else 0.0}
        if self.is_text:
            self.embed = nn.Embedding(c.vocab_size, c.embed_dim, padding_idx=0)
            self.rnn = rnn(c.embed_dim, c.hidden_size, **layers)
            if both:  # the backward direction, reading each text reversed within its length
                self.rnn_back = rnn(c.embed_dim, c.hidden_size, **layers)
        else:
            self.rnn = rnn(c.in_channels, c.hidden_size, bidirectional=both, **layers)
        width = c.hidden_size * self.directions + (c.text_start if self.is_text else 0)
        self.head = nn.Linear(width, c.out_features)
        self.family = c.cell

    def read_text(self, x: torch.Tensor) -> torch.Tensor:
        """(B, outputs) of a text batch, as the module's docstring says. An empty text reads one
        pad (its length counts as 1)."""
        c = self.config
        other, tokens, lengths = split_text(x, c.text_start, c.text_length)
        n = lengths.clamp(min=1)[:, None]  # (B, 1)
        steps = torch.arange(tokens.shape[1], device=tokens.device)[None]  # (1, T)
        inside = steps < n  # (B, T): the text's tokens
        h = self.embed(tokens)
        outputs = [self.rnn(h)[0]]
        if self.directions == 2:  # position t of the reversed text is token n - 1 - t
            backward = torch.where(inside, n - 1 - steps, steps)
            outputs.append(self.rnn_back(h.gather(1, backward[..., None].expand_as(h)))[0])
        if c.pooling == "max":
            pooled = [o.masked_fill(~inside[..., None], float("-inf")).max(1).values for o in outputs]
        else:
            last = (n - 1)[..., None].expand(-1, 1, c.hidden_size)
            pooled = [o.gather(1, last).squeeze(1) for o in outputs]
        return self.head(torch.cat([*pooled, other.to(h.dtype)], dim=1))

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
