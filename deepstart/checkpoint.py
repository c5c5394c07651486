"""A Learner's training state in one file, without pickle: `<name>.safetensors`.

Its tensors are the weights, the optimizer's tensors and the random streams; the rest (epoch,
history, optimizer settings, scheduler) is JSON in the file's header metadata, beside a SHA-256 of
the tensors. One file written to a temp name and renamed, so a kill at any moment leaves the
previous checkpoint or the new one whole. (The first format kept tensors and JSON in two files; a
kill between the two renames left new tensors beside old history, and resuming mixed them.)

`read_meta` reads the header alone, without torch, for reports of unfinished runs.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from deepstart.errors import DeepstartError
from deepstart.files import atomic_path

FORMAT = "deepstart-checkpoint-2"
_KEY = "deepstart"  # the metadata entry that holds our JSON
_MAX_HEADER = 100_000_000  # safetensors' own limit on the header's size
_EXTRA = ("scheduler", "planned_epochs", "scaler", "world_size")


def checkpoint_file(path: str | Path) -> Path:
    """The file a checkpoint named `path` (e.g. runs/x/checkpoint) lives in."""
    return Path(path).with_suffix(".safetensors")


def save_state(state: dict, path: str | Path) -> Path:
    import torch
    from safetensors.torch import save_file

    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in state["model"].items()}
    opt_values: dict[str, dict] = {}
    for pid, entries in state["opt_state"].items():
        plain = {}
        for key, value in entries.items():
            if torch.is_tensor(value):
                tensors[f"opt.{pid}.{key}"] = value.detach().cpu().contiguous()
            else:
                plain[key] = value
        opt_values[str(pid)] = plain
    tensors["rng.torch"] = state["rng_torch"]
    tensors["rng.perm"] = state["rng_perm"]
    meta = {"format": FORMAT, "epoch": state["epoch"], "history": state["history"],
            "opt_groups": state["opt_groups"], "opt_values": opt_values,
            **{k: state.get(k) for k in _EXTRA}, "sha256": _digest(tensors)}
    file = checkpoint_file(path)
    with atomic_path(file) as tmp:
        save_file(tensors, str(tmp), metadata={_KEY: json.dumps(meta)})
    return file


def read_meta(path: str | Path) -> dict:
    """The checkpoint's JSON part (epoch, history, ...) from its header; DeepstartError naming the
    file if it is missing, damaged or not a deepstart checkpoint."""
    file = checkpoint_file(path)
    try:
        with file.open("rb") as f:
            size = file.stat().st_size
            n = int.from_bytes(f.read(8), "little")
            if size < 8 or n > min(size - 8, _MAX_HEADER):
                raise _damaged(file, f"its header claims {n} bytes but the file has {size}")
            header = json.loads(f.read(n))
    except FileNotFoundError:
        raise _legacy(file) or DeepstartError(f"no checkpoint at {file}: nothing to resume "
                                              "from.") from None
    except OSError as e:
        raise DeepstartError(f"{file} cannot be read ({e.strerror or e}).") from None
    except ValueError as e:  # not JSON, or not UTF-8
        raise _damaged(file, f"its header is not JSON: {e}") from None
    block = header.get("__metadata__") if isinstance(header, dict) else None
    raw = block.get(_KEY) if isinstance(block, dict) else None
    if not isinstance(raw, str):
        raise _legacy(file) or DeepstartError(f"{file} is not a deepstart checkpoint (its header "
                                              f"has no '{_KEY}' metadata).")
    try:
        meta = json.loads(raw)
    except ValueError as e:
        raise _damaged(file, f"its metadata is not JSON: {e}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise DeepstartError(f"{file} is not a deepstart checkpoint (format {found!r}, expected "
                             f"{FORMAT!r}).")
    _check_meta(file, meta)
    return meta


def load_state(path: str | Path) -> dict:
    """The state `save_state` wrote, checked whole: DeepstartError naming the file otherwise."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    file = checkpoint_file(path)
    meta = read_meta(file)
    try:
        tensors = load_file(str(file))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise _damaged(file, f"its tensors cannot be read: {e}") from None
    if _digest(tensors) != meta.get("sha256"):
        raise _damaged(file, "its tensors do not match the SHA-256 it was saved with")
    model = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    if not model or "rng.torch" not in tensors or "rng.perm" not in tensors:
        raise _damaged(file, "it lacks the model's weights or the random streams")
    opt_state: dict[int, dict] = {int(pid): dict(values) for pid, values in meta["opt_values"].items()}
    for key, value in tensors.items():
        if key.startswith("opt."):
            _, pid, name = key.split(".", 2)
            opt_state.setdefault(int(pid), {})[name] = value
    return {"model": model, "opt_state": opt_state, "opt_groups": meta["opt_groups"],
            "rng_torch": tensors["rng.torch"], "rng_perm": tensors["rng.perm"],
            "epoch": meta["epoch"], "history": meta["history"], **{k: meta.get(k) for k in _EXTRA}}


def _check_meta(file: Path, meta: dict) -> None:
    """The JSON part holds together: an epoch count, one history row per epoch, optimizer entries."""
    epoch, history = meta.get("epoch"), meta.get("history")
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
        raise _damaged(file, f"its epoch is {epoch!r}, not a count of epochs")
    if not isinstance(history, list) or not all(isinstance(r, dict) for r in history):
        raise _damaged(file, "its history is not a list of rows")
    if [r.get("epoch") for r in history] != list(range(1, epoch + 1)):
        raise _damaged(file, f"its history has {len(history)} rows for {epoch} epochs")
    values, groups = meta.get("opt_values"), meta.get("opt_groups")
    if (not isinstance(values, dict) or not all(k.isdigit() and isinstance(v, dict)
                                                for k, v in values.items())
            or not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups)):
        raise _damaged(file, "its optimizer settings are not what deepstart writes")
    if not isinstance(meta.get("sha256"), str):
        raise _damaged(file, "it has no SHA-256 of its tensors")


def _digest(tensors: dict) -> str:
    """SHA-256 over each tensor's name, dtype, shape and bytes, in name order."""
    import torch

    digest = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().data)
    return digest.hexdigest()


def _legacy(file: Path) -> DeepstartError | None:
    old = file.with_suffix(".json")
    if not old.is_file():
        return None
    return DeepstartError(f"{old} is a checkpoint in the two-file format of an older deepstart, "
                          "which a crash can leave disagreeing with itself, so it is not resumed: "
                          "start the run again.")


def _damaged(file: Path, what: str) -> DeepstartError:
    return DeepstartError(f"{file} is damaged ({what}); it cannot be resumed: start the run "
                          "again, or put back a good copy of the file.")
