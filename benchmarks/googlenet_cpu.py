"""GoogLeNet's CPU cost on Fashion-MNIST: seconds per training step at the paper's width (1.0) and at
the recipe's (0.5), and the CPU time per epoch that follows.

    python benchmarks/googlenet_cpu.py                 # 20 timed steps per width after 3 warm-up steps
    python benchmarks/googlenet_cpu.py --steps 2 --warmup 1 --threads 2

Each step is the recipe's (`deepstart problems fashion-mnist`): a batch of 128 real Fashion-MNIST
training images (1x28x28, scaled to [0, 1]), the zoo's googlenet with its two auxiliary classifiers
on (their losses weighted 0.3, as Learner._train_step adds them), cross-entropy, backward, AdamW
(lr 5e-3, weight decay 0.05), in fp32 on the CPU. The recipe's random flips and one-cycle schedule
cost next to nothing beside the network and are left out. The epoch estimate is seconds per step x
the 422 steps of 54,000 training images (60,000 less the 10 % validation split), so it leaves out
evaluation and data loading. Run it on a quiet machine: another busy process slows PyTorch's
threads many-fold, and the figure printed is only as good as the machine was quiet.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # deepstart from this checkout
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the benchmarks' common.py

import torch
from common import cpu_name
from torch import nn

from deepstart.models import build_model

TRAIN_IMAGES = 54_000  # Fashion-MNIST's 60,000 training images less the 10 % validation split
BATCH = 128  # the recipe's batch size
RECIPE_WIDTH = 0.5
PAPER_WIDTH = 1.0


def images(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `n` Fashion-MNIST training images in [0, 1] and their labels."""
    from deepstart import get_problem

    raw = get_problem("fashion-mnist").load(download=False)
    x = torch.from_numpy(raw.x_train[:n].astype("float32") / float(raw.pixel_max))
    return x.reshape(n, 1, 28, 28), torch.from_numpy(raw.y_train[:n].astype("int64"))


def time_width(width: float, x: torch.Tensor, y: torch.Tensor, steps: int, warmup: int) -> dict:
    """Parameters and mean seconds per training step of googlenet at `width`."""
    torch.manual_seed(0)
    model = build_model("googlenet", (1, 28, 28), 10, "multiclass", width=width)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=5e-3, weight_decay=0.05)
    loss_fn = nn.CrossEntropyLoss()
    n_batches = len(x) // BATCH

    def step(i: int) -> None:
        b = slice((i % n_batches) * BATCH, (i % n_batches + 1) * BATCH)
        main, *aux = model(x[b])
        loss = loss_fn(main, y[b]) + model.aux_weight * sum(loss_fn(a, y[b]) for a in aux)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for i in range(warmup):
        step(i)
    started = time.perf_counter()
    for i in range(steps):
        step(warmup + i)
    seconds = (time.perf_counter() - started) / steps
    params = sum(p.numel() for p in model.parameters())
    return {"width": width, "params": params, "step_s": seconds,
            "epoch_s": seconds * math.ceil(TRAIN_IMAGES / BATCH)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="timed steps per width (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (default 3)")
    parser.add_argument("--threads", type=int, help="torch threads (default: PyTorch's choice)")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.warmup < 0:
        parser.error("--steps must be at least 1 and --warmup at least 0")
    if args.threads:
        torch.set_num_threads(args.threads)
    x, y = images(BATCH * max(1, min(args.steps + args.warmup, 8)))
    rows = [time_width(w, x, y, args.steps, args.warmup) for w in (PAPER_WIDTH, RECIPE_WIDTH)]
    print(f"GoogLeNet (zoo, auxiliary classifiers on), Fashion-MNIST 1x28x28, batch {BATCH}, AdamW, "
          f"fp32; {args.steps} timed steps after {args.warmup} warm-up, {torch.get_num_threads()} "
          f"threads, {cpu_name()}, torch {torch.__version__}")
    print(f"epoch = {math.ceil(TRAIN_IMAGES / BATCH)} steps ({TRAIN_IMAGES:,} training images); "
          "training steps only (no evaluation, no data loading)")
    print("| width | parameters | s / step | CPU s / epoch | CPU min / epoch |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['width']:g} | {r['params']:,} | {r['step_s']:.3f} | {r['epoch_s']:.0f} | "
              f"{r['epoch_s'] / 60:.1f} |")
    paper, recipe = rows
    print(f"width {PAPER_WIDTH:g} / width {RECIPE_WIDTH:g}: {paper['step_s'] / recipe['step_s']:.2f}x "
          f"the time per step, {paper['params'] / recipe['params']:.2f}x the parameters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
