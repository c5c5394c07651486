"""`deepstart serve RUN`: a local prediction API and page for a finished run.

    POST /predict       JSON: {"features": {...}} or {"rows": [{...}, ...]} (tables, by column
                        name; a text column's value is its text), {"text": "..."} (a model that
                        reads one text column and nothing else), {"image": "<base64 PNG>"} or {"pixels": [[...]]} (images),
                        {"window": [...]} (forecasts); or a PNG as the multipart form field "image",
                        or as an image/png body. Returns the class probabilities by class name with
                        the predicted class, or the value in the target's units, and the model's
                        identity (run, family, short sha256 of its weights, deepstart version).
    GET  /              a page: a canvas to draw on (images) or a form from the feature schema
                        (tables, series; a text box for a text column), with the live
                        prediction as a bar chart
    GET  /schema        what the model takes and returns; the page builds itself from it
    GET  /health        {"status": "ok", "model": {...}}
    GET  /openapi.json  the API's schema, with this run's feature names and types; /docs shows it
                        with Swagger UI, which FastAPI loads from a CDN (it needs the network)
    GET  /static/...    the page's script and style: the files of deepstart/static/serve/ only

The model is loaded once, from model.json + model.safetensors (no pickle), and its outputs come
from `record.model_outputs`, the function that scores the run offline, so a served prediction is
the offline one. Raw inputs are prepared as the run prepared its data: table columns through the
saved column schema, images in the dataset's pixel units, then the saved scaling.

Bad input is answered, never fatal: 400 for a body that does not parse, 413 above the size limit
(Content-Length, or the bytes counted as they stream in), 415 for another content type, 422 for a
body that parses but does not fit the model, with a message that names the field.
"""

# No `from __future__ import annotations` here: FastAPI reads the routes' annotations (Request) at
# run time, and they are imported inside create_app.
import asyncio
import base64
import binascii
import difflib
import errno
import hashlib
import io
import ipaddress
import json
import math
import os
import socket
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from deepstart.errors import DeepstartError

if TYPE_CHECKING:
    from fastapi import FastAPI

MAX_BODY_BYTES = 2_000_000
DRAIN_BYTES = 16_000_000  # of a refused body, read and dropped so the client can read the 413
MAX_ROWS = 1000  # rows per request: a batch, not a bulk job (that is `deepstart export --input`)
MAX_SEQUENCE_STEPS = 10_000  # steps of one sequence per request (the model reads its trained length)
MAX_IMAGE_SIDE = 4096  # checked on the PNG header, before decoding: no decompression bombs
FLOAT32_MAX = float(np.finfo(np.float32).max)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
STATIC = Path(__file__).parent / "static" / "serve"
# The page loads its script, style and data from this server only.
PAGE_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


