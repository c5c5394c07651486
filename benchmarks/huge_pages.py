"""Does backing PyTorch's large CPU buffers with transparent huge pages speed up training here?

deepstart sets THP_MEM_ALLOC_ENABLE=1 when it is imported before torch (deepstart/__init__.py).
PyTorch reads the variable once per process, so each measurement is a new process; the settings
alternate, round after round, so that machine noise hits both alike. Each process times training
steps (after warm-up steps) of a model on random 28x28 images in memory, channels_last and fused
AdamW as deepstart trains them, and counts its minor page faults. Medians over the rounds.

    .venv/bin/python benchmarks/huge_pages.py [--rounds 4] [--steps 40]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

MODELS = {  # name: (batch size, what the child process builds)
    "convnet recipe": (128, "convnet"),
    "small CNN (BENCHMARKS.md)": (128, "small_cnn"),
    "MLP 256-256": (100, "mlp"),
}


def child(model_name: str, batch: int, steps: int) -> None:
    """Runs in the measured process: time `steps` training steps, print JSON."""
    import resource
    import time

    import torch
    from torch import nn

    sys.path.insert(0, str(Path(__file__).parent))
    from common import mlp, small_cnn

    from deepstart.models.convnet import ConvNet, ConvNetConfig

    torch.set_num_threads(2)
    torch.manual_seed(0)
    if model_name == "convnet":
        model = ConvNet(ConvNetConfig(1, 10, widths=[48, 96, 192], downsample="stride",
                                      head="flatten", image_size=[28, 28]))
    else:
        model = {"small_cnn": small_cnn, "mlp": mlp}[model_name]()
    fmt = torch.contiguous_format if model_name == "mlp" else torch.channels_last
    model = model.to(memory_format=fmt)
    x, y = torch.rand(batch * (steps + 5), 1, 28, 28), torch.randint(0, 10, (batch * (steps + 5),))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=True)
    loss_fn = nn.CrossEntropyLoss()

    def step(i: int) -> None:
        xb = x[i * batch:(i + 1) * batch].contiguous(memory_format=fmt)
        opt.zero_grad()
        loss_fn(model(xb), y[i * batch:(i + 1) * batch]).backward()
        opt.step()

    for i in range(5):
        step(i)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    started = time.perf_counter()
    for i in range(5, steps + 5):
        step(i)
    seconds = time.perf_counter() - started
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    print(json.dumps({"ms": seconds / steps * 1000, "faults": faults / steps}))


def measure(model_name: str, batch: int, steps: int, thp: str) -> dict:
    env = dict(os.environ, THP_MEM_ALLOC_ENABLE=thp)
    out = subprocess.run([sys.executable, __file__, "--child", model_name, str(batch), str(steps)],
                         env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], int(args.child[1]), int(args.child[2]))
        return
    thp_mode = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    print(f"kernel THP setting: {thp_mode.read_text().strip() if thp_mode.exists() else 'unknown'}")
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"ms per training step, median of {args.rounds} processes each "
                        f"({args.steps} steps after 5 warm-up steps)")
    for column in ("model, batch", "4 KB pages", "huge pages", "ratio", "faults/step 4 KB",
                   "faults/step huge"):
        table.add_column(column, justify="right")
    for label, (batch, name) in MODELS.items():
        runs = {"0": [], "1": []}
        for _ in range(args.rounds):
            for thp in ("0", "1"):
                runs[thp].append(measure(name, batch, args.steps, thp))
        ms = {k: statistics.median(r["ms"] for r in v) for k, v in runs.items()}
        faults = {k: statistics.median(r["faults"] for r in v) for k, v in runs.items()}
        table.add_row(f"{label}, {batch}", f"{ms['0']:.1f}", f"{ms['1']:.1f}",
                      f"{ms['1'] / ms['0']:.2f}", f"{faults['0']:.0f}", f"{faults['1']:.0f}")
    Console().print(table)


if __name__ == "__main__":
    main()
