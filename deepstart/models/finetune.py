"""Fine-tuning a pretrained model (deepstart.pretrained): the pieces the Learner uses.

    groups     the optimizer's parameter groups: the head at lr, the body's groups (early to late,
               `model.body_groups()`) at discriminative rates spaced geometrically from lr / 100,
               as fastai's `slice(lr/100, lr)` spreads them (even_mults): for 3 body groups lr/100,
               lr/21.5, lr/4.6, then the head at lr
    freezing   the body's parameters stop training (requires_grad False) except normalisation
               layers, which keep training as fastai's train_bn does (their statistics keep
               adapting to the new data too, since the model trains in train mode)
    features   `--frozen`: `model.features(x)` computed once, in eval mode, for every split, and
               cached in the run folder (features.safetensors + features.json, which records the
               backbone's and the data's sha256: a cache that does not match, or is damaged, is
               recomputed, never trusted); only the head trains on them
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from torch import nn

from deepstart.errors import DeepstartError

# fastai's slice(lr/100, lr): the earliest group trains 100 times slower than the head
BODY_LR_RATIO = 100.0
# normalisation layers keep training while the body is frozen (fastai's train_bn, its norm_types)
NORM_TYPES = (nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm, nn.LayerNorm,
              nn.GroupNorm)
FEATURES_FORMAT = "deepstart-features-1"
SPLITS = ("train", "val", "test")


def is_pretrained(model) -> bool:
    from deepstart.pretrained import is_pretrained_model

    return is_pretrained_model(model)


def pretrained_families() -> list[str]:
    from deepstart.models import FAMILIES
    from deepstart.pretrained import is_pretrained as family_is_pretrained

    return [name for name in FAMILIES if family_is_pretrained(name)]


def lr_scales(n_body: int) -> list[float]:
    """The body groups' learning rates as fractions of the head's, earliest first."""
    return [BODY_LR_RATIO ** (-(n_body - i) / n_body) for i in range(n_body)]


def param_groups(model: nn.Module, lr: float) -> list[dict]:
    """The head first (so the history's lr column is the head's), then the body's groups, each
    with its `lr_scale` (the LR finder sweeps every group in proportion). Parameters in neither
    the head nor a body group are new ones: they train with the head."""
    body = [list(g) for g in model.body_groups()]
    body_ids = [id(p) for g in body for p in g]
    head = list(model.head.parameters())
    head_ids = {id(p) for p in head}
    if len(set(body_ids)) != len(body_ids) or head_ids & set(body_ids):
        raise DeepstartError(f"{type(model).__name__}.body_groups() lists a parameter twice or "
                             "one of the head's; each parameter must be in one group.")
    seen = head_ids | set(body_ids)
    head += [p for p in model.parameters() if id(p) not in seen]
    groups = [{"params": head, "lr": lr, "lr_scale": 1.0, "part": "head"}]
    for i, (params, scale) in enumerate(zip(body, lr_scales(len(body)))):
        if params:
            groups.append({"params": params, "lr": lr * scale, "lr_scale": scale, "part": f"body {i}"})
    return groups


def set_body_trainable(model: nn.Module, trainable: bool) -> None:
    """Freeze (or unfreeze) the body's parameters; normalisation layers' parameters always train."""
    norm = {id(p) for m in model.modules() if isinstance(m, NORM_TYPES) for p in m.parameters()}
    for group in model.body_groups():
        for p in group:
            p.requires_grad_(trainable or id(p) in norm)


def describe_groups(groups: list[dict], lr: float) -> str:
    """'the body's 3 groups at 1e-05, 4.6e-05, 0.00022 (earliest first), the head at 0.001': the
    rates `lr` (the head's, before a schedule scales them all) gives each."""
    body = [g for g in groups if g.get("part", "head") != "head"]
    rates = ", ".join(f"{lr * g['lr_scale']:.2g}" for g in body)
    return f"the body's {len(body)} groups at {rates} (earliest first), the head at {lr:.2g}"


# --- --frozen: features computed once ----------------------------------------------------------

def _sha256_tensors(tensors) -> str:
    h = hashlib.sha256()
    for name, t in tensors:
        t = t.detach().cpu().contiguous()
        h.update(f"{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def backbone_sha256(model: nn.Module) -> str:
    """What the features depend on: the body's weights and buffers (every state entry outside the
    head) and the model's config (input size, normalisation...)."""
    head = {f"head.{k}" for k in model.head.state_dict()}
    state = sorted((k, v) for k, v in model.state_dict().items() if k not in head)
    config = getattr(model, "config", None)
    import dataclasses

    text = json.dumps(dataclasses.asdict(config) if dataclasses.is_dataclass(config) else None,
                      sort_keys=True, default=str)
    return hashlib.sha256((_sha256_tensors(state) + text).encode()).hexdigest()


def data_sha256(inputs: dict[str, torch.Tensor]) -> str:
    return _sha256_tensors(sorted(inputs.items()))


@torch.inference_mode()
def compute_features(model: nn.Module, x: torch.Tensor, batch: int, autocast) -> torch.Tensor:
    """`model.features` over `x` in eval mode, in batches, as float32 on x's device."""
    model.eval()
    outs = []
    for i in range(0, len(x), batch):
        with autocast():
            outs.append(model.features(x[i:i + batch]).float())
    if not outs:
        return torch.zeros(0, 0, device=x.device)
    return torch.cat(outs)


def cached_features(model: nn.Module, inputs: dict[str, torch.Tensor], path: Path | None,
                    batch: int, autocast, say=None) -> dict[str, torch.Tensor]:
    """The features of each split, read from `path`.safetensors when its JSON matches this
    backbone and these inputs and the file's bytes are the ones recorded; else computed (and
    written there, atomically: tensors first, then the JSON that vouches for them). `say`: a
    function given one line on what happened."""
    say = say or (lambda line: None)
    backbone, data = backbone_sha256(model), data_sha256(inputs)
    device = next(iter(inputs.values())).device
    if path is not None:
        found, why = _read_cache(path, backbone, data, inputs)
        if found is not None:
            say(f"features: read from {path.with_suffix('.safetensors')} (backbone and data "
                "match their sha256)")
            return {k: v.to(device) for k, v in found.items()}
        if why:
            say(f"features: the cache {why}; recomputing it")
    import time

    started = time.perf_counter()
    features = {k: compute_features(model, x, batch, autocast).clone() for k, x in inputs.items()}
    rows = sum(len(x) for x in inputs.values())
    where = ""
    if path is not None:
        _write_cache(path, features, backbone, data)
        where = f", cached in {path.with_suffix('.safetensors')}"
    say(f"features: computed by the backbone for {rows} rows in "
        f"{time.perf_counter() - started:.1f} s{where}")
    return features


def _read_cache(path: Path, backbone: str, data: str, inputs: dict) -> tuple[dict | None, str]:
    """(the tensors, '') when the cache can be trusted; (None, why) when not (why '': none)."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    meta_path, file = path.with_suffix(".json"), path.with_suffix(".safetensors")
    if not meta_path.is_file() and not file.is_file():
        return None, ""
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        raw = file.read_bytes()
    except (OSError, ValueError) as e:
        return None, f"cannot be read ({type(e).__name__})"
    if not isinstance(meta, dict) or meta.get("format") != FEATURES_FORMAT:
        return None, f"{meta_path.name} is not a deepstart features record"
    if meta.get("backbone_sha256") != backbone:
        return None, "was computed by another backbone (its sha256 differs)"
    if meta.get("data_sha256") != data:
        return None, "was computed on other data (its sha256 differs)"
    if hashlib.sha256(raw).hexdigest() != meta.get("file_sha256"):
        return None, f"file {file.name} is damaged (its sha256 is not the recorded one)"
    try:
        tensors = load(raw)
    except (SafetensorError, ValueError, RuntimeError):
        return None, f"file {file.name} is not readable"
    if set(tensors) != set(inputs) or any(len(tensors[k]) != len(inputs[k]) for k in inputs):
        return None, "does not hold a row for each input"
    return tensors, ""


def _write_cache(path: Path, features: dict, backbone: str, data: str) -> None:
    from safetensors.torch import save

    from deepstart.files import atomic_path, write_json

    raw = save({k: v.detach().cpu().contiguous() for k, v in features.items()})
    file = path.with_suffix(".safetensors")
    with atomic_path(file) as tmp:
        tmp.write_bytes(raw)
    write_json(path.with_suffix(".json"), {
        "format": FEATURES_FORMAT,
        "what": "model.features(x) in eval mode, float32, one row per input row of each split",
        "backbone_sha256": backbone, "data_sha256": data,
        "file_sha256": hashlib.sha256(raw).hexdigest(),
        "rows": {k: len(v) for k, v in features.items()},
        "dim": int(next(iter(features.values())).shape[1]) if features else 0})