class InputError(Exception):
    """A request the model cannot take; `str(self)` names the field and says what was expected."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.status = status


# --- the model and its inputs -------------------------------------------------------------------

class ServedModel:
    """A finished run's model with what turns raw inputs into its inputs."""

    def __init__(self, run_folder: str | Path):
        from deepstart.record import load_trained_model, read_run, require_finished

        record = read_run(run_folder)
        require_finished(record, "serve")
        self.model, self.spec = load_trained_model(record)
        spec = self.spec
        self.task = spec["task"]
        self.input_shape = tuple(spec["input_shape"])
        self.classes = [str(c) for c in spec.get("class_names") or []]
        if self.task in ("binary", "multiclass") and not self.classes:
            self.classes = ["0", "1"] if self.task == "binary" else \
                [str(i) for i in range(spec["config"].get("out_features") or
                                       (spec.get("custom") or {}).get("arguments", {}).get("n_outputs", 0))]
        self.scaling = spec.get("scaling") or {}
        weights = (record.folder / "model.safetensors").read_bytes()
        from deepstart import __version__

        self.identity = {
            "run": record.folder.resolve().name, "problem": spec.get("problem"),
            "family": spec["family"], "task": self.task,
            # your own class: which one (docs/own-model.md)
            **({"class": spec["custom"]["reference"]} if spec["family"] == "custom" else {}),
            "weights_sha256": hashlib.sha256(weights).hexdigest()[:12], "deepstart": __version__,
        }
        source = spec["config"].get("source") or {}
        if source:  # a pretrained family: which weights it started from (deepstart.pretrained)
            self.identity["backbone"] = {k: source.get(k) for k in ("package", "version")} | {
                "sha256": str(source.get("sha256") or "")[:12] or None}
        if len(self.input_shape) == 3:
            self.kind = "image"
            self.pixel_max = _pixel_max(record, spec)
        elif self.task == "forecast":
            self.kind = "series"
            self.lookback = int(spec.get("lookback") or self.input_shape[0])
        elif "sequence" in spec and len(self.input_shape) == 2:
            self.kind = "sequence"  # your own sequences: steps of features, padded or cut as trained
        elif len(self.input_shape) == 1 and ("columns" in spec or len(spec.get("feature_names") or ())
                                              == self.input_shape[0]):
            self.fields = _table_fields(spec)
            self.ignored = _ignored_columns(spec)
            # one text column and nothing else: {"text": "..."} besides the table's bodies
            self.kind = "text" if [f["type"] for f in self.fields] == ["text"] else "table"
        else:
            raise DeepstartError(f"the model of {record.folder} reads inputs of shape "
                                 f"{self.input_shape} without names; serve takes runs on tables, "
                                 "images and series.")
        try:  # refuse to start, rather than answer 500 to every request
            self.predict(np.zeros((1, *self.input_shape), np.float32))
        except (InputError, KeyError, TypeError, ValueError, IndexError) as e:
            raise DeepstartError(f"{record.folder / 'model.json'}: the model and its preprocessing do "
                                 f"not answer one input of shape {self.input_shape} ({e}); restore "
                                 "the run folder from a copy, or rerun the run.") from None

    @property
    def classify(self) -> bool:
        return self.task in ("binary", "multiclass")

    # -- what the page and /schema show --

    def schema(self) -> dict:
        output = {"task": self.task}
        if self.classify:
            output["classes"] = self.classes
        else:
            # what is predicted: your table's target column, or a series itself (its one feature)
            target = (self.spec.get("target") or {}).get("name")
            names = self.spec.get("feature_names") or []
            if target is None and self.task == "forecast" and names:
                target = names[0]
            output["target"] = target or "value"
        if self.kind == "image":
            c, h, w = self.input_shape
            inputs = {"kind": "image", "channels": c, "height": h, "width": w,
                      "color": "grey" if c == 1 else "rgb", "pixel_max": self.pixel_max}
        elif self.kind == "series":
            inputs = {"kind": "series", "lookback": self.lookback,
                      "horizon": int(self.spec.get("horizon") or 1),
                      "column": (self.spec.get("feature_names") or ["value"])[0],
                      "typical": _typical(self.scaling.get("x"), 0)}
        elif self.kind == "sequence":
            info = self.spec["sequence"]
            inputs = {"kind": "sequence", "steps": self.input_shape[0],
                      "features": info["feature_names"], "pad": info["pad"],
                      "max_steps": MAX_SEQUENCE_STEPS}
        else:
            inputs = {"kind": self.kind, "features": self.fields, "ignored": self.ignored}
        return {"model": self.identity, "input": inputs, "output": output}

    # -- requests -> raw inputs (the dataset's own units) --

    def inputs_from_json(self, body) -> tuple[np.ndarray, bool, list[str]]:
        """(raw inputs (N, ...), one example given rather than rows, warnings)."""
        if not isinstance(body, dict):
            raise InputError(f"body: expected a JSON object such as {self._example()}, got "
                             f"{_shown(body)}")
        keys = {"table": ("features", "rows"), "text": ("text", "features", "rows"),
                "image": ("image", "pixels"),
                "series": ("window",), "sequence": ("sequence",)}[self.kind]
        unknown = sorted(set(body) - set(keys))
        given = [k for k in keys if k in body]
        if unknown or len(given) != 1:
            what = f"unknown field {_quoted(unknown[0])}" if unknown else \
                "give one of them" if given else "empty"
            raise InputError(f"body: {what}; this {self.kind} model takes "
                             f"{' or '.join(_quoted(k) for k in keys)}, e.g. {self._example()}")
        key = given[0]
        value = body[key]
        if key == "text":
            if not isinstance(value, str):
                raise InputError(f"text: expected the text (a string), got {_shown(value)}")
            x, warnings = self._table([{self.fields[0]["name"]: value}], ["text"])
            return x, True, [w.replace(f"text.{self.fields[0]['name']}", "text", 1)
                             for w in warnings]
        if key == "features":
            x, warnings = self._table([_object(value, "features")], ["features"])
            return x, True, warnings
        if key == "rows":
            if not isinstance(value, list) or not value:
                raise InputError(f"rows: expected a non-empty array of objects, got {_shown(value)}")
            if len(value) > MAX_ROWS:
                raise InputError(f"rows: {len(value)} rows arrived; send at most {MAX_ROWS} per "
                                 "request (`deepstart export --input FILE` predicts a whole file)")
            paths = [f"rows[{i}]" for i in range(len(value))]
            x, warnings = self._table([_object(r, p) for r, p in zip(value, paths)], paths)
            return x, False, warnings
        if key == "window":
            return self._window(value), True, []
        if key == "sequence":
            return self._sequence(value)
        if key == "pixels":
            return self._pixels(value)[None], True, []
        if not isinstance(value, str):
            raise InputError(f"image: expected a base64 PNG string, got {_shown(value)}")
        return self.inputs_from_png(_base64(value, "image"), "image")[None], True, []

    def inputs_from_png(self, data: bytes, field: str) -> np.ndarray:
        """A PNG file's bytes -> (channels, height, width) in the dataset's pixel units."""
        from PIL import Image, UnidentifiedImageError

        from deepstart.problems.folder import image_array

        if self.kind != "image":
            raise InputError(f"{field}: this model reads {self.kind} inputs, not images; see GET "
                             "/schema", 415)
        if not data.startswith(PNG_SIGNATURE):
            raise InputError(f"{field}: not a PNG file (it starts with {data[:8]!r}); send a PNG")
        try:
            with Image.open(io.BytesIO(data), formats=["PNG"]) as im:
                if max(im.size) > MAX_IMAGE_SIDE:
                    raise InputError(f"{field}: a {im.size[0]} x {im.size[1]} image is larger than "
                                     f"the {MAX_IMAGE_SIDE} x {MAX_IMAGE_SIDE} accepted")
                im.load()
                c, h, w = self.input_shape
                pixels = image_array(im, (h, w), "grey" if c == 1 else "rgb")
        except (OSError, SyntaxError, ValueError, UnidentifiedImageError,
                Image.DecompressionBombError) as e:
            raise InputError(f"{field}: the PNG could not be decoded ({str(e)[:120] or type(e).__name__})"
                             ) from None
        # 0..255 -> the dataset's units (digits are 0..16); float32 as prepare computes
        return pixels.astype(np.float32) * np.float32(self.pixel_max / 255.0)

    def _pixels(self, value) -> np.ndarray:
        c, h, w = self.input_shape
        depth = 0
        probe = value
        while isinstance(probe, list) and probe:
            depth, probe = depth + 1, probe[0]
        shape = (c, h, w) if depth == 3 or c != 1 else (h, w)
        wanted = " x ".join(map(str, shape)) + (f" (or {c} x {h} x {w})" if c == 1 else "")
        values = _numbers(value, shape, "pixels", wanted)
        low, high = float(values.min()), float(values.max())
        if low < 0 or high > self.pixel_max:
            raise InputError(f"pixels: values run from {low:g} to {high:g}; this dataset's pixels "
                             f"run from 0 to {self.pixel_max:g} (send them in its own units)")
        return values.reshape(c, h, w)

    def _window(self, value) -> np.ndarray:
        n = self.lookback
        return _numbers(value, (n,), "window", f"the {n} latest values, oldest first")[None]

    def _sequence(self, value) -> tuple[np.ndarray, bool, list[str]]:
        """One sequence, oldest step first: a step is a list of the features (a number alone when
        there is one), padded or cut to the trained length by the run's own rule."""
        from deepstart.problems.folder import fit_lengths

        steps, n = self.input_shape
        wanted = ("a list of steps, oldest first, each a number" if n == 1 else
                  f"a list of steps, oldest first, each a list of {n} numbers")
        if not isinstance(value, list) or not value:
            raise InputError(f"sequence: expected {wanted}, got {_shown(value)}")
        if len(value) > MAX_SEQUENCE_STEPS:
            raise InputError(f"sequence: {len(value)} steps arrived; send at most "
                             f"{MAX_SEQUENCE_STEPS} (the model reads the last {steps})")
        if n == 1 and not isinstance(value[0], list):
            value = [[v] for v in value]
        x = _numbers(value, (len(value), n), "sequence", wanted)
        warnings = [] if len(x) == steps else [
            f"sequence: {len(x)} steps arrived and the model reads {steps}; "
            + ("padded at the start by repeating the first step" if len(x) < steps else
               f"the first {len(x) - steps} were left out") + ", as the training sequences were"]
        return fit_lengths(x[None], np.asarray([len(x)]), steps), True, warnings

    def _table(self, rows: list[dict], paths: list[str]) -> tuple[np.ndarray, list[str]]:
        return table_inputs(self.spec, rows, lambda i, name: _field(paths[i], name),
                            self.fields, self.ignored)

    def _example(self) -> str:
        if self.kind == "image":
            return '{"image": "<base64 PNG>"}'
        if self.kind == "series":
            return '{"window": [' + ", ".join(["..."] * min(3, self.lookback)) + "]}"
        if self.kind == "sequence":
            return '{"sequence": [' + ("..." if self.input_shape[1] == 1 else "[...]") + ", ...]}"
        if self.kind == "text":
            return '{"text": "..."}'
        first = self.fields[0]
        value = {"number": "1.0", "text": '"..."'}.get(first["type"]) or \
            json.dumps(first["categories"][0])
        return '{"features": {' + json.dumps(first["name"]) + ": " + value + ", ...}}"

    # -- raw inputs -> the answer --

    def predict(self, raw: np.ndarray) -> list[dict]:
        import torch

        from deepstart.record import model_outputs

        from deepstart.prepare import NO_SCALING, scale_x

        x = scale_x(raw.astype(np.float32), self.scaling.get("x", NO_SCALING))
        x = torch.from_numpy(x.reshape(len(x), *self.input_shape))
        out = model_outputs(self.model, self.spec, x)
        if not np.all(np.isfinite(out.raw.numpy())):
            raise InputError("inputs: the model's output is not a finite number for these inputs; "
                             "they are probably far outside the range it was trained on")
        if not self.classify:
            return [{"value": float(v)} for v in out.predicted]
        return [{"predicted": self.classes[int(k)],
                 "probabilities": {c: float(p) for c, p in zip(self.classes, proba)}}
                for k, proba in zip(out.predicted, out.proba)]

    def answer(self, raw: np.ndarray, single: bool, warnings: list[str]) -> dict:
        predictions = self.predict(raw)
        result = dict(predictions[0]) if single else {"predictions": predictions}
        return result | {"warnings": warnings, "model": self.identity}

    def answer_json(self, body: bytes) -> dict:
        return self.answer(*self.inputs_from_json(_parse_json(body)))

    def answer_png(self, data: bytes, field: str) -> dict:
        return self.answer(self.inputs_from_png(data, field)[None], True, [])


