"""Export a finished run: the model as ONNX that takes raw inputs, checked with onnxruntime on the
raw test inputs, and its predictions as CSV.

    RUN/model.onnx              the run's network behind its preprocessing, so that it takes the
                                inputs a user holds (docs/export.md shows each kind):
                                  images: "image", (batch, C, H, W) pixels in the dataset's own
                                    units (uint8 where it stores uint8), scaled in the graph;
                                  series: "window", (batch, lookback) values, scaled in the graph;
                                  tables: one input per column, by column name, (batch, 1): float32
                                    for numbers (NaN where missing: imputed, with the indicator
                                    columns), strings for text columns (one-hot in the graph through
                                    ai.onnx.ml LabelEncoder; "" or "nan" is missing, an unseen
                                    category encodes as in training); then standardised;
                                  text: "input_ids", (batch, L) int64 token ids padded with 0 at
                                    the end, as RUN/tokenizer.json encodes the texts (beside the
                                    columns of a mixed table, which come first as above).
                                Outputs: "label" (class names) and "probabilities" for classes,
                                "value" (in the target's units) otherwise. A dynamic batch axis
                                named "batch"; the weights inside the file; what the inputs and
                                outputs are in the metadata property "deepstart".
                                Before it is kept, onnxruntime runs it on the raw test inputs as
                                stored (the image arrays, the CSV's test rows, the series' windows):
                                its outputs must match PyTorch's on the prepared inputs within
                                TOLERANCE times the outputs' scale (max |output|, at least 1), and
                                its labels PyTorch's on every row, so the test score recomputed from
                                its outputs is the run's; else nothing is written.
    RUN/tokenizer.json          runs on text: the run's tokenizer (Hugging Face `tokenizers` JSON,
                                `Tokenizer.from_file`), padding and cutting to L; the check above
                                encodes the raw test texts with this file, not with the run's
                                prepared ids, and its ids must equal the run's for every text
    RUN/predictions.csv         one row per test example: id, true, predicted, and for classes the
                                probability of each (p_<class>); forecasts add the series index
    RUN/predictions-<name>.csv  with --input FILE (runs on tables): the predictions for FILE's
                                rows, raw columns by name, checked as `serve` checks a request's
                                rows (one shared check): a refused file writes nothing at all

Models are exported in eval mode: GoogLeNet's auxiliary heads are for training only, so the graph
returns the main logits alone.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from deepstart.errors import DeepstartError
from deepstart.files import atomic_path, write_text
from deepstart.record import (RunRecord, load_data, load_problem, load_trained_model, model_outputs,
                              read_run, require_finished, score)

TOKENIZER_FILE = "tokenizer.json"
TOLERANCE = 1e-4  # max |onnxruntime - PyTorch| / max(1, max |PyTorch output|)
MIN_OPSET = 18  # the torch.export-based exporter writes opset 18 and later
ML_OPSET = 3  # ai.onnx.ml, for LabelEncoder with string keys (since version 2)
BATCH = 4096  # rows per onnxruntime call in the check


class ExportCheckFailed(DeepstartError):
    """onnxruntime's outputs differ from PyTorch's by more than the tolerance."""


@dataclass
class ExportResult:
    onnx_path: Path
    opset: int
    checked_rows: int
    max_abs_diff: float
    output_scale: float
    predictions_path: Path
    rows: int
    metric: str
    recomputed: float  # the test score recomputed from predictions.csv's rows
    recorded: float  # metrics.json's test score
    onnx_score: float = math.nan  # the test score from onnxruntime's outputs on the raw test inputs
    inputs: tuple[str, ...] = ()  # the graph's input names
    input_predictions: Path | None = None
    input_rows: int = 0
    tokenizer_path: Path | None = None  # runs on text: RUN/tokenizer.json


def max_opset() -> int:
    """The newest opset the installed onnx knows (the exporter converts up to it)."""
    import onnx

    return int(onnx.defs.onnx_opset_version())


def check_opset(opset: int | None) -> None:
    if opset is None:
        return
    top = max_opset()
    if not MIN_OPSET <= opset <= top:
        raise DeepstartError(f"opset {opset} is outside the range this exporter writes, {MIN_OPSET} "
                             f"to {top}; pass --opset {MIN_OPSET} to {top} (or leave it out for the "
                             "exporter's default).")


def export_run(folder: str | Path, opset: int | None = None, input_csv: str | Path | None = None,
               ) -> ExportResult:
    record = read_run(folder)
    require_finished(record, "export")
    check_opset(opset)
    input_csv = Path(input_csv) if input_csv is not None else None
    if input_csv is not None:
        _check_input_kind(record, input_csv)
    model, spec = load_trained_model(record)
    # --input first: a refused file must leave model.onnx and predictions.csv as they were
    given = predict_csv(record, model, spec, input_csv) if input_csv is not None else None
    try:
        problem = load_problem(record)
        raw, data = load_data(record, problem)
    except DeepstartError as e:
        raise DeepstartError(f"the test data of {record.folder} is not available here, and the "
                             f"export is checked on it: {str(e).rstrip('.')}.") from None
    outputs = model_outputs(model, spec, data.x_test, data.y_test, data.scaling)
    metric = record.metrics["metric"]
    layout, feeds = raw_test_inputs(spec, raw, data)
    tokens = next((item for item in layout if item["kind"] == "tokens"), None)
    if tokens is not None:
        _check_token_ids(tokens, feeds[tokens["name"]], data)
    proto, used_opset = _export_onnx(model, spec, layout, feeds, opset)
    if opset is not None and used_opset != opset:
        raise DeepstartError(f"the exporter wrote opset {used_opset} where --opset {opset} was "
                             f"asked; nothing was written. Pass --opset {used_opset}, or leave it "
                             "out.")
    diff, scale, onnx_score = _check_onnx(proto, spec, layout, feeds, outputs, metric)

    text = predictions_csv(outputs, spec, ids=range(len(data.x_test)),
                           series_index=_series_index(raw, record))
    # every check has passed: only now is anything written
    onnx_path = record.folder / "model.onnx"
    with atomic_path(onnx_path) as tmp:
        tmp.write_bytes(proto.SerializeToString())
    tokenizer_path = None
    if tokens is not None:  # the file the check encoded the test texts with
        tokenizer_path = record.folder / TOKENIZER_FILE
        write_text(tokenizer_path, json.dumps(tokens["entry"]["tokenizer"], ensure_ascii=False))
    predictions_path = record.folder / "predictions.csv"
    write_text(predictions_path, text)
    result = ExportResult(onnx_path, used_opset, len(data.x_test), diff, scale, predictions_path,
                          len(data.x_test), metric, _or_nan(score(outputs, metric)),
                          _or_nan(record.metrics["test"][metric]), onnx_score,
                          tuple(item["name"] for item in layout), tokenizer_path=tokenizer_path)
    if given is not None:
        out_path, out_text, result.input_rows = given
        write_text(out_path, out_text)
        result.input_predictions = out_path
    return result


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else value


# --- the raw inputs -------------------------------------------------------------------------------

def raw_test_inputs(spec: dict, raw, data) -> tuple[list[dict], dict[str, np.ndarray]]:
    """The graph's inputs (name, kind, dtype and what the graph does with them) and the run's
    test inputs in that form, as a user holds them: the stored image arrays, a table's test rows
    as read from its file (one array per column), the series' raw windows."""
    shape = tuple(spec["input_shape"])
    if len(shape) == 3:
        x = np.asarray(raw.x_test)
        x = x if x.dtype == np.uint8 else x.astype(np.float32)
        x = x.reshape(len(x), *shape)
        item = {"name": "image", "kind": "image", "dtype": str(x.dtype), "shape": list(shape),
                "pixel_max": spec.get("pixel_max")}
        return [item], {"image": x}
    if spec["task"] == "forecast":
        from deepstart.prepare import window_index

        series = np.asarray(raw.series, dtype=np.float32)
        x = series[window_index(raw.test_targets, data.lookback, data.horizon)]
        return [{"name": "window", "kind": "window", "dtype": "float32",
                 "shape": [int(data.lookback)]}], {"window": x}
    if "columns" in spec:
        if raw.test_rows is None:
            raise DeepstartError("the table's test rows were not kept as read; update deepstart's "
                                 "data loading and export again.")
        layout, feeds = [], {}
        for e in spec["columns"]:
            if e.get("dropped") or e["kind"] == "text":
                continue
            values = raw.test_rows[e["name"]]
            if e["kind"] == "numeric":
                from deepstart.problems.columns import as_numbers

                layout.append({"name": e["name"], "kind": "number", "dtype": "float32",
                               "impute": e["impute"], "indicator": e["indicator"]})
                feeds[e["name"]] = as_numbers(values).astype(np.float32)[:, None]
            else:
                layout.append({"name": e["name"], "kind": "category", "dtype": "string",
                               "entry": e})
                feeds[e["name"]] = text_column(values)
        from deepstart.text import text_entry

        entry = text_entry(spec)
        if entry is not None:  # the token ids come after the other columns' features
            name = "input_ids"
            while name in {e["name"] for e in spec["columns"]}:
                name += "_"
            layout.append({"name": name, "kind": "tokens", "dtype": "int64",
                           "shape": [int(entry["length"])], "pad_id": int(entry["pad_id"]),
                           "vocab_size": int(entry["vocab_size"]), "columns": entry["columns"],
                           "tokenizer": TOKENIZER_FILE, "entry": entry})
            feeds[name] = token_ids(entry, raw.test_rows)
        return layout, feeds
    names = list(spec.get("feature_names") or ())
    x = np.asarray(raw.x_test, dtype=np.float32).reshape(len(raw.x_test), -1)
    if len(shape) == 1 and len(names) == shape[0]:
        layout = [{"name": n, "kind": "number", "dtype": "float32"} for n in names]
        return layout, {n: x[:, j:j + 1] for j, n in enumerate(names)}
    return [{"name": "input", "kind": "input", "dtype": "float32", "shape": list(shape)}], \
        {"input": x.reshape(len(x), *shape)}


