"""Shared pieces of the benchmarks: the models of ../shared/BENCHMARKS.md, the data, the machine.

    from benchmarks.common import mlp, small_cnn, fashion_mnist, cpu_name   # or, run as a script
    from common import ...                                                  # from benchmarks/
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from deepstart import get_problem
from deepstart.prepare import Prepared, prepare


def mlp() -> nn.Module:
    """MLP 256-256: Flatten, Linear(784,256)-ReLU-Linear(256,256)-ReLU-Linear(256,10)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                         nn.Linear(256, 10))


def small_cnn() -> nn.Module:
    """Small CNN: Conv(1->32, 3x3, pad 1)-ReLU-MaxPool2 - Conv(32->64, 3x3, pad 1)-ReLU-MaxPool2 -
    Flatten - Linear(3136,128)-ReLU-Linear(128,10). Expects (N, 1, 28, 28)."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))


def fashion_mnist() -> Prepared:
    """Fashion-MNIST as deepstart prepares it, with no validation split: float32 x_train
    (60000, 1, 28, 28) in [0, 1], int64 y_train, and the 10,000 test images in x_test / y_test."""
    problem = get_problem("fashion-mnist")
    return prepare(problem.load(), problem, val_split=0.0)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 1000) -> float:
    """Classification accuracy of a torch model on (x, y), evaluated in eval mode in chunks."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            correct += int((model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum())
    return correct / len(x)


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo, or 'unknown CPU'."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def huge_pages() -> str:
    """Whether PyTorch backs its large CPU buffers with transparent huge pages in this process
    (THP_MEM_ALLOC_ENABLE, which importing deepstart first sets) and the kernel's THP mode."""
    mode = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    kernel = mode.read_text().strip() if mode.exists() else "unknown"
    state = "on" if os.environ.get("THP_MEM_ALLOC_ENABLE") == "1" else "off"
    return f"{state} (kernel THP mode: {kernel})"
