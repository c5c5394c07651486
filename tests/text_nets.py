"""A tiny text classifier of the tests' own (an embedding bag), built as the user's own class so
the text core is tested without the zoo's text families: it takes the text layout by name and
trims each batch to its longest text, as the contract asks of every text model."""

import torch
from torch import nn


class TinyBag(nn.Module):
    def __init__(self, vocab_size: int, text_start: int, text_length: int, n_outputs: int,
                 dim: int = 16):
        super().__init__()
        self.vocab_size, self.text_start, self.text_length = vocab_size, text_start, text_length
        self.n_outputs, self.dim = n_outputs, dim
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.out = nn.Linear(dim + text_start, n_outputs)
        self.widths = []  # the token columns each forward read, for the bucketing test

    def forward(self, x):
        tokens = x[:, self.text_start:self.text_start + self.text_length].long()
        longest = max(int((tokens != 0).sum(1).max()) if len(tokens) else 1, 1)
        tokens = tokens[:, :longest]
        self.widths.append(longest)
        mask = (tokens != 0).unsqueeze(-1).float()
        mean = (self.embed(tokens) * mask).sum(1) / mask.sum(1).clamp(min=1)
        return self.out(torch.cat([x[:, :self.text_start], mean], dim=1))