def token_ids(entry: dict, rows) -> np.ndarray:
    """The texts of raw rows (a frame, or a dict of columns) -> (rows, L) int64 token ids, as
    docs/export.md's snippet computes them: the entry's columns joined as the run joined them,
    then the tokenizer JSON that export writes as tokenizer.json (not the run's prepared ids)."""
    from tokenizers import Tokenizer

    from deepstart.text import join_columns

    texts = join_columns({c: rows[c] for c in entry["columns"]})
    tokenizer = Tokenizer.from_str(json.dumps(entry["tokenizer"]))
    encodings = tokenizer.encode_batch(["" if t is None else t for t in texts])
    return np.array([e.ids for e in encodings], dtype=np.int64).reshape(len(texts), -1)


def _check_token_ids(item: dict, ids: np.ndarray, data) -> None:
    """tokenizer.json on the raw test texts must give the token ids the run scored (the last L
    features of its prepared inputs, which prepare leaves unscaled)."""
    length = item["shape"][0]
    prepared = np.asarray(data.x_test).reshape(len(data.x_test), -1)
    want = prepared[:, prepared.shape[1] - length:].astype(np.int64)
    differ = int(np.sum(np.any(ids != want, axis=1))) if ids.shape == want.shape else len(ids)
    if differ:
        raise ExportCheckFailed(
            f"the tokenizer written as {TOKENIZER_FILE} encodes {differ} of the {len(ids)} raw "
            "test texts into other token ids than the run's; nothing was written. Rerun the run "
            "with this deepstart, then export it.")


