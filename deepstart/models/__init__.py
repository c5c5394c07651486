"""The model zoo: families by name, each built from a small config dataclass that is saved beside
the weights (model.json + model.safetensors), so a model folder alone rebuilds the model."""

from __future__ import annotations

import dataclasses
import hashlib
import math
from pathlib import Path

from torch import nn

from deepstart.errors import DeepstartError, unknown_name
from deepstart.models.linear import (LinearConfig, LinearModel, LogisticRegression, Perceptron,
                                     PerceptronConfig)
from deepstart.models.convnet import ConvNet, ConvNetConfig
from deepstart.models.efficientnet import (EfficientNetConfig, EfficientNetLite, EfficientNetLite1,
                                           EfficientNetLite1Config, EfficientNetLite2,
                                           EfficientNetLite2Config)
from deepstart.models.googlenet import GoogLeNet, GoogLeNetConfig
from deepstart.models.mlp import MLP, MLPConfig
from deepstart.models.minilm import MiniLM, MiniLMConfig
from deepstart.models.recurrent import RecurrentConfig, RecurrentNet
from deepstart.models.resnet import ResNet, ResNetConfig
from deepstart.models.text import BagConfig, TextBag
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
    "bag": (TextBag, BagConfig, ("binary", "multiclass", "regression")),
    # pretrained backbones (deepstart.pretrained): ImageNet weights from pip packages
    "efficientnet-lite0": (EfficientNetLite, EfficientNetConfig, ("binary", "multiclass", "regression")),
    "efficientnet-lite1": (EfficientNetLite1, EfficientNetLite1Config,
                           ("binary", "multiclass", "regression")),
    "efficientnet-lite2": (EfficientNetLite2, EfficientNetLite2Config,
                           ("binary", "multiclass", "regression")),
    "minilm": (MiniLM, MiniLMConfig, ("binary", "multiclass", "regression")),
}
SEQUENCE_ONLY = ("lstm", "gru")
TEXT_ONLY = ("bag", "minilm")
IMAGE_ONLY = ("convnet", "resnet", "googlenet", "efficientnet-lite0", "efficientnet-lite1",
              "efficientnet-lite2")
# Families whose config keeps the whole input shape (they read images and sequences alike).
SHAPE_AWARE = ("transformer",)


def model_names() -> list[str]:
    return sorted(FAMILIES)


TEXT_FIELDS = ("text_start", "text_length", "vocab_size")


def reads_text(name: str) -> bool:
    """A family whose config has the text layout's fields (deepstart.text.text_layout)."""
    return set(TEXT_FIELDS) <= {f.name for f in dataclasses.fields(FAMILIES[name][1])}


def data_settings(name: str, input_shape: tuple[int, ...], n_outputs: int,
                  text: dict | None = None) -> dict:
    """The config fields of family `name` that the data (and the family's name) fill in, so they
    are not options: sizes of the input and the output, the image size, the recurrent cell, and
    on a text problem where the token ids lie and how many there are (`text`, the layout)."""
    fields = {f.name for f in dataclasses.fields(FAMILIES[name][1])}
    derived = {"in_features": math.prod(input_shape), "out_features": n_outputs,
               "in_channels": input_shape[0]}
    if len(input_shape) == 3:
        derived["image_size"] = list(input_shape[1:])
    if name in SEQUENCE_ONLY:
        derived = {"in_channels": input_shape[1] if len(input_shape) == 2 else 1,
                   "out_features": n_outputs, "cell": name}
    if name in SHAPE_AWARE:
        derived = {"input_shape": list(input_shape), "out_features": n_outputs}
    if text is not None:
        derived |= {k: int(text[k]) for k in TEXT_FIELDS}
    return {k: v for k, v in derived.items() if k in fields}


