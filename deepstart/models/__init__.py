"""The model zoo: families by name, each built from a small config dataclass that is saved beside
the weights (model.json + model.safetensors), so a model folder alone rebuilds the model."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from torch import nn

from deepstart.errors import DeepstartError, unknown_name
from deepstart.models.linear import (LinearConfig, LinearModel, LogisticRegression, Perceptron,
                                     PerceptronConfig)
from deepstart.models.convnet import ConvNet, ConvNetConfig
from deepstart.models.googlenet import GoogLeNet, GoogLeNetConfig
from deepstart.models.mlp import MLP, MLPConfig
from deepstart.models.recurrent import RecurrentConfig, RecurrentNet
from deepstart.models.resnet import ResNet, ResNetConfig
from deepstart.models.transformer import Transformer, TransformerConfig

# family -> (module class, config class, tasks it suits)
FAMILIES: dict[str, tuple[type[nn.Module], type, tuple[str, ...]]] = {
    "perceptron": (Perceptron, PerceptronConfig, ("binary", "regression", "forecast")),
    "linear": (LinearModel, LinearConfig, ("regression", "forecast")),
    "logistic": (LogisticRegression, LinearConfig, ("binary", "multiclass")),
    "mlp": (MLP, MLPConfig, ("binary", "multiclass", "regression", "forecast")),
    "convnet": (ConvNet, ConvNetConfig, ("binary", "multiclass", "regression")),
    "resnet": (ResNet, ResNetConfig, ("binary", "multiclass", "regression")),
    "googlenet": (GoogLeNet, GoogLeNetConfig, ("multiclass",)),
    "lstm": (RecurrentNet, RecurrentConfig, ("binary", "multiclass", "regression", "forecast")),
    "gru": (RecurrentNet, RecurrentConfig, ("binary", "multiclass", "regression", "forecast")),
    "transformer": (Transformer, TransformerConfig, ("binary", "multiclass", "regression", "forecast")),
}
SEQUENCE_ONLY = ("lstm", "gru")
IMAGE_ONLY = ("convnet", "resnet", "googlenet")
# Families whose config keeps the whole input shape (they read images and sequences alike).
SHAPE_AWARE = ("transformer",)


def model_names() -> list[str]:
    return sorted(FAMILIES)


def build_model(name: str, input_shape: tuple[int, ...], n_outputs: int, task: str,
                **options) -> nn.Module:
    """A new model of family `name` for inputs of `input_shape` (one sample) and `n_outputs`."""
    if name not in FAMILIES:
        raise unknown_name("model", name, FAMILIES)
    cls, config_cls, tasks = FAMILIES[name]
    if task not in tasks:
        sequences = task == "forecast" or len(input_shape) == 2
        suits = [n for n, (_, _, t) in FAMILIES.items()
                 if task in t and (n not in IMAGE_ONLY or len(input_shape) == 3)
                 and (n not in SEQUENCE_ONLY or sequences)]
        raise DeepstartError(f"model '{name}' does not fit a {task} problem; "
                             f"use one of: {', '.join(sorted(suits))}.")
    if name in IMAGE_ONLY and len(input_shape) != 3:
        raise DeepstartError(f"model '{name}' is for images (channels, height, width); these inputs "
                             f"have shape {tuple(input_shape)}; use 'mlp' or 'transformer' for tables "
                             "and series.")
    if name in SEQUENCE_ONLY and len(input_shape) not in (1, 2):
        raise DeepstartError(f"model '{name}' reads sequences (steps,) or (steps, features); these "
                             f"inputs have shape {tuple(input_shape)}.")
    if name in SHAPE_AWARE and len(input_shape) not in (1, 2, 3):
        raise DeepstartError(f"model '{name}' reads images (channels, height, width) or sequences "
                             f"(steps,) or (steps, features); these inputs have shape "
                             f"{tuple(input_shape)}.")
    fields = {f.name for f in dataclasses.fields(config_cls)}
    derived = {"in_features": math.prod(input_shape), "out_features": n_outputs,
               "in_channels": input_shape[0]}
    if len(input_shape) == 3:
        derived["image_size"] = list(input_shape[1:])
    if name in SEQUENCE_ONLY:
        derived = {"in_channels": input_shape[1] if len(input_shape) == 2 else 1,
                   "out_features": n_outputs, "cell": name}
    if name in SHAPE_AWARE:
        derived = {"input_shape": list(input_shape), "out_features": n_outputs}
    unknown = sorted(set(options) - (fields - set(derived)))
    if unknown:
        allowed = sorted(fields - set(derived))
        raise DeepstartError(f"model '{name}' has no option {', '.join(unknown)}; "
                             f"its options are: {', '.join(allowed) or 'none'}.")
    kwargs = {k: v for k, v in derived.items() if k in fields} | options
    if name == "perceptron" and n_outputs != 1:
        raise DeepstartError("a perceptron has one output unit, so it fits binary and regression "
                             "problems; use 'logistic' or 'mlp' for several classes.")
    return cls(config_cls(**kwargs))


def model_spec(model: nn.Module) -> dict:
    """{'family': ..., 'config': {...}} for a zoo model (what model.json stores)."""
    config = getattr(model, "config", None)
    if getattr(model, "family", None) not in FAMILIES or not dataclasses.is_dataclass(config):
        raise DeepstartError(f"{type(model).__name__} is not a deepstart zoo model, so it cannot be "
                             "saved as config + weights; save its state_dict with safetensors instead.")
    return {"family": model.family, "config": dataclasses.asdict(config)}


def model_from_spec(spec: dict) -> nn.Module:
    family = spec.get("family")
    if family not in FAMILIES:
        raise unknown_name("model", str(family), FAMILIES)
    cls, config_cls, _ = FAMILIES[family]
    return cls(config_cls(**spec["config"]))


def save_model(model: nn.Module, folder: str | Path, extra: dict | None = None) -> None:
    """model.safetensors + model.json (family, config and `extra`, e.g. preprocessing)."""
    from safetensors.torch import save_file

    from deepstart.files import atomic_path, write_json

    folder = Path(folder)
    spec = model_spec(model) | (extra or {})
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(folder / "model.safetensors") as tmp:
        save_file(tensors, str(tmp))
    write_json(folder / "model.json", spec)


def load_model(folder: str | Path) -> tuple[nn.Module, dict]:
    """Rebuild a saved model from its folder: JSON config + safetensors weights, no pickle."""
    from safetensors.torch import load_file

    from deepstart.files import read_json

    folder = Path(folder)
    if not (folder / "model.json").is_file() or not (folder / "model.safetensors").is_file():
        raise DeepstartError(f"{folder} holds no saved model (model.json and model.safetensors); "
                             "pass the folder of a finished run.")
    spec = read_json(folder / "model.json")
    model = model_from_spec(spec)
    model.load_state_dict(load_file(str(folder / "model.safetensors")))
    if spec.get("tta") == "flip":  # predicts as the run scored: over each image and its mirror
        from deepstart.models.tta import FlipAverage

        model = FlipAverage(model, spec.get("loss", "cross_entropy"))
    model.eval()
    return model, spec