def text_column(values) -> np.ndarray:
    """A text column as the snippet in docs/export.md hands it over: (rows, 1) str, missing values
    as "nan" (which the graph reads as missing). Through object first: with pyarrow installed,
    pandas 3's string columns convert with `to_numpy(str)` to ONE character per value ('n' for
    'nan', 'a' for 'abc')."""
    import pandas as pd

    return pd.DataFrame({"c": values}).astype(object).to_numpy().astype(str)


def _category_codes(e: dict) -> tuple[dict[str, int], list[int]]:
    """The LabelEncoder's table (text -> code) and the codes each one-hot feature of the column
    is equal to, in the column's feature order: category i -> i, unseen -> -1, missing -> k."""
    k = len(e["categories"])
    keys = {c: i for i, c in enumerate(e["categories"])}
    for missing in ("", "nan"):
        keys.setdefault(missing, k)
    targets = list(range(k)) + [-1] * bool(e["other"]) + [k] * bool(e["missing_category"])
    return keys, targets


def _graph_module(net, spec: dict, layout: list[dict]):
    """`net` behind the run's preprocessing and ahead of its output transform, as one torch
    module: raw inputs in, labels and probabilities (or values in the target's units) out. Its
    arithmetic is prepare's and model_outputs', in float32, so the outputs are those of the run."""
    import torch
    from torch import nn

    from deepstart.prepare import NO_SCALING

    shape = tuple(spec["input_shape"])
    sx = (spec.get("scaling") or {}).get("x", NO_SCALING)
    sy = (spec.get("scaling") or {}).get("y", NO_SCALING)

    def scaling(v) -> torch.Tensor:
        a = np.asarray(v, dtype=np.float32)
        return torch.from_numpy(a if a.ndim == 0 else a.reshape(shape).copy())

    class RawInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net
            self.register_buffer("offset", scaling(sx["offset"]))
            self.register_buffer("scale", scaling(sx["scale"]))
            for i, item in enumerate(layout):
                if item["kind"] == "category":
                    codes = torch.tensor(_category_codes(item["entry"])[1], dtype=torch.int64)
                    self.register_buffer(f"codes{i}", codes)
                elif "impute" in item:
                    self.register_buffer(f"impute{i}", torch.tensor(item["impute"],
                                                                    dtype=torch.float32))

        def forward(self, *inputs):
            if layout[0]["kind"] in ("number", "category", "tokens"):
                blocks = []
                for i, (v, item) in enumerate(zip(inputs, layout)):
                    if item["kind"] == "tokens":  # the last item: ids as the float features
                        blocks.append(v.float())  # (exact below 2**24) that prepare gives
                    elif item["kind"] == "category":  # v: the LabelEncoder's codes, (batch, 1)
                        blocks.append((v == getattr(self, f"codes{i}")).float())
                    elif "impute" in item:  # as columns.encode: NaN and infinities are missing
                        miss = torch.isnan(v) | torch.isinf(v)
                        blocks.append(torch.where(miss, getattr(self, f"impute{i}"), v))
                        if item["indicator"]:
                            blocks.append(miss.float())
                    else:
                        blocks.append(v)
                x = torch.cat(blocks, 1)
            else:
                x = inputs[0].float()
            out = self.net((x - self.offset) / self.scale).float()
            task = spec["task"]
            if task == "multiclass":
                return out.argmax(1), torch.softmax(out, 1)
            if task == "binary":
                logits = spec.get("loss") == "bce"
                p = torch.sigmoid(out) if logits else out.clamp(0, 1)
                return (out > (0.0 if logits else 0.5)).reshape(-1).long(), torch.cat([1 - p, p], 1)
            return out.reshape(-1) * sy["scale"] + sy["offset"]

    return RawInputs().eval()