def build_model(name: str, input_shape: tuple[int, ...], n_outputs: int, task: str, /,
                text: dict | None = None, **options) -> nn.Module:
    """A new model of family `name` for inputs of `input_shape` (one sample) and `n_outputs`; a
    reference `PATH.py:Class` or `package.module:Class` builds the user's own class
    (deepstart.models.custom). `text` is a text problem's layout (Prepared.text): only families
    that read token ids take it. (Positional-only, so that `--option input_shape=...` is refused as
    no option, not a TypeError.)"""
    from deepstart.models import custom

    if custom.is_reference(name):
        return custom.build(name, input_shape, n_outputs, task, text=text, **options)
    if name not in FAMILIES:
        raise unknown_name("model", name, FAMILIES)
    if text is not None and not reads_text(name):
        from deepstart.text import TEXT_FAMILIES

        raise DeepstartError(f"model '{name}' cannot read text (its inputs would be token ids "
                             f"taken as numbers); on a text problem use one of: "
                             f"{', '.join(TEXT_FAMILIES)}.")
    cls, config_cls, tasks = FAMILIES[name]
    if task not in tasks:
        sequences = task == "forecast" or len(input_shape) == 2
        suits = [n for n, (_, _, t) in FAMILIES.items()
                 if task in t and (n not in IMAGE_ONLY or len(input_shape) == 3)
                 and (n not in SEQUENCE_ONLY or sequences)
                 and (n not in TEXT_ONLY or text is not None) and (text is None or reads_text(n))]
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
    derived = data_settings(name, input_shape, n_outputs, text)
    # the text layout comes from a text problem's data, never from options (nor elsewhere)
    allowed = sorted(fields - set(derived) - set(TEXT_FIELDS))
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise DeepstartError(f"model '{name}' has no option {', '.join(unknown)}; "
                             f"its options are: {', '.join(allowed) or 'none'}.")
    kwargs = {k: v for k, v in derived.items() if k in fields} | options
    if name == "perceptron" and n_outputs != 1:
        raise DeepstartError("a perceptron has one output unit, so it fits binary and regression "
                             "problems; use 'logistic' or 'mlp' for several classes.")
    model = cls(config_cls(**kwargs))
    from deepstart.pretrained import initialize, is_pretrained

    if is_pretrained(name):  # the constructor never loads weights, so load_model needs no package
        initialize(model)
    return model


def model_spec(model: nn.Module) -> dict:
    """{'family': ..., 'config': {...}} for a zoo model (what model.json stores); for the user's
    own class {'family': 'custom', 'config': its options, 'custom': where it comes from}."""
    from deepstart.models import custom

    entry = custom.describe(model)
    if entry is not None:
        return {"family": custom.FAMILY, "config": custom.options_of(entry), "custom": entry}
    config = getattr(model, "config", None)
    if getattr(model, "family", None) not in FAMILIES or not dataclasses.is_dataclass(config):
        raise DeepstartError(f"{type(model).__name__} is not a deepstart zoo model, so it cannot be "
                             "saved as config + weights; save its state_dict with safetensors instead.")
    return {"family": model.family, "config": dataclasses.asdict(config)}


def model_from_spec(spec: dict, path: Path | None = None) -> nn.Module:
    """The model that `spec` (model.json, read from `path` when given) describes, untrained."""
    family = spec.get("family")
    where = f"{path}: " if path is not None else ""
    if family == "custom":
        from deepstart.models import custom

        if not isinstance(spec.get("custom"), dict):
            raise DeepstartError(f"{where}a custom model's \"custom\" entry is missing; restore "
                                 "the file from a copy, or rerun the run.")
        return custom.rebuild(spec["custom"], Path(path or "model.json"))
    if family not in FAMILIES:
        raise DeepstartError(where + str(unknown_name("model", str(family), FAMILIES)))
    cls, config_cls, _ = FAMILIES[family]
    config = spec["config"]
    fields = [f.name for f in dataclasses.fields(config_cls)]
    # save_model writes every field: a key missing or extra means the file was edited or damaged
    extra, missing = sorted(set(config) - set(fields)), [f for f in fields if f not in config]
    if extra or missing:
        what = (f'has the key "{extra[0]}"' if extra else f'lacks the key "{missing[0]}"')
        raise DeepstartError(f"{where}its config {what}, but a {family} config has exactly: "
                             f"{', '.join(fields)}; restore the file from a copy, or rerun the run.")
    try:
        return cls(config_cls(**config))
    except (TypeError, ValueError, RuntimeError, IndexError) as e:
        raise DeepstartError(f"{where}its config does not build a {family} model "
                             f"({type(e).__name__}: {e}); restore the file from a copy, or rerun "
                             "the run.") from None


def save_model(model: nn.Module, folder: str | Path, extra: dict | None = None) -> None:
    """model.safetensors + model.json (family, config, the weights' sha256 and `extra`, e.g.
    preprocessing)."""
    from safetensors.torch import save

    from deepstart.files import atomic_path, write_json

    folder = Path(folder)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    data = save(tensors)
    spec = model_spec(model) | {"weights_sha256": hashlib.sha256(data).hexdigest()} | (extra or {})
    if spec["family"] == "custom":  # the source file's path from the run folder too
        from deepstart.models.custom import saved_entry

        spec["custom"] = saved_entry(model, folder)
    with atomic_path(folder / "model.safetensors") as tmp:
        tmp.write_bytes(data)
    write_json(folder / "model.json", spec)


