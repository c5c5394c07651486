"""Export a finished run: the model as ONNX, checked against PyTorch, and its predictions as CSV.

    RUN/model.onnx              torch.onnx.export (the torch.export-based exporter), a dynamic batch
                                axis named "batch", input "input", output "output"; the weights
                                inside the file. Before it is kept, onnxruntime runs it on every
                                test input and its outputs are compared with PyTorch's: the largest
                                absolute difference must stay under TOLERANCE times the outputs'
                                scale (max |output|, at least 1), or nothing is written.
    RUN/predictions.csv         one row per test example: id, true, predicted, and for classes the
                                probability of each (p_<class>); forecasts add the series index
    RUN/predictions-<name>.csv  with --input FILE (runs on tables): the predictions for FILE's
                                rows, raw columns by name through the run's column schema

Models are exported in eval mode: GoogLeNet's auxiliary heads are for training only, so the graph
returns the main logits alone.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepstart.errors import DeepstartError
from deepstart.files import atomic_path, write_text
from deepstart.record import (RunRecord, load_data, load_problem, load_trained_model, model_outputs,
                              read_run, require_finished, score)

TOLERANCE = 1e-4  # max |onnxruntime - PyTorch| / max(1, max |PyTorch output|)
MIN_OPSET = 18  # the torch.export-based exporter writes opset 18 and later


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
    input_predictions: Path | None = None
    input_rows: int = 0


def export_run(folder: str | Path, opset: int | None = None, input_csv: str | Path | None = None,
               ) -> ExportResult:
    record = read_run(folder)
    require_finished(record, "export")
    if opset is not None and opset < MIN_OPSET:
        raise DeepstartError(f"opset {opset} is older than the exporter writes; pass --opset "
                             f"{MIN_OPSET} or later (or leave it out for the exporter's default).")
    input_csv = Path(input_csv) if input_csv is not None else None
    if input_csv is not None:
        _check_input_kind(record, input_csv)
    model, spec = load_trained_model(record)
    try:
        problem = load_problem(record)
        _, data = load_data(record, problem)
    except DeepstartError as e:
        raise DeepstartError(f"the test data of {record.folder} is not available here, and the "
                             f"export is checked on it: {str(e).rstrip('.')}.") from None
    outputs = model_outputs(model, spec, data.x_test, data.y_test, data.scaling)

    onnx_path = record.folder / "model.onnx"
    used_opset, diff, scale = _export_onnx(model, data.x_test, outputs.raw.numpy(), onnx_path, opset)

    metric = record.metrics["metric"]
    text = predictions_csv(outputs, spec, ids=range(len(data.x_test)),
                           series_index=_series_index(problem, record))
    predictions_path = record.folder / "predictions.csv"
    write_text(predictions_path, text)
    result = ExportResult(onnx_path, used_opset, len(data.x_test), diff, scale, predictions_path,
                          len(data.x_test), metric, score(outputs, metric),
                          float(record.metrics["test"][metric]))
    if input_csv is not None:
        result.input_predictions, result.input_rows = predict_csv(record, model, spec, input_csv)
    return result


# --- ONNX ---------------------------------------------------------------------------------------

def _export_onnx(model, x, expected: np.ndarray, path: Path, opset: int | None):
    """Export, check with onnxruntime on `x`, and only then rename onto `path`.
    Returns (opset used, max abs difference, output scale)."""
    import onnx
    import onnxruntime as ort
    import torch

    model.eval()
    example = x[:2] if len(x) >= 2 else torch.cat([x, x])[:2]  # 2 rows: the batch stays symbolic
    with _quiet():
        try:
            program = torch.onnx.export(
                model, (example,), None, input_names=["input"], output_names=["output"],
                dynamic_shapes=({0: torch.export.Dim("batch")},), opset_version=opset,
                verbose=False)
        except Exception as e:  # the exporter's errors are many and deep; say which step failed
            raise DeepstartError(f"torch.onnx.export could not export this {type(model).__name__}"
                                 f"{f' at opset {opset}' if opset else ''}: "
                                 f"{str(e).strip().splitlines()[0][:300]}") from None
    with atomic_path(path) as tmp:
        program.save(tmp, external_data=False)
        proto = onnx.load(str(tmp))
        onnx.checker.check_model(proto)
        used = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
        session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        got = np.concatenate([session.run(["output"], {"input": x[i:i + 4096].numpy()})[0]
                              for i in range(0, len(x), 4096)])
        diff = float(np.max(np.abs(got - expected))) if len(x) else 0.0
        scale = max(1.0, float(np.max(np.abs(expected))) if len(x) else 1.0)
        if not diff <= TOLERANCE * scale:  # also catches NaN
            raise ExportCheckFailed(
                f"onnxruntime's outputs differ from PyTorch's by up to {diff:.3g} on {len(x)} test "
                f"inputs (tolerance {TOLERANCE:g} x output scale {scale:.3g}); model.onnx was not "
                f"written. Try another --opset.")
    return used, diff, scale


@contextlib.contextmanager
def _quiet():
    """The exporter prints progress lines and warns about optional packages (torchvision) it does
    not need here; keep the command's output to what it did."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._export",
                                              "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
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