# --- ONNX ---------------------------------------------------------------------------------------

def _classes(spec: dict) -> list[str]:
    """Class names as serve shows them: the run's, else the class indices."""
    names = [str(c) for c in spec.get("class_names") or []]
    if names:
        return names
    return ["0", "1"] if spec["task"] == "binary" else \
        [str(i) for i in range(spec["config"]["out_features"])]


def output_names(spec: dict, layout: list[dict]) -> list[str]:
    """["label", "probabilities"] for classes, ["value"] otherwise; a column of the same name
    keeps its name and the output takes a trailing "_"."""
    taken = {item["name"] for item in layout}
    names = ["label", "probabilities"] if spec["task"] in ("binary", "multiclass") else ["value"]
    out = []
    for n in names:
        while n in taken:
            n += "_"
        out.append(n)
    return out


def _export_onnx(model, spec: dict, layout: list[dict], feeds: dict, opset: int | None):
    """The ONNX model (in memory) of `model` behind the preprocessing, and the opset it uses."""
    import torch

    wrapped = _graph_module(model, spec, layout)
    examples = []
    for item in layout:  # 2 rows, so that the batch stays symbolic
        a = feeds[item["name"]]
        if item["kind"] == "category":  # the torch graph reads the LabelEncoder's codes
            a = np.zeros((2, 1), dtype=np.int64)
        elif len(a) < 2:
            a = np.zeros((2, *a.shape[1:]), dtype=a.dtype)
        examples.append(torch.from_numpy(np.ascontiguousarray(a[:2])))
    batch = torch.export.Dim("batch")
    outputs = output_names(spec, layout)
    if len(outputs) == 2:
        outputs = ["label_index", outputs[1]]
    with _quiet():
        try:
            program = torch.onnx.export(
                wrapped, tuple(examples), None, input_names=[f"input_{i}" for i in range(len(layout))],
                output_names=outputs, dynamic_shapes=(tuple({0: batch} for _ in examples),),
                opset_version=opset, verbose=False)
        except Exception as e:  # the exporter's errors are many and deep; say which step failed
            raise DeepstartError(f"torch.onnx.export could not export this {type(model).__name__}"
                                 f"{f' at opset {opset}' if opset else ''}: "
                                 f"{_plain_line(e)}") from None
    proto = program.model_proto
    _raw_graph(proto, spec, layout)
    used = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    return proto, used


