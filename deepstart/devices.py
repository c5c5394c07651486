"""Where and how a model computes: the device, mixed precision, and the memory format.

- device "auto": CUDA, then Apple's MPS, then the CPU.
- precision "auto" (bf16 on GPUs that support it, else fp32), "fp32", "bf16" (autocast to bfloat16:
  CPUs and recent GPUs; no loss scaling needed) or "fp16" (autocast to float16 with a GradScaler:
  GPUs only).
- channels_last "auto": on the CPU, for models with 2-D convolutions, where it was faster here (the
  small CNN of BENCHMARKS.md: 23.4 vs 31.2 s/epoch); a GPU chooses its own kernels.
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