def read_safetensors(path: Path, fix: str = "restore the file from a copy, or rerun the run",
                     sha256: str | None = None) -> dict:
    """The tensors in a safetensors file; an empty, truncated or damaged one (or, with `sha256`,
    one whose bytes are not the ones recorded) is a DeepstartError that names it."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        data = path.read_bytes()
    except OSError as e:
        raise DeepstartError(f"{path}: cannot be read ({e.strerror}); {fix}.") from None
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise DeepstartError(f"{path}: its bytes are not the ones the run saved (their sha256 differs "
                             f"from model.json's weights_sha256), so the file is damaged; {fix}.")
    try:
        return load(data)
    except (SafetensorError, ValueError, RuntimeError) as e:
        what = "empty" if not data else f"not a readable safetensors file ({e})"
        raise DeepstartError(f"{path}: {what}; {fix}.") from None


def load_model(folder: str | Path) -> tuple[nn.Module, dict]:
    """Rebuild a saved model from its folder: JSON config + safetensors weights, no pickle. The
    weights must fit the config, be finite, and (when model.json records an input shape) the model
    must run on one input of that shape and give as many outputs as the task needs."""
    import torch

    from deepstart.files import read_json

    folder = Path(folder)
    json_path, weights_path = folder / "model.json", folder / "model.safetensors"
    if not json_path.is_file() and not weights_path.is_file():
        raise DeepstartError(f"{folder} holds no saved model (model.json and model.safetensors); "
                             "pass the folder of a finished run.")
    for path, other in ((json_path, weights_path), (weights_path, json_path)):
        if not path.is_file():
            raise DeepstartError(f"{path}: the file is missing, so {folder} holds no saved model "
                                 f"({other.name} alone); restore it from a copy, or rerun the run.")
    spec = read_json(json_path, required={"family": str, "config": dict},
                     optional={"input_shape": list, "tta": str, "loss": str, "task": str,
                               "class_names": list, "weights_sha256": str,
                               "custom": dict})
    model = model_from_spec(spec, json_path)
    tensors = read_safetensors(weights_path, sha256=spec.get("weights_sha256"))
    try:
        model.load_state_dict(tensors)
    except RuntimeError as e:  # keys or shapes of another model
        detail = " ".join(line.strip() for line in str(e).splitlines()[1:]) or str(e)
        raise DeepstartError(f"{weights_path}: its weights do not fit the model {json_path.name} "
                             f"describes ({detail[:300]}); restore both files from a copy, or rerun "
                             "the run.") from None
    bad = [k for k, t in tensors.items() if t.is_floating_point() and not torch.isfinite(t).all()]
    if bad:
        raise DeepstartError(f"{weights_path}: the tensor {bad[0]} holds values that are not finite, "
                             "so the file is damaged; restore it from a copy, or rerun the run.")
    if spec.get("tta") == "flip":  # predicts as the run scored: over each image and its mirror
        from deepstart.models.tta import FlipAverage

        model = FlipAverage(model, spec.get("loss", "cross_entropy"))
    model.eval()
    if spec.get("input_shape") is not None:
        _check_forward(model, spec, json_path)
    return model, spec


def _check_forward(model: nn.Module, spec: dict, path: Path) -> None:
    """One zero input of the recorded shape through the model: the outputs the task needs come out."""
    import torch

    shape = spec["input_shape"]
    task = spec.get("task")
    wanted = len(spec.get("class_names") or ()) if task == "multiclass" else 1
    try:
        with torch.inference_mode():
            out = model(torch.zeros(1, *shape))
    except (RuntimeError, ValueError, TypeError, IndexError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DeepstartError(f"{path}: the model does not run on its recorded input_shape {shape} "
                             f"({first[:200]}); restore the file from a copy, or rerun the run.") from None
    if task is not None and wanted and tuple(out.shape) != (1, wanted):
        raise DeepstartError(f"{path}: the model gives {tuple(out.shape)[1:]} outputs per input, but a "
                             f"{task} model of this run needs {wanted}; restore the file from a copy, "
                             "or rerun the run.")