def _plain_line(e: Exception) -> str:
    """An exporter error's first line, without the terminal colour codes torch.export puts in."""
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", str(e).strip().splitlines()[0])[:300]


def _raw_graph(proto, spec: dict, layout: list[dict]) -> None:
    """Name the graph's inputs after the columns, put the text columns' LabelEncoders in front
    of the codes the torch graph reads, and turn the predicted class index into its name."""
    import onnx
    from onnx import TensorProto, helper

    g = proto.graph
    classify = spec["task"] in ("binary", "multiclass")
    outputs = output_names(spec, layout)
    final = [item["name"] for item in layout] + outputs
    taken = set(final) | _all_names(g)

    def fresh(name: str) -> str:
        while name in taken:
            name += "_"
        taken.add(name)
        return name

    # internal values that happen to carry a column's name (a column "relu") move aside
    kept = {o.name for o in g.output} - {"label_index"}
    mapping = {n: fresh(n) for n in _all_names(g) if n in final and n not in kept}
    torch_inputs = [i.name for i in g.input]
    for item, name in zip(layout, torch_inputs):
        mapping[name] = fresh(f"{item['name']}_code") if item["kind"] == "category" else item["name"]
    _rename(g, mapping)

    front = []
    for item, old in zip(layout, torch_inputs):
        if item["kind"] != "category":
            continue
        code = mapping[old]
        keys, _ = _category_codes(item["entry"])
        position = next(i for i, v in enumerate(g.input) if v.name == code)
        g.input.remove(g.input[position])
        g.input.insert(position, helper.make_tensor_value_info(item["name"], TensorProto.STRING,
                                                               ["batch", 1]))
        front.append(helper.make_node("LabelEncoder", [item["name"]], [code], domain="ai.onnx.ml",
                                      keys_strings=list(keys), values_int64s=list(keys.values()),
                                      default_int64=-1, name=fresh(f"encode_{item['name']}")))
    if front:
        proto.opset_import.append(helper.make_opsetid("ai.onnx.ml", ML_OPSET))
    for i, node in enumerate(front):
        g.node.insert(i, node)

    if classify:
        index_name = mapping.get("label_index", "label_index")
        index = next(o for o in g.output if o.name == index_name)
        classes = _classes(spec)
        names = fresh("class_names")
        g.node.append(helper.make_node("Constant", [], [names], name=fresh("class_names_const"),
                                       value=helper.make_tensor(names, TensorProto.STRING,
                                                                [len(classes)],
                                                                [c.encode() for c in classes])))
        g.node.append(helper.make_node("Gather", [names, index_name], [outputs[0]], axis=0,
                                       name=fresh("label_of_index")))
        g.output.remove(index)
        g.output.insert(0, helper.make_tensor_value_info(outputs[0], TensorProto.STRING,
                                                         ["batch"]))
    meta = {"task": spec["task"], "problem": spec.get("problem"),
            "inputs": [{k: v for k, v in item.items() if k != "entry"}
                       | ({"categories": item["entry"]["categories"]}
                          if item["kind"] == "category" else {}) for item in layout],
            "outputs": [o.name for o in g.output]}
    if classify:
        meta["classes"] = classes
    helper.set_model_props(proto, {"deepstart": json.dumps(meta)})
    onnx.checker.check_model(proto)


def _all_names(g) -> set[str]:
    names = {v.name for v in list(g.input) + list(g.output) + list(g.value_info)}
    names |= {t.name for t in g.initializer}
    for node in g.node:
        names |= set(node.input) | set(node.output)
    names.discard("")
    return names


