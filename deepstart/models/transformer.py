"""An attention encoder for images (ViT-style patches) and for sequences (series windows, tables).

Images (channels, height, width) are cut into patch_size x patch_size patches, each mapped to a
`dim`-vector by one strided convolution (a linear map of the patch's pixels: Dosovitskiy et al.
2021, "An image is worth 16x16 words", eq. 1); 28x28 with patches of 4 gives 49 tokens, 32x32 gives
64. Sequences (steps,) or (steps, features) become one token per step through a linear layer; a
table of 8 columns is then a sequence of 8 one-value tokens, whose positions tell the columns apart.

Then: position embeddings added, `depth` pre-norm encoder blocks (LayerNorm, multi-head
self-attention, residual; LayerNorm, MLP with GELU, residual), a final LayerNorm, pooling (the mean
over tokens, or a [CLS] token), and a linear head. Nothing is masked: every output token, and so
the pooled vector, depends on every input token.

Text (build_model fills in text_start, text_length, vocab_size on a text problem): one token per
token id through an embedding, with positions; a padding mask keeps every token from attending to
pads, and the pooling is the mean over the real tokens (or the [CLS] token), so the output does not
depend on how much padding follows a text. The other columns' features join the pooled vector
before the head.

Choices, and why:
- Position embeddings are learned by default (one vector per position, as ViT does); ViT's appendix
  D.4 found 1-D learned, 2-D and relative embeddings within noise of each other, and every deepstart
  problem has a fixed input shape, so a learned table loses nothing. `positional="sincos"` gives the
  fixed sine-cosine embeddings instead (2-D for images, as in "Better plain ViT baselines", Beyer
  et al. 2022; 1-D as in Vaswani et al. 2017 for sequences): no parameters.
- Mean pooling by default (Beyer et al. 2022 found global average pooling as good as [CLS] and
  simpler); `pooling="cls"` prepends a learned [CLS] token and reads its output.
- The encoder block is written here rather than taken from nn.TransformerEncoderLayer(batch_first=
  True, norm_first=True), because it was measurably faster on the CPU: one training step (forward,
  backward, AdamW) of 4 blocks, dim 64, 4 heads, MLP 128, on a batch of 128 x 50 tokens took
  185 ms (median of 6, one thread) against 217 ms for nn.TransformerEncoderLayer, and scoring
  1,024 sequences 657 ms against 840 ms (torch 2.13 CPU build, the project's 2-core machine). It
  calls F.scaled_dot_product_attention, which on the CPU was faster than both its math path and a
  hand-written softmax(QK^T)V (15 vs 24 and 19 ms forward+backward for one layer's attention).
  Written out, it also shows every layer in the summary table and behaves the same in training and
  evaluation (nn.TransformerEncoderLayer switches to a fused "fast path" when not training).
- Dropout is off by default: on the CPU, dropout 0.1 in the blocks nearly doubled the time of a
  training step (326-360 ms against 158-204 ms in the measurement above, drawing the random
  masks); regularise with augmentation, weight decay and label smoothing instead, which cost little.

Cost at the defaults (dim 64, depth 4, heads 4, mlp_ratio 2, patch 4, mean pooling): 15.4 MFLOP
per 28x28 image forward (a multiply-add = 2 FLOP: 12.95 in the convolution and linear layers, as
torch.utils.flop_counter counts them, plus 2.46 in QK^T and AV), 138,890 parameters with 10 classes;
the ConvNet's default is 14.9 MFLOP. Patches of 7 (16 tokens) cost 4.6 MFLOP. Measured with
`Learner` on Fashion-MNIST (54,000 training images, 6,000 validation scored each epoch), batch 128,
AdamW, crops and flips, PyTorch's 2 threads on the project's 2-core machine with nothing else heavy
running (torch 2.13 CPU build): 42-45 s an epoch at the defaults, 14-18 s with patch_size=7.

Seen on Fashion-MNIST (seed 0, one thread, AdamW lr 3e-3 with one-cycle, weight decay 0.05, label
smoothing 0.1, batch 128; short probes, not a recipe): 10 epochs with flips reach test accuracy
0.886 with patch_size=7 (train 0.912) and 0.879 with patches of 4 (train 0.901), so at this budget
the cheaper patches of 7 are the better trade; random crops hurt (patch 7, crops and flips, 10
epochs: 0.839, train 0.848): with training accuracy that close to the test's, this small model
underfits, and harder training images only slow it down.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from deepstart.errors import DeepstartError
from deepstart.models.checks import check_config
from deepstart.models.text import check_layout, split_text

POOLINGS = ("mean", "cls")
POSITIONALS = ("learned", "sincos")


@dataclass
class TransformerConfig:
    # one sample's shape: (channels, height, width) for images, (steps,) or (steps, features)
    # for sequences; build_model fills it in from the data
    input_shape: list[int]
    out_features: int  # outputs: one logit per class, or the values to predict
    dim: int = 64  # width of every token
    depth: int = 4  # encoder blocks
    heads: int = 4  # attention heads; dim must be a multiple of heads
    mlp_ratio: float = 2.0  # the MLP's hidden width is mlp_ratio * dim
    dropout: float = 0.0  # after attention, inside and after the MLP
    patch_size: int = 4  # images: side of a square patch (must divide height and width)
    pooling: str = "mean"  # "mean" over tokens or a "cls" token
    positional: str = "learned"  # "learned" or fixed "sincos" position embeddings
    # text (filled in from a text problem's data; None on other data): where its token ids start
    # in x, after the other columns' features
    text_start: int | None = None
    text_length: int | None = None  # text: how many token ids (L; pads are 0, at the end)
    vocab_size: int | None = None  # text: the vocabulary, [PAD] = 0 and [UNK] = 1 included

    def __post_init__(self) -> None:
        check_config(self)  # types and ranges; what follows ties the settings together
        check_layout("transformer", self)
        if len(self.input_shape) not in (1, 2, 3):
            raise DeepstartError(
                f"model 'transformer' reads images (channels, height, width) or sequences (steps,) "
                f"or (steps, features); these inputs have shape {tuple(self.input_shape)}.")
        if self.dim % self.heads:
            raise DeepstartError(f"dim must be a multiple of heads (each head gets dim / heads "
                                 f"values); received dim={self.dim}, heads={self.heads}.")
        if self.pooling not in POOLINGS:
            raise DeepstartError(f"pooling must be one of {', '.join(POOLINGS)}; "
                                 f"received pooling={self.pooling!r}.")
        if self.positional not in POSITIONALS:
            raise DeepstartError(f"positional must be one of {', '.join(POSITIONALS)}; "
                                 f"received positional={self.positional!r}.")
        if self.is_image:
            _, h, w = self.input_shape
            p = self.patch_size
            if h % p or w % p:
                fits = [d for d in range(1, min(h, w) + 1) if h % d == 0 and w % d == 0]
                raise DeepstartError(
                    f"patch_size {p} does not divide the {h}x{w} images into whole patches; "
                    f"use one of: {', '.join(map(str, fits))}.")
            if self.positional == "sincos" and self.dim % 4:
                raise DeepstartError(f"2-D sine-cosine positions need dim to be a multiple of 4; "
                                     f"received dim={self.dim}.")
        elif self.positional == "sincos" and self.dim % 2:
            raise DeepstartError(f"sine-cosine positions need an even dim; received dim={self.dim}.")

    @property
    def is_image(self) -> bool:
        return len(self.input_shape) == 3

    @property
    def is_text(self) -> bool:
        return self.vocab_size is not None

    @property
    def tokens(self) -> int:
        """Patches of an image, or steps of a sequence (the [CLS] token not counted)."""
        if self.is_text:
            return self.text_length
        if self.is_image:
            _, h, w = self.input_shape
            return (h // self.patch_size) * (w // self.patch_size)
        return self.input_shape[0]


class EncoderBlock(nn.Module):
    """Pre-norm: x + attention(norm(x)), then x + mlp(norm(x)) (Xiong et al. 2020: pre-norm
    trains without a learning-rate warm-up being essential, and is what ViT uses)."""

    def __init__(self, dim: int, heads: int, hidden: int, dropout: float):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """`mask` (n, t): True at the tokens that may be attended to (text: not the pads)."""
        n, t, d = x.shape
        p = self.dropout if self.training else 0.0
        # (n, t, 3 * d) -> three (n, heads, t, d / heads)
        q, k, v = self.qkv(self.norm1(x)).view(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        keys = None if mask is None else mask[:, None, None, :]  # the same for every head and query
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=keys, dropout_p=p)
        x = x + F.dropout(self.proj(a.transpose(1, 2).reshape(n, t, d)), p, self.training)
        h = F.dropout(F.gelu(self.fc1(self.norm2(x))), p, self.training)
        return x + F.dropout(self.fc2(h), p, self.training)


def sincos_1d(positions: int, dim: int) -> torch.Tensor:
    """(positions, dim): sin and cos of position / 10000^(2i / dim), Vaswani et al. 2017, 3.5."""
    pos = torch.arange(positions, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    return torch.cat([torch.sin(pos * freq), torch.cos(pos * freq)], dim=1)


def sincos_2d(rows: int, cols: int, dim: int) -> torch.Tensor:
    """(rows * cols, dim), row-major like the patches: half the channels encode the row, half
    the column (as MAE and "Better plain ViT baselines" do)."""
    r = sincos_1d(rows, dim // 2)[:, None, :].expand(rows, cols, dim // 2)
    c = sincos_1d(cols, dim // 2)[None, :, :].expand(rows, cols, dim // 2)
    return torch.cat([r, c], dim=2).reshape(rows * cols, dim)


class Transformer(nn.Module):
    """Tokens (patches or steps) + positions -> pre-norm encoder blocks -> LayerNorm -> mean or
    [CLS] -> linear head. Returns logits (classification) or values (regression, forecasts)."""

    family = "transformer"

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = config
        c, d = config, config.dim
        if c.is_text:
            self.embed = nn.Embedding(c.vocab_size, d, padding_idx=0)
        elif c.is_image:
            self.embed = nn.Conv2d(c.input_shape[0], d, c.patch_size, stride=c.patch_size)
        else:
            features = c.input_shape[1] if len(c.input_shape) == 2 else 1
            self.embed = nn.Linear(features, d)
        if c.positional == "learned":
            self.pos = nn.Parameter(torch.zeros(1, c.tokens, d))
            nn.init.trunc_normal_(self.pos, std=0.02)
        else:
            table = (sincos_2d(c.input_shape[1] // c.patch_size, c.input_shape[2] // c.patch_size, d)
                     if c.is_image else sincos_1d(c.tokens, d))
            self.register_buffer("pos", table[None], persistent=False)  # rebuilt from the config
        if c.pooling == "cls":
            self.cls = nn.Parameter(torch.zeros(1, 1, d))
            nn.init.trunc_normal_(self.cls, std=0.02)
        hidden = max(1, round(c.mlp_ratio * d))
        self.blocks = nn.Sequential(*[EncoderBlock(d, c.heads, hidden, c.dropout) for _ in range(c.depth)])
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d + (c.text_start if c.is_text else 0), c.out_features)

    def to_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """(N, tokens, dim): embedded patches or steps, with their positions (and [CLS] first)."""
        if self.config.is_image:
            x = self.embed(x).flatten(2).transpose(1, 2)  # (N, dim, h, w) -> (N, h * w, dim)
        else:
            if x.dim() == 2:  # (N, steps): a univariate window gets a feature axis
                x = x.unsqueeze(-1)
            x = self.embed(x)
        x = x + self.pos
        if self.config.pooling == "cls":
            x = torch.cat([self.cls.expand(len(x), -1, -1), x], dim=1)
        return x

    def read_text(self, x: torch.Tensor) -> torch.Tensor:
        """Token ids -> embeddings + positions -> masked blocks -> masked mean (or [CLS]), with the
        other features -> head. The first position is always attendable, so that an empty text
        (all pads) gets a defined output rather than the NaN of attending to nothing."""
        c = self.config
        other, tokens, _ = split_text(x, c.text_start, c.text_length)
        mask = tokens != 0
        mask[:, 0] = True
        h = self.embed(tokens) + self.pos[:, :tokens.shape[1]]
        if c.pooling == "cls":
            h = torch.cat([self.cls.expand(len(h), -1, -1), h], dim=1)
            mask = torch.cat([mask.new_ones(len(h), 1), mask], dim=1)
        for block in self.blocks:
            h = block(h, mask)
        h = self.norm(h)
        if c.pooling == "cls":
            pooled = h[:, 0]
        else:
            weights = mask.unsqueeze(-1).to(h.dtype)
            pooled = (h * weights).sum(1) / weights.sum(1)
        return self.head(torch.cat([pooled, other.to(pooled.dtype)], dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.config.is_text:
            return self.read_text(x)
        x = self.norm(self.blocks(self.to_tokens(x)))
        x = x[:, 0] if self.config.pooling == "cls" else x.mean(dim=1)
        return self.head(x)
