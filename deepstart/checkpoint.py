"""A Learner's training state on disk without pickle: tensors in safetensors, the rest in JSON.

`<name>.safetensors` holds the weights, the optimizer's tensors and the random streams;
`<name>.json` the epoch, history, optimizer settings and which tensor is which. Both are written to
temp names and renamed, the JSON last, so a checkpoint whose JSON exists is complete.
"""

from __future__ import annotations

from pathlib import Path

import torch

from deepstart.errors import DeepstartError
from deepstart.files import atomic_path, read_json, write_json

FORMAT = "deepstart-checkpoint-1"


def _paths(path: Path) -> tuple[Path, Path]:
    return path.with_suffix(".safetensors"), path.with_suffix(".json")


def save_state(state: dict, path: Path) -> Path:
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {f"model.{k}": v.contiguous() for k, v in state["model"].items()}
    opt_values: dict[str, dict] = {}
    for pid, entries in state["opt_state"].items():
        plain = {}
        for key, value in entries.items():
            if torch.is_tensor(value):
                tensors[f"opt.{pid}.{key}"] = value.contiguous()
            else:
                plain[key] = value
        opt_values[str(pid)] = plain
    tensors["rng.torch"] = state["rng_torch"]
    tensors["rng.perm"] = state["rng_perm"]
    tensor_file, json_file = _paths(path)
    with atomic_path(tensor_file) as tmp:
        save_file(tensors, str(tmp))
    extra = {k: state.get(k) for k in ("scheduler", "planned_epochs", "scaler", "world_size")}
    write_json(json_file, {"format": FORMAT, "epoch": state["epoch"], "history": state["history"],
                           "opt_groups": state["opt_groups"], "opt_values": opt_values, **extra})
    return json_file


def load_state(path: Path) -> dict:
    """The state `save_state` wrote; a damaged or incomplete checkpoint is a DeepstartError that
    names the file."""
    from deepstart.models import read_safetensors

    tensor_file, json_file = _paths(path)
    fix = "restore it, or start the run again"
    for name in (json_file, tensor_file):
        if not name.is_file():
            raise DeepstartError(f"{name}: no such file, so there is no checkpoint to resume from; "
                                 f"{fix}.")
    meta = read_json(json_file, required={"format": str, "epoch": int, "history": list,
                                          "opt_groups": list, "opt_values": dict}, fix=fix)
    if meta.get("format") != FORMAT:
        raise DeepstartError(f"{json_file}: not a deepstart checkpoint (format "
                             f"{meta.get('format')!r}, expected {FORMAT!r}); {fix}.")
    tensors = read_safetensors(tensor_file, fix)
    try:
        model = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
        opt_state: dict[int, dict] = {int(pid): dict(values) for pid, values in meta["opt_values"].items()}
        for key, value in tensors.items():
            if key.startswith("opt."):
                _, pid, name = key.split(".", 2)
                opt_state.setdefault(int(pid), {})[name] = value
        return {"model": model, "opt_state": opt_state, "opt_groups": meta["opt_groups"],
                "rng_torch": tensors["rng.torch"], "rng_perm": tensors["rng.perm"],
                "epoch": meta["epoch"], "history": meta["history"],
                **{k: meta.get(k) for k in ("scheduler", "planned_epochs", "scaler", "world_size")}}
    except (KeyError, ValueError, TypeError) as e:
        raise DeepstartError(f"{json_file} and {tensor_file.name} do not hold a whole checkpoint "
                             f"({type(e).__name__}: {e}); {fix}.") from None