def _pixel_max(record, spec: dict) -> float:
    """The dataset's pixel maximum: model.json says it (runs since serve exists, image folders);
    for older runs, unit scaling divided by it; else the problem's own data says it."""
    stated = spec.get("pixel_max") or (spec.get("image") or {}).get("pixel_max")
    if stated:
        return float(stated)
    sx = (spec.get("scaling") or {}).get("x") or {}
    if (record.config.get("scale") or "unit") == "unit" and isinstance(sx.get("scale"), (int, float)):
        return float(sx["scale"])
    from deepstart.record import load_problem

    try:
        return float(load_problem(record).load(download=False).pixel_max)
    except DeepstartError as e:
        raise DeepstartError(f"{record.folder} predates model.json's pixel_max, and its problem's "
                             f"data, which tells it, is not here ({str(e).rstrip('.')}); run it "
                             "again to serve it.") from None


def table_inputs(spec: dict, rows: list[dict], where, fields: list[dict] | None = None,
                 ignored: list[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """Raw rows (column name -> value) -> the model's features before scaling, (rows, features)
    float32, and warnings (unseen categories). The one check of table rows: `serve` takes JSON rows
    through it and `deepstart export --input` the rows of a CSV file, so both refuse the same
    things: an unknown or missing column, text or a non-finite number in a numeric column, a
    missing value where the model has no imputation. `where(i, name)` names row i's value of
    `name` in the error (an InputError)."""
    fields = _table_fields(spec) if fields is None else fields
    ignored = _ignored_columns(spec) if ignored is None else ignored
    names = [f["name"] for f in fields]
    known = set(names) | set(ignored)
    warnings: list[str] = []
    columns: dict[str, list] = {n: [] for n in names}
    for i, row in enumerate(rows):
        extra = [k for k in row if k not in known]
        if extra:
            close = difflib.get_close_matches(extra[0], names, n=1, cutoff=0.6)
            hint = f" (did you mean {_quoted(close[0])}?)" if close else ""
            raise InputError(f"{where(i, extra[0])}: unknown feature{hint}; the model takes "
                             f"{', '.join(names)}")
        missing = [n for n in names if n not in row]
        if missing:
            raise InputError(f"{where(i, missing[0])}: missing"
                             f"{f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''}; "
                             f"the model takes {', '.join(names)}")
        for f in fields:
            value = row[f["name"]]
            if f["type"] == "number":
                columns[f["name"]].append(_number(value, where(i, f["name"]), f["nullable"]))
            elif f["type"] == "text":
                columns[f["name"]].append(_text_value(value, where(i, f["name"])))
            else:
                columns[f["name"]].append(_category(value, where(i, f["name"]), f, warnings))
    if "columns" in spec:
        from deepstart.problems.columns import encode

        x = encode(spec["columns"], columns)
        warnings += _text_warnings(spec, columns, rows, where)
    else:
        x = np.array([columns[n] for n in names], dtype=np.float32).T
    return np.asarray(x, dtype=np.float32), warnings


def _text_warnings(spec: dict, columns: dict, rows: list, where) -> list[str]:
    """A text longer than the model reads is cut, as the training texts were: say so."""
    from deepstart.text import join_columns, text_entry

    entry = text_entry(spec)
    if entry is None:
        return []
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(json.dumps(entry["tokenizer"]))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    texts = join_columns({c: columns[c] for c in entry["columns"]})
    counts = [len(e.ids) for e in tokenizer.encode_batch(["" if t is None else t for t in texts])]
    length = int(entry["length"])
    name = entry["columns"][0] if len(entry["columns"]) == 1 else entry["name"]
    return [f"{where(i, name)}: {n} tokens; the model reads the first {length}, as it read the "
            "training texts" for i, n in enumerate(counts) if n > length]


def _typical(sx: dict | None, i: int) -> float | None:
    """A training mean (the scaling's offset) as the form's starting value."""
    if not sx:
        return None
    offset = sx["offset"]
    value = offset[i] if isinstance(offset, list) else offset
    return float(f"{value:.4g}")


def _table_fields(spec: dict) -> list[dict]:
    """The features a request names: the columns of your own table (with their categories), or
    the feature columns of a built-in table."""
    if "columns" in spec:
        fields = []
        for e in spec["columns"]:
            if e.get("dropped"):
                continue
            if e["kind"] == "text":  # one text box per source column, joined as in training
                fields += [{"name": c, "type": "text", "nullable": True,
                            "length": int(e["length"])} for c in e["columns"]]
            elif e["kind"] == "numeric":
                fields.append({"name": e["name"], "type": "number", "nullable": True,
                               "typical": float(f"{e['impute']:.4g}")})
            else:
                fields.append({"name": e["name"], "type": "category", "nullable": True,
                               "categories": list(e["categories"]), "other": bool(e["other"])})
        return fields
    sx = (spec.get("scaling") or {}).get("x")
    return [{"name": n, "type": "number", "nullable": False, "typical": _typical(sx, i)}
            for i, n in enumerate(spec["feature_names"])]


def _ignored_columns(spec: dict) -> list[str]:
    """Columns of your own table that a row copied from it may carry and the model does not read:
    the dropped ones (identifiers, constants) and the target."""
    dropped = [e["name"] for e in spec.get("columns", ()) if e.get("dropped")]
    target = (spec.get("target") or {}).get("name")
    return dropped + ([target] if target else [])


# --- checking JSON values -----------------------------------------------------------------------

def _reject_constant(name: str):
    raise InputError(f"body: {name} is not a JSON number; send finite numbers", 400)


def _parse_json(body: bytes):
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise InputError("body: not UTF-8 text; send JSON", 400) from None
    except RecursionError:
        raise InputError("body: JSON nested too deeply", 400) from None
    except ValueError as e:
        raise InputError(f"body: not valid JSON ({e})", 400) from None


def _shown(value) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + '..."'


def _quoted(name: str) -> str:
    return json.dumps(name)


def _field(path: str, name: str) -> str:
    return f"{path}.{name}" if name.isidentifier() else f"{path}[{json.dumps(name)}]"


def _object(value, path: str) -> dict:
    if not isinstance(value, dict):
        raise InputError(f"{path}: expected an object of feature values by name, got {_shown(value)}")
    return value


def _number(value, path: str, nullable: bool = False) -> float:
    if value is None and nullable:
        return math.nan  # missing: imputed as the training rows' median was
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{path}: expected a number{' or null' if nullable else ''}, got "
                         f"{_shown(value)}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not abs(number) <= FLOAT32_MAX:  # also 1e999, which JSON parsing turns into infinity
        raise InputError(f"{path}: expected a finite number within float32 range, got "
                         f"{_shown(value)}")
    return number


def _text_value(value, path: str) -> str | None:
    if value is None:
        return None  # missing: no tokens, as a missing training text
    if not isinstance(value, str):
        raise InputError(f"{path}: expected a text (a string) or null, got {_shown(value)}")
    return value


def _category(value, path: str, field: dict, warnings: list[str]):
    if value is None:
        return None  # missing: its own one-hot column when training had missing values
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InputError(f"{path}: expected one of the categories "
                         f"{', '.join(map(_quoted, field['categories'][:10]))} (a string), got "
                         f"{_shown(value)}")
    from deepstart.problems.columns import OTHER, as_text

    text = as_text([value])[0]
    if text is not None and text not in field["categories"]:
        warnings.append(f"{path}: {_shown(value)} is not a category seen in training; encoded as "
                        + (OTHER if field["other"] else "none of the known ones (all zeros)"))
    return value


def _numbers(value, shape: tuple[int, ...], path: str, wanted: str) -> np.ndarray:
    """A nested JSON array of exactly `shape`, numbers only, as float32."""
    flat: list[float] = []

    def walk(v, level: int, where: str) -> None:
        if level == len(shape):
            flat.append(_number(v, where))
            return
        if not isinstance(v, list) or len(v) != shape[level]:
            got = f"{len(v)} item{'' if len(v) == 1 else 's'}" if isinstance(v, list) else _shown(v)
            raise InputError(f"{where}: expected {shape[level]} items, got {got}; {path} is "
                             f"{wanted}")
        for i, item in enumerate(v):
            walk(item, level + 1, f"{where}[{i}]")

    walk(value, 0, path)
    return np.asarray(flat, dtype=np.float32).reshape(shape)


def _base64(text: str, path: str) -> bytes:
    if text.startswith("data:"):  # a data URL, as canvas.toDataURL() makes
        head, _, text = text.partition(",")
        if not head.endswith(";base64"):
            raise InputError(f"{path}: a data URL must be base64 (data:image/png;base64,...)")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise InputError(f"{path}: not valid base64 ({e})") from None


# --- the app ------------------------------------------------------------------------------------

class BodyTooLarge(Exception):
    pass


class LimitBody:
    """ASGI middleware: 413 for a request body over `max_bytes`, on its Content-Length before a byte
    is kept, and by counting the bytes as they arrive (chunked bodies have no Content-Length).

    Before answering, up to DRAIN_BYTES of the rest of the body are read and dropped, as nginx's
    lingering close does: most clients send the whole body before they read the answer, and a
    server that hangs up on unread bytes makes them see a reset connection instead of the 413. A
    client that asked "Expect: 100-continue" (curl, for large bodies) gets the 413 at once."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        drain = headers.get(b"expect", b"").lower() != b"100-continue"
        if length is not None and not length.isdigit():
            return await self._refuse(send, 400)
        if length is not None and int(length) > self.max_bytes:
            if drain and int(length) <= DRAIN_BYTES:
                await _drain(receive, DRAIN_BYTES)
            return await self._refuse(send, 413)
        received = 0
        started = body_done = False

        async def counted():
            nonlocal received, body_done
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                body_done = not message.get("more_body", False)
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracked(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLarge:
            if not started:
                if drain and not body_done:  # (past the body's end, receive waits for a disconnect)
                    await _drain(receive, DRAIN_BYTES)
                await self._refuse(send, 413)

    async def _refuse(self, send, status: int):
        detail = (f"body: larger than the {self.max_bytes:,} bytes accepted" if status == 413
                  else "Content-Length: not a number of bytes")
        body = json.dumps({"detail": detail}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


async def _drain(receive, budget: int) -> None:
    """Read and drop the rest of a request body, `budget` bytes at most."""
    while budget > 0:
        message = await receive()
        if message["type"] != "http.request":
            return
        budget -= len(message.get("body", b""))
        if not message.get("more_body", False):
            return


class SecurityHeaders:
    """ASGI middleware: no MIME sniffing anywhere; the page and its files under a policy that
    allows requests to this server only."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        page = scope["path"] == "/" or scope["path"].startswith("/static/")

        async def with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-content-type-options", b"nosniff"))
                if page:
                    headers.append((b"content-security-policy", PAGE_POLICY.encode()))
                message = message | {"headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(run_folder: str | Path, max_body_bytes: int = MAX_BODY_BYTES) -> "FastAPI":
    """The FastAPI app serving the finished run in `run_folder` (its model loaded now)."""
    import anyio
    from fastapi import FastAPI, HTTPException, Request
    from fastapi.responses import FileResponse, JSONResponse, Response
    from fastapi.staticfiles import StaticFiles
    from starlette.requests import ClientDisconnect

    served = ServedModel(run_folder)
    ident = served.identity
    app = FastAPI(title=f"deepstart serve: {ident['run']}", version=ident["deepstart"],
                  description=f"{ident['family']} on {ident['problem']} ({ident['task']}), weights "
                              f"sha256 {ident['weights_sha256']}. Bodies up to "
                              f"{max_body_bytes:,} bytes.")
    app.state.served = served
    # One inference at a time, in one worker thread: the event loop stays free to answer /health
    # and to turn away bad requests while a prediction runs.
    one_at_a_time = anyio.CapacityLimiter(1)

    @app.exception_handler(InputError)
    async def input_error(request: Request, e: InputError):
        return JSONResponse({"detail": str(e)}, status_code=e.status)

    @app.post("/predict", openapi_extra=_openapi_body(served), responses=_ERROR_RESPONSES,
              summary="predict from features, an image or a window")
    async def predict(request: Request):
        try:
            work, args = await read_request(request)
        except ClientDisconnect:  # the client went away mid-body: nobody to answer
            return Response(status_code=400)
        result = await anyio.to_thread.run_sync(work, *args, limiter=one_at_a_time)
        return JSONResponse(result)

    async def read_request(request: Request):
        """The work to do for a request's body, and its arguments."""
        content_type = request.headers.get("content-type", "application/json")
        media = content_type.split(";")[0].strip().lower()
        if media == "multipart/form-data":
            form = await request.form(max_files=1, max_fields=4, max_part_size=max_body_bytes)
            try:
                upload = form.get("image")
                if upload is None or isinstance(upload, str):
                    raise InputError('image: send the PNG as the multipart form field "image" (a '
                                     "file)")
                data = await upload.read()
            finally:
                await form.close()
            return served.answer_png, (data, "image")
        if media == "image/png":
            return served.answer_png, (await request.body(), "body")
        if media == "application/json" or media.endswith("+json"):
            return served.answer_json, (await request.body(),)
        raise HTTPException(415, f"Content-Type: {media} is not taken; send application/json, "
                                 "multipart/form-data or image/png")

    @app.get("/health", summary="liveness and the model's identity")
    async def health():
        return {"status": "ok", "model": ident}

    @app.get("/schema", summary="what the model takes and returns")
    async def schema():
        return served.schema()

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    async def page():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    # Added as FastAPI middleware (not wrapped around it), so `app` stays a FastAPI for TestClient
    # and OpenAPI; the last added runs first.
    app.add_middleware(LimitBody, max_bytes=max_body_bytes)
    app.add_middleware(SecurityHeaders)
    return app


_ERROR_RESPONSES = {
    400: {"description": "the body does not parse (not JSON, NaN, broken multipart)"},
    413: {"description": "the body is larger than the limit (2 MB by default)"},
    415: {"description": "a content type other than JSON, multipart/form-data or image/png"},
    422: {"description": "the body does not fit the model; `detail` names the field"},
}


def _openapi_body(served: ServedModel) -> dict:
    """This run's request body as JSON Schema, for /openapi.json and /docs."""
    if served.kind in ("table", "text"):
        props = {}
        for f in served.fields:
            kind = {"type": "number"} if f["type"] == "number" else \
                {"type": "string", "description": f"a text; read as at most {f['length']} tokens"} \
                if f["type"] == "text" else {"type": "string", "examples": f["categories"][:5]}
            props[f["name"]] = {"anyOf": [kind, {"type": "null"}]} if f["nullable"] else kind
        features = {"type": "object", "properties": props, "required": list(props),
                    "additionalProperties": True,
                    "description": "feature values by column name; null is a missing value where "
                                   "the model imputes; extra columns the model ignores: "
                                   + (", ".join(served.ignored) or "none")}
        variants = [{"type": "object", "properties": {"features": features},
                     "required": ["features"]},
                    {"type": "object", "properties": {"rows": {"type": "array", "items": features,
                                                               "maxItems": MAX_ROWS}},
                     "required": ["rows"]}]
        if served.kind == "text":
            variants.insert(0, {"type": "object", "required": ["text"], "properties": {"text": {
                "type": "string", "description": "the text to classify"
                if served.classify else "the text"}}})
        content = {"application/json": {"schema": {"oneOf": variants}}}
    elif served.kind == "series":
        content = {"application/json": {"schema": {
            "type": "object", "required": ["window"], "properties": {"window": {
                "type": "array", "items": {"type": "number"}, "minItems": served.lookback,
                "maxItems": served.lookback,
                "description": f"the latest {served.lookback} values, oldest first"}}}}}
    elif served.kind == "sequence":
        steps, n = served.input_shape
        step = {"type": "number"} if n == 1 else {"type": "array", "items": {"type": "number"},
                                                  "minItems": n, "maxItems": n}
        content = {"application/json": {"schema": {
            "type": "object", "required": ["sequence"], "properties": {"sequence": {
                "type": "array", "items": step, "minItems": 1, "maxItems": MAX_SEQUENCE_STEPS,
                "description": f"the steps, oldest first; padded or cut to {steps} as in training"}}}}}
    else:
        c, h, w = served.input_shape
        png = {"type": "string", "format": "binary"}
        content = {
            "application/json": {"schema": {"oneOf": [
                {"type": "object", "required": ["image"], "properties": {"image": {
                    "type": "string", "contentEncoding": "base64",
                    "description": f"a PNG, resized to {w} x {h} {'grey' if c == 1 else 'RGB'}"}}},
                {"type": "object", "required": ["pixels"], "properties": {"pixels": {
                    "type": "array", "description": f"{h} x {w}" + (f" or {c} x " if c == 1 else
                                                                     f"{c} x ") + f"{h} x {w} "
                    f"numbers in the dataset's units, 0 to {served.pixel_max:g}"}}}]}},
            "multipart/form-data": {"schema": {"type": "object", "required": ["image"],
                                               "properties": {"image": png}}},
            "image/png": {"schema": png},
        }
    return {"requestBody": {"required": True, "content": content}}


# --- the command --------------------------------------------------------------------------------

def is_loopback(host: str) -> bool:
    """True when `host` is this machine only (127.0.0.0/8, ::1, or a name resolving to them)."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


def bind_error(host: str, port: int, e: OSError) -> DeepstartError:
    """What a failed bind means: a port in use wants another --port, a bad --host another host."""
    if isinstance(e, socket.gaierror):
        return DeepstartError(f"--host {host} is not an address or a name this machine resolves; "
                              "use 127.0.0.1 (this machine only) or 0.0.0.0 (every interface).")
    if e.errno == errno.EADDRINUSE:
        return DeepstartError(f"cannot listen on {host} port {port}: it is in use; pass another "
                              "--port, or --port 0 for a free one.")
    if e.errno in (errno.EACCES, errno.EPERM) and 0 < port < 1024:
        return DeepstartError(f"cannot listen on {host} port {port}: ports below 1024 need "
                              "administrator rights; pass --port 8000, or --port 0 for a free one.")
    return DeepstartError(f"cannot listen on --host {host} ({e.strerror or e}): it is not an address "
                          "of this machine; use 127.0.0.1 (this machine only) or 0.0.0.0 (every "
                          "interface).")


def _bind(host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as e:
        raise bind_error(host, port, e) from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as e:
        sock.close()
        raise bind_error(host, port, e) from None
    sock.listen(BACKLOG)  # connections queue from now on, before the "serving at" line is printed
    return sock


# Slow or hostile clients. Without these, 300 half-sent requests stayed open for ever, and past the
# open-file limit accept() failed in a loop (266,000 lines of tracebacks in a few seconds) while
# /health went unanswered.
REQUEST_SECONDS = 10.0  # for a request's headers and body to arrive, from the connection (or the
                        # previous answer on it); then the connection is closed
KEEP_ALIVE_SECONDS = 5  # an idle keep-alive connection is closed after this (uvicorn's default)
MAX_HEADER_BYTES = 16_384  # h11's limit on a request line and headers, made explicit
MAX_CONNECTIONS = 1000
# asyncio accepts up to `backlog` queued connections in one go, before the protocol sees any of
# them, and a connection closed to make room lets go of its descriptor one loop turn later: the
# descriptors kept free must cover two such batches besides the server's own files.
BACKLOG = 64
FILE_RESERVE = 2 * BACKLOG + 32


def connection_limit(most: int = MAX_CONNECTIONS) -> int:
    """Open connections the server takes: `most`, or fewer where the open-file limit would be
    reached first (each connection is a descriptor; accept() failing for want of one is what
    made the server unreachable)."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError):  # Windows: no such limit to respect
        return most
    if soft == resource.RLIM_INFINITY:
        return most
    try:
        in_use = len(os.listdir("/proc/self/fd"))
    except OSError:
        in_use = 32
    return max(1, min(most, soft - in_use - FILE_RESERVE))


class _OncePerSecond:
    """A line on stderr at most once a second, with the count of the events it stands for."""

    def __init__(self, text: str):
        self.text, self.count, self.last = text, 0, -math.inf

    def __call__(self) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self.last >= 1:
            sys.stderr.write(f"deepstart: {self.text.format(n=self.count)}\n")
            sys.stderr.flush()
            self.count, self.last = 0, now


def _quiet_server(config):
    """uvicorn's Server, with accept() failing for want of descriptors said in one line a second
    instead of a traceback each time (should the server's own files eat into the reserve)."""
    import uvicorn

    out_of_files = _OncePerSecond("could not accept {n} connection(s): out of file descriptors; "
                                  "raise the limit (ulimit -n) or let fewer clients connect at once")

    def handler(loop, context: dict) -> None:
        if context.get("message", "").startswith("socket.accept() out of system resource"):
            out_of_files()
        else:
            loop.default_exception_handler(context)

    class QuietServer(uvicorn.Server):
        async def startup(self, sockets=None) -> None:
            asyncio.get_running_loop().set_exception_handler(handler)
            await super().startup(sockets=sockets)

    return QuietServer(config)


REFUSED = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
           b"connection: close\r\ncontent-length: 62\r\n\r\n"
           b'{"detail": "too many connections at once; try again shortly"}\n')


def guarded_protocol(max_connections: int, request_seconds: float = REQUEST_SECONDS):
    """uvicorn's h11 protocol with a deadline for each request to arrive and a connection limit.

    At the limit, a new connection closes the connection that has waited longest for a request
    (half-sent headers or body, or an idle keep-alive): a client that sends its request at once is
    served however many others hold connections open without sending. When every connection is
    busy answering, the new one gets 503 and is closed; that is logged once a second at most.
    (uvicorn's own `limit_concurrency` answers 503 only once a request's headers are in, so it
    cannot refuse the half-sent requests that fill the limit.)"""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    refused = _OncePerSecond(f"refused {{n}} connection(s): all {max_connections:,} connections "
                             "busy (the limit)")

    class Guarded(H11Protocol):
        deadline = None
        since = 0.0

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._arm()
            if len(self.connections) <= max_connections:
                return
            waiting = [c for c in self.connections
                       if c is not self and c.waiting() and not c.transport.is_closing()]
            if waiting:
                min(waiting, key=lambda c: c.since).transport.close()
            else:
                transport.write(REFUSED)
                transport.close()
                refused()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()

        def connection_lost(self, exc) -> None:
            if self.deadline is not None:
                self.deadline.cancel()
            super().connection_lost(exc)

        def waiting(self) -> bool:
            """Waiting for a request, or for the rest of one: nothing to answer yet."""
            return self.cycle is None or self.cycle.response_complete or self.cycle.more_body

        def _arm(self) -> None:
            self.since = self.loop.time()
            if self.deadline is not None:
                self.deadline.cancel()
            self.deadline = self.loop.call_later(request_seconds, self._expire)

        def _expire(self) -> None:
            if self.waiting() and not self.transport.is_closing():
                self.transport.close()

    return Guarded


def serve(run_folder: str | Path, host: str = "127.0.0.1", port: int = 8000,
          max_body_bytes: int = MAX_BODY_BYTES, max_connections: int | None = None) -> int:
    """Load the run's model, bind, say where, and answer until Ctrl-C. `max_connections`
    defaults to what the open-file limit allows (connection_limit)."""
    import torch
    import uvicorn

    # Small models and one request at a time: one thread answers fastest and leaves the other
    # cores to whatever else runs on the machine.
    torch.set_num_threads(1)
    app = create_app(run_folder, max_body_bytes)  # a bad folder fails here, before binding
    sock = _bind(host, port)
    port = sock.getsockname()[1]  # --port 0: the free one the system picked
    if not is_loopback(host):
        sys.stderr.write(f"deepstart: warning: listening on {host}, not on this machine only: "
                         f"anyone who can reach it on port {port} can call the model; use --host "
                         "127.0.0.1 to keep it local.\n")
    shown = f"[{host}]" if ":" in host else host
    ident = app.state.served.identity
    print(f"serving {ident['run']} ({ident.get('class', ident['family'])} on {ident['problem']}) at "
          f"http://{shown}:{port}/ (Ctrl-C to stop)", flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, server_header=False,
                            http=guarded_protocol(max_connections or connection_limit()),
                            timeout_keep_alive=KEEP_ALIVE_SECONDS, backlog=BACKLOG,
                            h11_max_incomplete_event_size=MAX_HEADER_BYTES)
    try:
        _quiet_server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn stops on Ctrl-C, then raises it again for the caller
        pass
    print("stopped", flush=True)
    return 0