def _rename(g, mapping: dict[str, str]) -> None:
    """Rename values everywhere in graph `g` (subgraphs too, which may read outer values)."""
    for v in list(g.input) + list(g.output) + list(g.value_info):
        v.name = mapping.get(v.name, v.name)
    for t in g.initializer:
        t.name = mapping.get(t.name, t.name)
    for node in g.node:
        node.input[:] = [mapping.get(n, n) for n in node.input]
        node.output[:] = [mapping.get(n, n) for n in node.output]
        for a in node.attribute:
            for sub in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                _rename(sub, mapping)


def _check_onnx(proto, spec: dict, layout: list[dict], feeds: dict, expected, metric: str):
    """Run the graph on the raw test inputs with onnxruntime; compare with PyTorch's outputs on the
    prepared inputs (`expected`). Returns (max abs difference, output scale, test score from
    onnxruntime's outputs, in `metric`)."""
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    except Exception as e:  # an opset onnxruntime does not know yet, an operator it lacks
        raise ExportCheckFailed(f"onnxruntime cannot load the exported graph "
                                f"({str(e).strip().splitlines()[0][:200]}); model.onnx was not "
                                "written. Try another --opset.") from None
    n = len(next(iter(feeds.values())))
    classify = spec["task"] in ("binary", "multiclass")
    names = output_names(spec, layout)
    parts = [session.run(names, {k: v[i:i + BATCH] for k, v in feeds.items()})
             for i in range(0, n, BATCH)]
    got = [np.concatenate([p[j] for p in parts]) if parts else None for j in range(len(names))]
    want = expected.proba if classify else expected.predicted
    values = got[1] if classify else got[0]
    diff = float(np.max(np.abs(values - want))) if n else 0.0
    scale = max(1.0, float(np.max(np.abs(want))) if n else 1.0)
    if not diff <= TOLERANCE * scale:  # also catches NaN
        raise ExportCheckFailed(
            f"onnxruntime's outputs on the {n} raw test inputs differ from PyTorch's on the prepared "
            f"ones by up to {diff:.3g} (tolerance {TOLERANCE:g} x output scale {scale:.3g}); "
            "model.onnx was not written. Try another --opset.")
    if classify:
        classes = np.asarray(_classes(spec), dtype=object)
        labels = got[0].astype(object) if n else np.zeros(0, object)
        differ = int(np.sum(labels != classes[expected.predicted]))
        if differ:
            raise ExportCheckFailed(
                f"onnxruntime predicts another class than PyTorch for {differ} of the {n} raw test "
                "inputs; model.onnx was not written. Try another --opset.")
    from deepstart.problems.metrics import compute

    # the run's metric from onnxruntime's own outputs (its labels are PyTorch's, checked above)
    onnx_score = (compute(metric, expected.true, values.argmax(1), score=values[:, -1]) if classify
                  else compute(metric, expected.true, values)) if n else math.nan
    return diff, scale, onnx_score


@contextlib.contextmanager
def _quiet():
    """The exporter prints progress lines and warns about optional packages (torchvision) it does
    not need here; keep the command's output to what it did."""
    # (symbolic_shapes: a text model's cut to its longest text is a data-dependent size, which
    # the exporter keeps symbolic, printing the whole graph as a warning)
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._export",
                                              "onnxscript", "torch.fx.experimental.symbolic_shapes")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):  # failures raise, and are said
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


# --- predictions --------------------------------------------------------------------------------

def predictions_csv(outputs, spec: dict, ids, series_index=None, true_text=None) -> str:
    """CSV text: id, [series_index], [true], predicted, [p_<class> ...]. The true column comes from
    `outputs.true` (test rows) or `true_text` (the rows of a given file, "" where unknown)."""
    classes = list(spec.get("class_names") or [])
    classify = spec["task"] in ("binary", "multiclass")
    if classify and not classes:
        classes = [str(i) for i in range(outputs.proba.shape[1])]
    if true_text is None and outputs.true is not None:
        true_text = [classes[int(t)] if classify else f"{float(t):.8g}" for t in outputs.true]
    header = ["id"] + (["series_index"] if series_index is not None else [])
    header += (["true"] if true_text is not None else []) + ["predicted"]
    if classify:
        header += [f"p_{c}" for c in classes]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for i, row_id in enumerate(ids):
        row: list = [row_id]
        if series_index is not None:
            row.append(int(series_index[i]))
        if true_text is not None:
            row.append(true_text[i])
        if classify:
            row.append(classes[int(outputs.predicted[i])])
            row += [f"{p:.6g}" for p in outputs.proba[i]]
        else:
            row.append(f"{float(outputs.predicted[i]):.8g}")
        writer.writerow(row)
    return buf.getvalue()


