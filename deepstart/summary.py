"""Understand a model: a summary table (layer, output shape, parameters), and for small networks a
drawing in the course's style (inputs, weighted connections, units, activation).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from deepstart.errors import DeepstartError

MAX_DRAWN_UNITS = 16  # wider layers would be a grey smear, not a picture


@dataclass
class LayerRow:
    name: str
    kind: str
    output_shape: tuple[int, ...]
    parameters: int


def summary(model: nn.Module, input_shape: tuple[int, ...]) -> list[LayerRow]:
    """One row per leaf module, in the order the forward pass runs them, with the shape of its
    output for one sample (found by running a batch of two zero inputs)."""
    from deepstart.models.tta import FlipAverage

    if isinstance(model, FlipAverage):  # the layers of the net, not of its two passes
        model = model.net
    rows: list[LayerRow] = []
    names = {m: n for n, m in model.named_modules()}
    hooks = []

    def record(module, _inputs, output):
        shape = tuple(output.shape[1:]) if torch.is_tensor(output) else ()
        params = sum(p.numel() for p in module.parameters(recurse=False))
        rows.append(LayerRow(names.get(module, "?"), _kind(module), shape, params))

    for module in model.modules():
        if not list(module.children()):
            hooks.append(module.register_forward_hook(record))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(2, *input_shape))
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    return rows


def _kind(module: nn.Module) -> str:
    """The layer's type as a reader knows it: a private helper class names what it does."""
    name = type(module).__name__
    return getattr(module, "shown_as", None) or (name.lstrip("_") if name.startswith("_") else name)


def print_summary(model: nn.Module, input_shape: tuple[int, ...], title: str = "") -> None:
    from rich.table import Table

    from deepstart.console import console

    table = Table(title=title or type(model).__name__, title_justify="left")
    for column, justify in (("layer", "left"), ("type", "left"), ("output shape", "right"),
                            ("parameters", "right")):
        table.add_column(column, justify=justify)
    table.add_row("input", "", str(tuple(input_shape)), "")
    for row in summary(model, input_shape):
        table.add_row(row.name, row.kind, str(row.output_shape), f"{row.parameters:,}")
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    console.print(table)
    console.print(f"{total:,} parameters ({trainable:,} trainable)")


def _dense_layers(model: nn.Module) -> list[tuple[nn.Linear, str]]:
    """The linear layers in order, each with the name of the activation after it."""
    layers: list[tuple[nn.Linear, str]] = []
    for module in model.modules():
        if isinstance(module, nn.Linear):
            layers.append((module, "identity"))
        elif layers and not list(module.children()) and not isinstance(
                module, (nn.Flatten, nn.Dropout, nn.BatchNorm1d)):
            layers[-1] = (layers[-1][0], type(module).__name__.lower())
    return layers


def draw_network(model: nn.Module, path: str | Path, input_names: tuple[str, ...] = ()) -> Path:
    """The network as the course draws it: a column of circles per layer, every connection a line
    (blue positive, red negative, thicker for larger weights), each unit labelled with its
    activation. Only for stacks of linear layers of at most 16 units each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from deepstart.files import atomic_path

    fmt = Path(path).suffix.lstrip(".").lower()
    if fmt not in ("png", "svg", "pdf"):
        raise DeepstartError(f"cannot draw to '{path}': use a .png, .svg or .pdf file name.")
    layers = _dense_layers(model)
    if not layers or any(isinstance(m, (nn.Conv2d, nn.RNNBase, nn.MultiheadAttention))
                         for m in model.modules()):
        raise DeepstartError("only networks of linear layers (perceptron, linear, logistic, a small "
                             "mlp) can be drawn; use the summary table for this one.")
    widths = [layers[0][0].in_features] + [lin.out_features for lin, _ in layers]
    if max(widths) > MAX_DRAWN_UNITS:
        raise DeepstartError(f"a layer of {max(widths)} units is too wide to draw (at most "
                             f"{MAX_DRAWN_UNITS}); try a smaller model, e.g. --hidden 8.")
    fig, ax = plt.subplots(figsize=(2.2 * len(widths) + 1, 0.55 * max(widths) + 1.5),
                           constrained_layout=True)
    ys = [[((w - 1) / 2 - i) for i in range(w)] for w in widths]  # first unit on top
    biggest = max(float(lin.weight.detach().abs().max()) for lin, _ in layers) or 1.0
    for col, (lin, _) in enumerate(layers):
        weight = lin.weight.detach().cpu()
        for j, y_out in enumerate(ys[col + 1]):
            for i, y_in in enumerate(ys[col]):
                w = float(weight[j, i])
                ax.plot([col, col + 1], [y_in, y_out], color="tab:blue" if w >= 0 else "tab:red",
                        lw=0.3 + 2.5 * abs(w) / biggest, alpha=0.7, zorder=1)
    for col, w in enumerate(widths):
        act = "input" if col == 0 else layers[col - 1][1]
        for i, y in enumerate(ys[col]):
            ax.add_patch(plt.Circle((col, y), 0.18, color="white", ec="black", zorder=2))
            label = input_names[i] if col == 0 and i < len(input_names) else ""
            if label:
                ax.text(col - 0.25, y, label, ha="right", va="center", fontsize=8)
        caption = "inputs" if col == 0 else ("output" if col == len(widths) - 1 else f"hidden {col}")
        ax.text(col, max(ys[col]) + 0.6, f"{caption}\n({w}, {act})" if col else f"{caption} ({w})",
                ha="center", va="bottom", fontsize=9)
    ax.set_xlim(-1, len(widths))
    ax.set_ylim(-max(widths) / 2 - 0.5, max(widths) / 2 + 1.2)
    ax.set_aspect("equal")
    ax.axis("off")
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=110)
    plt.close(fig)
    return path


FLOPS_COUNTED = ("torch.utils.flop_counter.FlopCounterMode on one input: matrix multiplies, "
                 "convolutions and attention, a multiply-add counted as 2 FLOPs")


def model_size(model: nn.Module, input_shape: tuple[int, ...], device="cpu") -> dict:
    """Parameters and FLOPs per sample (one forward pass of a zero input, in eval mode). FLOPs are
    None where the counter sees none of the model's work (a fused LSTM kernel is outside it)."""
    from torch.utils.flop_counter import FlopCounterMode

    parameters = sum(p.numel() for p in model.parameters())
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros(1, *input_shape, device=device))
    finally:
        model.train(was_training)
    flops = int(counter.get_total_flops())
    # the fused recurrent kernels are one opaque op to the counter: a total without them would
    # be the head's FLOPs alone, so none is given
    hidden = sorted({type(m).__name__ for m in model.modules() if isinstance(m, nn.RNNBase)})
    return {"parameters": int(parameters), "flops_per_sample": (flops or None) if not hidden else None,
            "flops_not_counted": hidden, "input_shape": list(input_shape),
            "flops_counted_by": FLOPS_COUNTED}


def short_count(n: float) -> str:
    """6.6M, 412K, 1.2G: a count as a paper states it."""
    for size, unit in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= size:
            return f"{n / size:.3g}{unit}" if n / size < 100 else f"{n / size:.0f}{unit}"
    return f"{n:g}"
