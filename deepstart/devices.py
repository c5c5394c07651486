"""Where and how a model computes: the device, mixed precision, and the memory format.

- device "auto": CUDA, then Apple's MPS, then the CPU.
- precision "auto" (bf16 on GPUs that support it, else fp32), "fp32", "bf16" (autocast to bfloat16:
  CPUs and recent GPUs; no loss scaling needed) or "fp16" (autocast to float16 with a GradScaler:
  GPUs only).
- channels_last "auto": on the CPU, for models with 2-D convolutions, where it was faster here (the
  small CNN of BENCHMARKS.md: 23.4 vs 31.2 s/epoch); a GPU chooses its own kernels.
- pool_before_relu: training runs ReLU -> MaxPool2d pairs of an nn.Sequential as MaxPool2d -> ReLU,
  which gives the same numbers to the bit with a quarter of the ReLU work.
"""

from __future__ import annotations

import contextlib
import warnings

import torch
from torch import nn

from deepstart.errors import DeepstartError, unknown_name

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def resolve_device(name: str) -> torch.device:
    kind = name.split(":")[0]
    if kind not in DEVICES:
        raise unknown_name("device", name, DEVICES)
    if kind == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if kind == "cuda" and not torch.cuda.is_available():
        raise DeepstartError(f"device '{name}' was asked for, but PyTorch sees no CUDA GPU here; "
                             "use --device auto or cpu.")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise DeepstartError("device 'mps' was asked for, but this machine has no Apple GPU; "
                             "use --device auto or cpu.")
    return torch.device(name)


def resolve_precision(precision: str, device: torch.device) -> str:
    """"auto": bf16 on a GPU that supports it (a clear win there: tensor cores, half the memory
    traffic, no loss scaling), fp32 elsewhere (on CPUs without AMX, bf16 is no faster)."""
    if precision not in PRECISIONS:
        raise unknown_name("precision", precision, PRECISIONS)
    if precision != "auto":
        check_precision(precision, device)
        return precision
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return "bf16"
    return "fp32"


def check_precision(precision: str, device: torch.device) -> None:
    if precision not in PRECISIONS:
        raise unknown_name("precision", precision, PRECISIONS)
    if precision == "fp16" and device.type != "cuda":
        raise DeepstartError(f"fp16 training needs a CUDA GPU (this run is on {device.type}); use "
                             "--precision bf16, which CPUs support, or fp32.")
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise DeepstartError(f"{torch.cuda.get_device_name(device)} has no bfloat16 support; use "
                             "--precision fp16 (with loss scaling) or fp32.")


def autocast(precision: str, device: torch.device):
    """The context a forward pass runs in: autocast for bf16/fp16, nothing for fp32."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(precision: str, device: torch.device):
    """fp16 gradients underflow without loss scaling; bf16 has fp32's range and needs none."""
    if precision != "fp16":
        return None
    return torch.amp.GradScaler(device.type)


def has_conv2d(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def want_channels_last(setting: bool | str, model: nn.Module, device: torch.device) -> bool:
    if setting == "auto":
        return device.type == "cpu" and has_conv2d(model)
    if setting and not has_conv2d(model):
        warnings.warn("channels_last only changes 2-D convolutions, and this model has none.",
                      stacklevel=3)
        return False
    return bool(setting)


def pool_before_relu(model: nn.Module) -> nn.Module:
    """The model to train: `model` itself, or, where an nn.Sequential (at the top or nested in
    nn.Sequentials) has an nn.ReLU right before an nn.MaxPool2d, new nn.Sequential containers
    holding the same layer objects with each such pair swapped. The user's model is untouched and
    shares every parameter, so it is what evaluation and saving see.

    Why it is exact: max-pooling commutes with ReLU (relu(max(a, b)) = max(relu(a), relu(b)), both
    exact operations), so the outputs are bitwise equal; the gradient reaches the same input in
    every window (where the window's maximum is not positive, ReLU's gradient zeroes it in both
    orders). Only plain ReLU: a strictly increasing activation can round two inputs to the same
    output and break a tie differently. Why: ReLU then touches a quarter of the values. In the
    small CNN of BENCHMARKS.md it ran on 12.8 MB per batch at 28x28 (about 11 % of a training
    step, memory-bound); our own convnet pools first for the same reason (pool_first)."""
    if type(model) is not nn.Sequential:
        return model
    swapped = _swap_relu_pool(model)
    return model if swapped is None else swapped


def _swap_relu_pool(seq: nn.Sequential) -> nn.Sequential | None:
    """A new container with the pairs swapped, or None where nothing changes (or where hooks on
    the container would be skipped by a new one)."""
    if seq._forward_hooks or seq._forward_pre_hooks or seq._backward_hooks:
        return None
    layers, changed = list(seq), False
    out: list[nn.Module] = []
    i = 0
    while i < len(layers):
        layer = layers[i]
        if type(layer) is nn.Sequential:
            inner = _swap_relu_pool(layer)
            if inner is not None:
                layer, changed = inner, True
        following = layers[i + 1] if i + 1 < len(layers) else None
        if (type(layer) is nn.ReLU and type(following) is nn.MaxPool2d
                and not following.return_indices):
            out += [following, layer]
            i, changed = i + 2, True
            continue
        out.append(layer)
        i += 1
    return nn.Sequential(*out) if changed else None