def _series_index(raw, record: RunRecord):
    if record.spec.get("task") != "forecast":
        return None
    return None if raw.test_targets is None else np.asarray(raw.test_targets)


def _check_input_kind(record: RunRecord, path: Path) -> None:
    spec = record.spec or {}
    table_sequences = (spec.get("sequence") or {}).get("from") == "table"
    if "columns" not in spec and not table_sequences and not (
            spec.get("feature_names") and len(spec.get("input_shape", ())) == 1
            and spec.get("task") != "forecast"):
        what = "images" if len(spec.get("input_shape", ())) == 3 else \
            "series windows" if spec.get("task") == "forecast" else \
            "sequences from a folder of files" if "sequence" in spec else "unnamed features"
        raise DeepstartError(f"--input takes a CSV table of named columns, for runs on tables; the "
                             f"model of {record.folder} reads {what}. Drop --input.")
    if not path.is_file():
        raise DeepstartError(f"there is no file {path}; pass --input with a CSV file of rows to "
                             "predict.")


def predict_csv(record: RunRecord, model, spec: dict, path: Path) -> tuple[Path, str, int]:
    """(where, CSV text, rows) of the predictions for the rows of a CSV file, written by the
    caller once everything has passed. Raw columns by name go through the check `serve` gives a
    request's rows, so a file is refused for what a request is refused for (an unknown or missing
    column, text in a numeric column, a missing value where the model cannot impute one, an
    infinite number), with its row and column named; the target column, if the file has it,
    becomes the `true` column."""
    import torch

    from deepstart.prepare import NO_SCALING, scale_x
    from deepstart.problems.tabular import read_csv
    from deepstart.serve import InputError, _table_fields, table_inputs

    # the decimal mark the run read its own file with (--decimal), so 6,0 is 6.0 here too
    frame = read_csv(path, decimal=(record.config.get("data_options") or {}).get("decimal"))
    if "sequence" in spec:  # a table read as sequences: its step columns, padded or cut as trained
        from deepstart.problems.user import sequence_rows

        try:
            x = sequence_rows(spec, frame, path)
        except DeepstartError as e:
            raise DeepstartError(f"{str(e).rstrip('.')}; nothing was written.") from None
    else:
        numbers = {f["name"] for f in _table_fields(spec) if f["type"] == "number"}
        rows = [{k: _cell(v, k in numbers) for k, v in row.items()}
                for row in frame.to_dict("records")]
        try:
            x, _ = table_inputs(spec, rows, lambda i, name: f"row {i + 1}, column {json.dumps(name)}")
        except InputError as e:
            raise DeepstartError(f"{path}: {e}; nothing was written.") from None
    x = torch.from_numpy(scale_x(x, (spec.get("scaling") or {}).get("x", NO_SCALING)))
    outputs = model_outputs(model, spec, x, None, spec.get("scaling"))
    target = (spec.get("target") or {}).get("name")
    true_text = None
    if target and target in frame.columns:  # the answers, where the file has them
        from deepstart.problems.columns import as_numbers, as_text

        if spec["task"] in ("binary", "multiclass"):
            true_text = [v or "" for v in as_text(frame[target])]
        else:
            true_text = ["" if np.isnan(v) else f"{v:.8g}" for v in as_numbers(frame[target])]
    out = record.folder / f"predictions-{Path(path).stem}.csv"
    return out, predictions_csv(outputs, spec, ids=range(len(frame)), true_text=true_text), len(frame)


def _cell(value, number: bool):
    """A CSV cell as a request's JSON value: None where the reader found nothing (an empty cell,
    "?", "NA"), numbers as numbers; in a numeric column, text that reads as a number is one."""
    if not isinstance(value, str) and pd.isna(value):
        return None
    if isinstance(value, (bool, np.bool_)):
        return float(value)  # training read true/false as 1/0
    if isinstance(value, np.generic):
        return value.item()
    if number and isinstance(value, str):
        with contextlib.suppress(ValueError):
            return float(value)
    return value
