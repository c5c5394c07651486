"""Text models, and the pieces the sequence families share when they read text.

The contract (docs/text.md): a text problem's x is float (N, F + L): first the F features of the
other columns, then the text's L token ids (exact as floats), padded with 0 at the end. A model
reads `x[:, :text_start]` as the other features and `x[:, text_start:text_start + text_length]` as
the tokens, and cuts every batch to its longest text, so a batch of short reviews costs what short
reviews cost, not what the longest review of the corpus costs.

`bag` is fastText (Joulin et al. 2017, "Bag of tricks for efficient text classification"): the
mean of the embeddings of the text's words and of its word bigrams, hashed into `buckets` rows
(their section 2.1: "we use the hashing trick ... 10M bins" for bigrams; here fewer, the corpora
being small), concatenated with the other features, then a linear layer (or one hidden layer).
Padding is excluded from the mean (EmbeddingBag's padding_idx), so a text padded with more zeros
gets the same output. The text variants of lstm, gru (recurrent.py) and transformer
(transformer.py) use `split_text` and `text_mask` below.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from deepstart.errors import DeepstartError
from deepstart.models.checks import check_config

# bigram (a, b) -> bucket (a * P + b) mod buckets; P a prime larger than any vocabulary here, so
# distinct bigrams collide only through the modulo
BIGRAM_PRIME = 1_000_003


def check_layout(family: str, config) -> bool:
    """True when `config` holds a text layout (all three fields set), False when it holds none; a
    DeepstartError when only some are set (an edited model.json)."""
    fields = (config.text_start, config.text_length, config.vocab_size)
    if all(f is None for f in fields):
        return False
    if any(f is None for f in fields):
        raise DeepstartError(f"model '{family}' got part of a text layout (text_start="
                             f"{config.text_start}, text_length={config.text_length}, vocab_size="
                             f"{config.vocab_size}); all three come from a text problem together: "
                             "restore the model.json from a copy, or rerun the run.")
    return True


def split_text(x: torch.Tensor, start: int,
               length: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(other features (B, F), token ids (B, T) long, lengths (B,)) of a batch x (B, F + L), the
    tokens cut to the batch's longest text (T <= L). Pads are 0 and come last, so a text's length
    is its count of non-zero ids. Traced (ONNX export) or compiled, all L columns are kept: a
    graph must not bake one batch's longest length in, and the outputs do not depend on it."""
    other = x[:, :start]
    tokens = x[:, start:start + length].long()
    lengths = (tokens != 0).sum(1)
    # the graph checks first: len() of a batch being exported fixes its size in the graph
    if not (torch.jit.is_tracing() or torch.compiler.is_compiling()
            or torch.compiler.is_exporting()) and len(tokens):
        tokens = tokens[:, :max(1, int(lengths.max()))]
    return other, tokens, lengths


def text_mask(tokens: torch.Tensor) -> torch.Tensor:
    """(B, T) True at real tokens, False at pads."""
    return tokens != 0


@dataclass
class BagConfig:
    out_features: int  # outputs: one logit per class, or the value to predict
    # text (filled in from a text problem's data; None on other data): where its token ids start
    # in x, after the other columns' features
    text_start: int | None = None
    text_length: int | None = None  # text: how many token ids (L; pads are 0, at the end)
    vocab_size: int | None = None  # text: the vocabulary, [PAD] = 0 and [UNK] = 1 included
    dim: int = 32  # width of each word's and bigram's embedding (the text's vector)
    # hashed rows for word bigrams (fastText's "bigrams" feature); None: words alone
    buckets: int | None = 20_000
    hidden: int = 0  # a hidden layer of this width (ReLU) before the output; 0: the linear fastText
    dropout: float = 0.0  # on the text's vector (and the hidden layer's outputs)

    def __post_init__(self) -> None:
        check_config(self)
        if not check_layout("bag", self):
            raise DeepstartError("model 'bag' reads text (token ids of a text column); this problem "
                                 "has none: use 'mlp' for tables, 'lstm' or 'transformer' for "
                                 "series, 'convnet' for images.")


class TextBag(nn.Module):
    """fastText: mean embedding of words and hashed bigrams, + other features -> linear head."""

    family = "bag"

    def __init__(self, config: BagConfig):
        super().__init__()
        self.config = c = config
        rows = c.vocab_size + (c.buckets or 0)
        # fastText's initialisation: embeddings uniform in +-1/dim, so the mean starts small
        self.embed = nn.EmbeddingBag(rows, c.dim, mode="mean", padding_idx=0)
        nn.init.uniform_(self.embed.weight, -1.0 / c.dim, 1.0 / c.dim)
        with torch.no_grad():
            self.embed.weight[0].zero_()
        width = c.dim + c.text_start
        layers: list[nn.Module] = [nn.Dropout(c.dropout)] if c.dropout else []
        if c.hidden:
            layers += [nn.Linear(width, c.hidden), nn.ReLU()]
            layers += [nn.Dropout(c.dropout)] if c.dropout else []
            width = c.hidden
        self.head = nn.Sequential(*layers, nn.Linear(width, c.out_features))

    def bag_ids(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, T + T - 1): the word ids, then the bigrams' rows (vocab_size + bucket), 0 (left out
        of the mean) where a bigram touches a pad."""
        c = self.config
        if not c.buckets or tokens.shape[1] < 2:
            return tokens
        a, b = tokens[:, :-1], tokens[:, 1:]
        bigrams = c.vocab_size + (a * BIGRAM_PRIME + b) % c.buckets
        return torch.cat([tokens, bigrams.masked_fill((a == 0) | (b == 0), 0)], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.config
        other, tokens, _ = split_text(x, c.text_start, c.text_length)
        vec = self.embed(self.bag_ids(tokens))
        return self.head(torch.cat([vec, other], dim=1))