def _series_index(problem, record: RunRecord):
    if record.spec.get("task") != "forecast":
        return None
    raw = problem.load(download=False)
    return None if raw.test_targets is None else np.asarray(raw.test_targets)


def _check_input_kind(record: RunRecord, path: Path) -> None:
    spec = record.spec or {}
    if "columns" not in spec and not (spec.get("feature_names") and len(spec.get("input_shape", ())) == 1
                                      and spec.get("task") != "forecast"):
        what = "images" if len(spec.get("input_shape", ())) == 3 else \
            "series windows" if spec.get("task") == "forecast" else "unnamed features"
        raise DeepstartError(f"--input takes a CSV table of named columns, for runs on tables; the "
                             f"model of {record.folder} reads {what}. Drop --input.")
    if not path.is_file():
        raise DeepstartError(f"there is no file {path}; pass --input with a CSV file of rows to "
                             "predict.")


def predict_csv(record: RunRecord, model, spec: dict, path: Path) -> tuple[Path, int]:
    """Predictions for the rows of a CSV file: raw columns by name through the run's column schema
    (your own table) or the problem's feature columns (a built-in table); the target column, if the
    file has it, becomes the `true` column."""
    import torch

    from deepstart.prepare import scale_x
    from deepstart.problems.tabular import read_csv

    # the decimal mark the run read its own file with (--decimal), so 6,0 is 6.0 here too
    frame = read_csv(path, decimal=(record.config.get("data_options") or {}).get("decimal"))
    if "columns" in spec:
        from deepstart.problems.columns import encode

        x = encode(spec["columns"], {c: frame[c] for c in frame.columns})
        target = spec.get("target", {}).get("name")
    else:
        names = list(spec["feature_names"])
        missing = [n for n in names if n not in frame.columns]
        if missing:
            raise DeepstartError(f"{path} lacks the column(s) {', '.join(missing[:10])}; the model "
                                 f"needs the columns {', '.join(names)}.")
        try:
            x = frame[names].to_numpy(np.float32)
        except ValueError:
            raise DeepstartError(f"{path} has text in the feature columns; the model needs numbers "
                                 f"in {', '.join(names)}.") from None
        target = None
    x = torch.from_numpy(scale_x(np.asarray(x, np.float32), spec["scaling"]["x"]))
    outputs = model_outputs(model, spec, x, None, spec.get("scaling"))
    true_text = None
    if target and target in frame.columns:  # the answers, where the file has them
        from deepstart.problems.columns import as_numbers, as_text

        if spec["task"] in ("binary", "multiclass"):
            true_text = [v or "" for v in as_text(frame[target])]
        else:
            true_text = ["" if np.isnan(v) else f"{v:.8g}" for v in as_numbers(frame[target])]
    out = record.folder / f"predictions-{Path(path).stem}.csv"
    write_text(out, predictions_csv(outputs, spec, ids=range(len(frame)), true_text=true_text))
    return out, len(frame)
