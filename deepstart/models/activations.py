"""The activation functions of the articles, by name: identity, binary step, sigmoid, tanh, ReLU, softmax."""

from __future__ import annotations

import torch
from torch import nn

from deepstart.errors import unknown_name


class BinaryStep(nn.Module):
    """1 where x >= 0, else 0. Its true gradient is zero almost everywhere, so backward passes the
    gradient straight through (as if it were the identity): with a squared-error loss that gives the
    classic perceptron update w += lr * (target - output) * x."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        step = (x >= 0).to(x.dtype)
        return x + (step - x).detach()


ACTIVATIONS: dict[str, type[nn.Module]] = {
    "identity": nn.Identity,
    "step": BinaryStep,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "softmax": lambda: nn.Softmax(dim=-1),  # type: ignore[dict-item]
}


def activation(name: str) -> nn.Module:
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise unknown_name("activation", name, ACTIVATIONS) from None


def plot_activations(path, names=("identity", "step", "sigmoid", "tanh", "relu", "softmax")) -> None:
    """One panel per activation on [-5, 5]; softmax is shown for the vector (x, 0, -x)'s first entry
    against x, since it maps vectors, not numbers."""
    from deepstart.console import offscreen_figures

    offscreen_figures()
    import matplotlib.pyplot as plt

    from deepstart.files import atomic_path

    x = torch.linspace(-5, 5, 401)
    fig, axes = plt.subplots(2, 3, figsize=(10, 6), constrained_layout=True)
    for ax, name in zip(axes.flat, names):
        if name == "softmax":
            y = torch.softmax(torch.stack([x, torch.zeros_like(x), -x], dim=1), dim=1)[:, 0]
            ax.set_title("softmax([x, 0, -x])[0]")
        else:
            y = activation(name)(x)
            ax.set_title(name)
        ax.plot(x.numpy(), y.detach().numpy(), lw=2)
        ax.axhline(0, color="grey", lw=0.5)
        ax.axvline(0, color="grey", lw=0.5)
        ax.grid(alpha=0.3)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
