"""`deepstart report RUN`: one self-contained HTML file per run, rendered from the run folder alone.

The page needs no network and no script: every picture is a PNG inside the file (a data: URI), the
CSS is inline, and the template (deepstart/templates/report.html.j2, Jinja2 with autoescaping) loads
nothing. The model comes back from model.json + model.safetensors (no pickle) and the data from the
problem named in config.json, through the same `prepare`, so nothing from training is needed; data
that is not on this machine is never downloaded: the sections that need it say so instead.

Sections: problem and data (sizes, class balance, sample images or a feature table, or the series;
for text, sample training texts and the vocabulary),
model summary, learning curves, confusion matrix and per-class scores (or residuals), the worst
mistakes (highest-loss test examples: images, rows, or texts with their probabilities), the leaderboard of the newest `deepstart evaluate` of the
problem beside the run, the benchmark comparison, tuning plots (RUN/tuning/), the diagnosis and next
steps, and the facts to reproduce it. A run without metrics.json gets a page that says it has not
finished, with what exists so far.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import math
from importlib import resources
from pathlib import Path

import numpy as np

from deepstart.errors import DeepstartError
from deepstart.files import read_json, write_text
from deepstart.record import (RunRecord, load_data, load_problem, load_trained_model, model_outputs,
                              read_run)

WORST = 12  # mistakes shown
SAMPLES_PER_CLASS = 8
MAX_CLASSES_SHOWN = 10
MAX_FEATURES_SHOWN = 40  # rows of the feature table
MAX_MISTAKE_FEATURES = 8  # feature columns beside each mistake of a table
CELL_PIXELS = 56  # sample images are scaled up (nearest neighbour) to about this size
TEXTS_PER_CLASS = 2  # sample training texts shown per class (6 for a regression)
TOP_TOKENS = 30  # most frequent tokens of the training texts listed
TEXT_CHARS = 600  # a text longer than this is shown cut, with an ellipsis


def write_report(folder: str | Path, out: str | Path | None = None, written: str | None = None) -> Path:
    """Render the report of a run folder to `out` (default RUN/report.html), atomically. `written`
    replaces the time in "report written ..." (the portfolio passes a fixed text, so that the same
    run folders give the same bytes)."""
    record = read_run(folder)
    out = Path(out) if out is not None else record.folder / "report.html"
    if out.is_dir():
        raise DeepstartError(f"--out {out} is a folder; give a file name such as {out / 'report.html'}.")
    from deepstart.run import check_writable

    check_writable(out.parent, what=f"the report {out}", flag="--out", create=False)
    write_text(out, without_local_paths(render(context(record, written)), local_paths(record)))
    return out


# --- paths: a report is a page to publish, so it shows no absolute path of this machine ----------

def shown_path(path: str | Path) -> str:
    """`path` as a published page shows it: relative to the working folder when it lies inside
    it, else the file or folder name alone."""
    path = Path(path)
    if not path.is_absolute():
        return str(path)
    try:
        return str(path.relative_to(Path.cwd())) or "."
    except ValueError:
        return path.name or str(path)


def local_paths(record: RunRecord) -> list[str]:
    """The absolute paths a run's pages could show: its data (config.json's problem), its
    folder, and those in its command line (--out, --data-dir), longest first."""
    import shlex

    c = record.config or {}
    paths = [str(c.get("problem", "")), str(record.folder.resolve())]
    try:
        paths += [word.split("=", 1)[-1] for word in shlex.split(str(c.get("command") or ""))]
    except ValueError:  # unbalanced quotes in a hand-edited config.json
        pass
    return sorted({p.rstrip("/") for p in paths if p.startswith("/") and len(p) > 1},
                  key=len, reverse=True)


def without_local_paths(text: str, paths: list[str]) -> str:
    """`text` (HTML or plain) with each of `paths` replaced by its shown_path."""
    from markupsafe import escape

    for path in paths:
        for form in dict.fromkeys((path, str(escape(path)))):
            text = text.replace(form, shown_path(path))
    return text


def render(ctx: dict) -> str:
    from jinja2 import Environment, StrictUndefined

    text = resources.files("deepstart").joinpath("templates/report.html.j2").read_text(encoding="utf-8")
    env = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = _num
    env.filters["score"] = _score
    return env.from_string(text).render(**ctx)


# --- the context: everything the template shows -------------------------------------------------

def context(record: RunRecord, written: str | None = None) -> dict:
    from deepstart.console import offscreen_figures

    offscreen_figures()

    c, m = record.config, record.metrics
    ctx: dict = {
        "folder": str(record.folder), "name": record.folder.name, "config": c, "env": record.env,
        "finished": record.finished, "metrics": m,
        "generated": written or dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "problem": None, "data": None, "data_error": None, "model": None, "curves": None,
        "results": None, "mistakes": None, "leaderboard": None, "benchmark": None, "tuning": None,
        "diagnosis": None, "diagnosis_error": None, "size_line": None, "paper_line": None,
        "learning_curve": None, "history_rows": record.history[-5:],
        "epochs_done": len(record.history), "repro": _repro(record),
        "backbone": backbone_facts(record),
    }
    metric = m["metric"] if m else ("accuracy" if (record.spec or {}).get("task") in
                                    ("binary", "multiclass") else None)
    if record.history:
        from deepstart.history import History

        history = History(record.history, metric or _metric_from_history(record.history))
        ctx["curves"] = _png(history.figure(f"{_problem_name(record)} — {c['model']}"))
    if not record.finished:
        ctx["headline"] = None
        ctx["tuning"] = _tuning(record.folder)
        return ctx
    ctx["headline"] = {"metric": metric, "value": m["test"][metric],
                       "text": _fmt(_number(m["test"][metric]), metric), "status": m.get("status", "finished"),
                       "best": _best_reference(m)}
    from deepstart.models.custom import result_lines

    ctx["size_line"], ctx["paper_line"] = result_lines(m)  # parameters, FLOPs; the paper's figures
    try:
        problem = load_problem(record)
    except (DeepstartError, OSError) as e:
        problem = None
        ctx["data_error"] = f"the problem could not be built here: {str(e).rstrip('.')}"
    outputs = data = raw = None
    model = spec = None
    if record.spec is not None:
        model, spec = load_trained_model(record)
    if problem is not None:
        ctx["problem"] = _problem_facts(problem)
        try:
            raw, data = load_data(record, problem)
        except (DeepstartError, OSError) as e:
            ctx["data_error"] = f"the data is not on this machine: {str(e).rstrip('.')}"
    if model is not None:
        shape = tuple(spec["input_shape"])
        ctx["model"] = _model_facts(model, spec, shape)
    if data is not None and model is not None:
        outputs = model_outputs(model, spec, data.x_test, data.y_test, data.scaling)
        ctx["data"] = _data_facts(problem, raw, data, spec)
        ctx["results"] = _results(outputs, spec, problem, raw, metric)
        ctx["mistakes"] = _mistakes(outputs, spec, problem, raw)
    ctx["tuning"] = _tuning(record.folder)
    curve = record.folder / "learning-curve.png"
    if curve.is_file() and curve.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n":
        ctx["learning_curve"] = _uri(curve.read_bytes())
    try:
        from deepstart.diagnose import diagnose, facts_from_folder

        facts = facts_from_folder(record.folder)
        ctx["diagnosis"] = diagnose(facts)
        ctx["benchmark"] = _benchmark(m, facts, metric)
    except DeepstartError as e:
        ctx["diagnosis_error"] = str(e)
        ctx["benchmark"] = _benchmark(m, None, metric)
    ctx["leaderboard"] = _leaderboard(record.folder, m["problem"], metric, m["test"][metric])
    return ctx


def _best_reference(metrics: dict) -> dict | None:
    from deepstart.diagnose import is_baseline

    refs = metrics.get("references") or []
    if not refs:
        return None
    best = (max if metrics["greater_is_better"] else min)(refs, key=lambda r: r["value"])
    kind = "baseline" if is_baseline(best["model"], best.get("source", "")) else "best reference"
    return {"kind": kind, "text": _fmt(best["value"], metrics["metric"]), "model": best["model"]}


def _problem_name(record: RunRecord) -> str:
    if record.metrics:
        return record.metrics["problem"]
    if record.spec:
        return record.spec.get("problem", record.config["problem"])
    return Path(record.config["problem"]).name


def _metric_from_history(rows: list[dict]) -> str:
    """An unfinished run's metric: its history's first score column (the one judged)."""
    from deepstart.problems import METRICS

    return next((k for k in rows[0] if k in METRICS), "rmse")


def _problem_facts(problem) -> dict:
    return {"name": problem.name, "title": problem.title, "task": problem.task, "kind": problem.kind,
            "metric": problem.metric, "split": problem.split, "origin": problem.origin,
            "size": problem.size,
            "direction": "higher is better" if problem.greater_is_better else "lower is better"}


def _data_facts(problem, raw, data, spec: dict) -> dict:
    facts = {"train": len(data.x_train), "val": len(data.x_val), "test": len(data.x_test),
             "input_shape": "x".join(map(str, data.input_shape)), "balance": None, "samples": [],
             "features": None, "columns": None, "series": None, "schema_note": None,
             # own data: notes on what trains but may mislead, and the image files left out
             "notes": list(spec.get("data_notes", ())),
             "skipped": list(spec.get("image", {}).get("skipped", ())), "text": None}
    if data.is_classifier:
        k = len(data.class_names) or int(max(raw.y_train.max(), raw.y_test.max()) + 1)
        names = list(data.class_names) or [str(i) for i in range(k)]
        train_counts = np.bincount(np.asarray(raw.y_train, np.int64), minlength=k)
        test_counts = np.bincount(np.asarray(raw.y_test, np.int64), minlength=k)
        facts["balance"] = _png(_balance_figure(names, train_counts, test_counts))
        facts["balance_rows"] = [{"name": n, "train": int(a), "test": int(b)}
                                 for n, a, b in zip(names, train_counts, test_counts)]
    if problem.kind == "image" and raw.x_train.ndim == 4:
        facts["samples"] = _sample_rows(raw, data)
    elif problem.task == "forecast" and raw.series is not None:
        facts["series"] = _png(_series_figure(raw, problem))
    elif "columns" in spec:
        from deepstart.problems.columns import action_text

        standardised = True
        facts["columns"] = [{"name": e["name"], "kind": e["kind"], "missing": e["missing"],
                             "action": action_text(e, standardised), "features": len(e["features"]),
                             "dropped": bool(e.get("dropped"))} for e in spec["columns"]]
    from deepstart.text import text_entry

    entry = text_entry(spec)
    if entry is not None:
        facts["text"] = _text_facts(entry, raw, data)
    if problem.kind == "tabular" and raw.x_train.ndim == 2:
        names = list(raw.feature_names) or [f"x{i}" for i in range(raw.x_train.shape[1])]
        x = np.asarray(raw.x_train, np.float64)
        facts["features"] = [{"name": n, "mean": float(x[:, i].mean()), "std": float(x[:, i].std()),
                              "min": float(x[:, i].min()), "max": float(x[:, i].max())}
                             for i, n in enumerate(names[:MAX_FEATURES_SHOWN])]
        facts["features_more"] = max(0, len(names) - MAX_FEATURES_SHOWN)
    return facts


def _token_ids(entry: dict, x) -> np.ndarray:
    """The token ids of a text problem's inputs: their last L features (prepare leaves them
    unscaled), as int64."""
    x = np.asarray(x)
    return x.reshape(len(x), -1)[:, -int(entry["length"]):].astype(np.int64)


def _shown_text(text: str | None) -> str:
    text = "" if text is None else " ".join(str(text).split())
    return text if len(text) <= TEXT_CHARS else text[:TEXT_CHARS - 1] + "…"


def _test_texts(entry: dict, raw, ids: list[int]) -> tuple[list[str], bool]:
    """The texts of test rows `ids`: as written (the rows as read, joined as the run joined its
    text columns) when the data keeps them, else as the model read them (decoded tokens);
    the second value says which."""
    from deepstart.text import decode, join_columns

    rows = raw.test_rows
    if rows is not None and all(c in rows for c in entry["columns"]):
        texts = join_columns({c: np.asarray(rows[c], dtype=object)[ids] for c in entry["columns"]})
        return [_shown_text(t) for t in texts], True
    return [_shown_text(t) for t in decode(entry, _token_ids(entry, raw.x_test[ids]))], False


def _text_facts(entry: dict, raw, data) -> dict:
    """What was done to the text, counted on the training texts: the vocabulary (size, the most
    frequent tokens), the truncation length and how many texts it cut, the share of unknown
    tokens in training and test, and a few training texts of each class as the model reads them."""
    from deepstart.text import decode, tokenizer_of

    pad, unk = int(entry["pad_id"]), int(entry["unk_id"])
    train, test = _token_ids(entry, raw.x_train), _token_ids(entry, raw.x_test)
    size = int(entry["vocab_size"])
    counts = np.bincount(train.ravel(), minlength=size)
    counts[pad] = 0
    tokens = int(counts.sum())
    names = {i: t for t, i in tokenizer_of(entry).get_vocab().items()}
    frequent = [i for i in np.argsort(-counts, kind="stable")[:TOP_TOKENS + 1]
                if counts[i] > 0 and i != unk][:TOP_TOKENS]  # [UNK] is counted apart, below
    top = [{"token": names.get(int(i), str(i)), "count": int(counts[i]),
            "share": counts[i] / tokens if tokens else 0.0} for i in frequent]
    test_tokens = int(np.sum(test != pad))
    y = np.asarray(raw.y_train)
    if data.is_classifier:
        labels = list(data.class_names) or [str(k) for k in range(int(y.max()) + 1)]
        picks = [(k, i) for k in range(min(len(labels), MAX_CLASSES_SHOWN))
                 for i in np.flatnonzero(y == k)[:TEXTS_PER_CLASS]]
        label = {i: labels[k] for k, i in picks}
    else:
        picks = [(None, i) for i in range(min(len(y), 3 * TEXTS_PER_CLASS))]
        label = {i: f"{float(y[i]):.4g}" for _, i in picks}
    rows = [i for _, i in picks]
    samples = [{"id": int(i), "label": label[i], "text": _shown_text(t),
                "tokens": int(np.sum(train[i] != pad))}
               for i, t in zip(rows, decode(entry, train[rows]) if rows else [])]
    return {"columns": list(entry["columns"]), "tokenizer": entry.get("tokenizer_kind", "tokenizer"),
            "vocab_size": size, "min_frequency": entry.get("min_frequency"),
            "length": int(entry["length"]), "length_rule": entry.get("length_rule"),
            "truncated": int(entry["truncated"]), "texts": int(entry.get("texts", len(train))),
            "token_counts": entry.get("token_counts"), "top": top, "tokens": tokens,
            "unknown_train": float(counts[unk] / tokens) if tokens else 0.0,
            "unknown_test": float(np.sum(test == unk) / test_tokens) if test_tokens else 0.0,
            "test_texts": len(test), "samples": samples}


def _model_facts(model, spec: dict, shape: tuple) -> dict:
    from deepstart.summary import summary

    rows = [{"name": r.name, "kind": r.kind, "shape": "x".join(map(str, r.output_shape)) or "-",
             "parameters": r.parameters} for r in summary(model, shape)]
    total = sum(p.numel() for p in model.parameters())
    family = spec["family"]
    if family == "custom":  # the user's class: where it came from, and the file's hash
        entry = spec["custom"]
        family = f"your own class {entry['reference']} (sha256 {str(entry.get('sha256'))[:12]}…)"
    # a pretrained family's provenance (`source`) has its own section, the backbone
    config = {k: v for k, v in spec["config"].items() if k != "source"}
    return {"family": family, "config": config, "rows": rows, "total": total,
            "input": "x".join(map(str, shape))}


def backbone_facts(record: RunRecord) -> dict | None:
    """A pretrained family's backbone, from model.json's config `source` (the provenance filled
    when the run built it) and config.json: where the weights came from (package, version, file,
    sha256), their parameters and published score with its source, the input pipeline inside the
    model (input size, grey to RGB, mean and std; or the tokenizer), and the fine-tuning schedule
    the run used. None for a family that is not pretrained."""
    spec = record.spec or {}
    family = str(spec.get("family") or record.config.get("model") or "")
    from deepstart.pretrained import BACKBONES

    if family not in BACKBONES:
        return None
    backbone, built = BACKBONES[family], spec.get("config") or {}
    source = built.get("source") or {}
    published = source.get("published") or backbone.published or {}
    user = source.get("weights") or built.get("weights")
    facts = {"name": family, "kind": backbone.kind,
             "pretrained": bool(source.get("pretrained", built.get("pretrained", True))),
             "package": source.get("package"), "version": source.get("version"),
             "file": Path(str(source.get("file") or user or "")).name or None,
             "user_weights": Path(str(user)).name if user else None,
             "sha256": source.get("sha256"), "parameters": source.get("parameters"),
             "published": published if published.get("score") is not None else None,
             # MiniLM's model card claims no score: say where one would have been
             "unpublished": published.get("source") if published.get("score") is None else None,
             "pipeline": [], "schedule": schedule_text(record.config, record.metrics)}
    if backbone.kind == "image":
        size = built.get("input_size") or backbone.inputs.get("input_size")
        shape = list(spec.get("input_shape") or [])
        given = "x".join(map(str, shape[1:])) if len(shape) == 3 else "?"
        facts["pipeline"] = [
            ("input", f"the prepared images ({given} pixels, {shape[0] if shape else '?'} "
                      "channel(s), scaled to [0, 1])"
                      + ("; grey repeated to RGB" if shape and shape[0] == 1 else "")),
            ("resize", f"to {size} x {size} pixels (bilinear), inside the model"),
            ("normalize", f"mean {_triple(backbone.inputs.get('mean'))}, std "
                          f"{_triple(backbone.inputs.get('std'))} (what the weights were trained "
                          "on), inside the model")]
    else:
        from deepstart.text import text_entry

        entry = text_entry(spec) or {}
        facts["pipeline"] = [
            ("tokenizer", f"{entry.get('tokenizer_kind') or family + ' WordPiece'}: "
                          f"{_num(entry.get('vocab_size'))} tokens, pad id {entry.get('pad_id', '?')}, "
                          f"unknown id {entry.get('unk_id', '?')} (the weights' own vocabulary)"),
            ("length", f"{entry.get('length', '?')} tokens"
                       + (f" ({entry['length_rule']})" if entry.get("length_rule") else ""))]
    return facts


def _triple(values) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in values) + ")" if values else "?"


def schedule_text(config: dict, metrics: dict | None = None) -> str:
    """How a pretrained run trained its body and head, in words, from config.json (its recipe
    and flags: --frozen, --freeze, --unfreeze-after N)."""
    epochs = (metrics or {}).get("epochs") or config.get("epochs")
    lr, schedule = config.get("lr"), config.get("schedule")
    if config.get("frozen"):
        return (f"frozen features + head: the body's features computed once (cached in the run "
                f"folder), only the head trained on them, {epochs} epoch(s) at lr {_plain(lr)} "
                f"({schedule} schedule)")
    if config.get("freeze"):
        return (f"body frozen for the whole run (its normalisation layers still adapt): the head "
                f"trained for {epochs} epoch(s) at lr {_plain(lr)} ({schedule} schedule)")
    from deepstart.models.finetune import lr_scales

    # the body's 3 groups (the contract's body_groups), as the Learner spaces their rates
    rates = (f"the body's 3 groups at {', '.join(f'{lr * s:.2g}' for s in lr_scales(3))} (earliest "
             f"first), the head at {lr:.2g}") if isinstance(lr, (int, float)) else "?"
    after = config.get("unfreeze_after") or 0
    if after:
        left = epochs - after if isinstance(epochs, int) else "?"
        return (f"fine-tuned: body frozen for {after} epoch(s) (head only), then all unfrozen for "
                f"the remaining {left} epoch(s) with discriminative learning rates: {rates} "
                f"({schedule} schedule)")
    return (f"fine-tuned from the first epoch: body and head together for {epochs} epoch(s) with "
            f"discriminative learning rates: {rates} ({schedule} schedule)")


# --- results: confusion matrix and per-class scores, or residuals --------------------------------

def _results(outputs, spec: dict, problem, raw, metric: str) -> dict:
    if spec["task"] in ("binary", "multiclass"):
        from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

        names = list(spec.get("class_names") or []) or [str(i) for i in range(outputs.proba.shape[1])]
        labels = list(range(len(names)))
        cm = confusion_matrix(outputs.true, outputs.predicted, labels=labels)
        p, r, f1, support = precision_recall_fscore_support(outputs.true, outputs.predicted,
                                                            labels=labels, zero_division=0)
        per_class = [{"name": n, "precision": float(a), "recall": float(b), "f1": float(c),
                      "support": int(d)} for n, a, b, c, d in zip(names, p, r, f1, support)]
        macro = {"precision": float(p.mean()), "recall": float(r.mean()), "f1": float(f1.mean()),
                 "support": int(support.sum())}
        return {"kind": "classification", "confusion": _png(_confusion_figure(cm, names)),
                "per_class": per_class, "macro": macro,
                "accuracy": float(np.mean(outputs.true == outputs.predicted))}
    residual = outputs.true - outputs.predicted
    return {"kind": "regression", "residuals": _png(_residual_figure(outputs, spec, raw)),
            "rmse": float(np.sqrt(np.mean(residual ** 2))), "mae": float(np.mean(np.abs(residual))),
            "bias": float(np.mean(residual))}


def _mistakes(outputs, spec: dict, problem, raw) -> dict:
    """The test examples with the highest loss: images with their labels, texts, or rows. For
    classes that is the lowest probability given to the true class: the examples the model was
    most confidently wrong on."""
    from deepstart.text import text_entry

    order = np.argsort(-outputs.loss, kind="stable")[:WORST]
    classify = spec["task"] in ("binary", "multiclass")
    names = list(spec.get("class_names") or [])
    items = []
    for i in order:
        item = {"id": int(i), "loss": float(outputs.loss[i]), "values": []}
        if classify:
            t, p = int(outputs.true[i]), int(outputs.predicted[i])
            item |= {"true": names[t] if names else str(t), "predicted": names[p] if names else str(p),
                     "p": float(outputs.proba[i, p]), "p_true": float(outputs.proba[i, t]),
                     "wrong": t != p}
        else:
            item |= {"true": float(outputs.true[i]), "predicted": float(outputs.predicted[i]),
                     "error": float(outputs.predicted[i] - outputs.true[i])}
        items.append(item)
    result = {"items": items, "kind": "rows", "features": [], "features_more": 0, "classify": classify,
              "wrong": int(np.sum(outputs.true != outputs.predicted)) if classify else None,
              "total": len(outputs.loss)}
    if problem.kind == "image" and raw.x_test.ndim == 4:
        result["kind"] = "images"
        for item in items:
            item["image"] = _image_uri(raw.x_test[item["id"]], raw.pixel_max)
    elif text_entry(spec) is not None:
        result["kind"] = "texts"
        texts, written = _test_texts(text_entry(spec), raw, [item["id"] for item in items])
        result["as_written"] = written
        for item, text in zip(items, texts):
            item["text"] = text
    elif spec["task"] == "forecast":
        result["kind"] = "series"
        if raw.test_targets is not None:
            for item in items:
                item["series_index"] = int(raw.test_targets[item["id"]])
    elif raw.x_test.ndim == 2:
        feature_names = list(raw.feature_names) or [f"x{j}" for j in range(raw.x_test.shape[1])]
        shown = feature_names[:MAX_MISTAKE_FEATURES]
        result["features"] = shown
        result["features_more"] = max(0, len(feature_names) - len(shown))
        for item in items:
            item["values"] = [float(v) for v in raw.x_test[item["id"], :len(shown)]]
    return result


# --- leaderboard, benchmark, tuning --------------------------------------------------------------

def leaderboard_rows(data: dict, metric: str | None = None) -> tuple[list[dict], str | None]:
    """The rows of an evaluation.json ranked best first (the ones without a score last), and the
    best algorithm's name; the portfolio shows the same table."""
    greater = data.get("greater_is_better", True)
    rows = []
    for r in data.get("results", []):
        mean = r.get("mean")
        ok = isinstance(mean, (int, float)) and math.isfinite(mean)
        scores = [s for s in r.get("scores") or [] if isinstance(s, (int, float))]
        one = len(scores) == 1  # one split has no spread (older files wrote 0.0 for it)
        rows.append({"algorithm": str(r.get("algorithm", "?")), "mean": mean if ok else None,
                     # a spread of 1e-17 is a float's rounding of zero (a baseline scores the
                     # same on every fold): rounded so that it reads 0
                     "std": round(r["std"], 10) if isinstance(r.get("std"), (int, float))
                     and not one else None, "one_split": one,
                     "folds": len(scores), "fit_seconds": r.get("fit_seconds"),
                     "status": str(r.get("status", ""))})
    metric = metric or data.get("metric")
    for row in rows:
        row["mean_text"] = "-" if row["mean"] is None else _fmt(row["mean"], metric)
        row["std_text"] = ("one split" if row["one_split"] else "-" if row["std"] is None
                           else spread_text(row["std"], row["mean_text"]))
    ranked = sorted([r for r in rows if r["mean"] is not None], key=lambda r: r["mean"], reverse=greater)
    ranked += [r for r in rows if r["mean"] is None]
    best = ranked[0]["algorithm"] if ranked and ranked[0]["mean"] is not None else None
    return ranked, best


def scoring_note(data: dict) -> str:
    """How an evaluation scored its algorithms, in words, for the report and the portfolio."""
    p = data.get("protocol") or {}
    kind, folds = p.get("kind"), p.get("folds")
    if kind == "k-fold":
        how = (f"means over {folds} folds of all {p.get('rows', '?'):,} rows (training and test "
               "part of the problem together), not scores on its test part")
    elif kind == "hold-out":
        test = (p.get("test_rows") or ["?"])[0]
        how = f"one split: trained on the training part, scored on the same {test:,} test rows as a run"
    elif kind == "walk-forward":
        test = sum(p.get("test_rows") or []) or "?"
        how = (f"one split: the same {test} test values as a run" if folds == 1 else
               f"means over {folds} consecutive blocks of the {test} test values")
    else:
        how = str(p.get("description") or "as its evaluation.json describes")
    return how + (f"; {p['networks']}" if p.get("networks") else "")


def _leaderboard(folder: Path, problem: str, metric: str, ours: float) -> dict | None:
    from deepstart.diagnose import find_evaluation

    found = find_evaluation(folder, problem)
    if found is None:
        return None
    where, data = found
    ranked, best = leaderboard_rows(data, data.get("metric", metric))
    protocol = data.get("protocol") or {}
    figure = None
    if any(r["mean"] is not None for r in ranked):
        figure = _png(_leaderboard_figure([r for r in ranked if r["mean"] is not None],
                                          data.get("metric", metric), data.get("results", []),
                                          ours if data.get("metric", metric) == metric else None))
    return {"folder": where.name, "metric": data.get("metric", metric), "rows": ranked, "best": best,
            "protocol": [(str(k), _plain(v)) for k, v in protocol.items()], "figure": figure,
            "same_metric": data.get("metric") == metric, "ours": ours,
            "scoring": scoring_note(data)}


def _benchmark(metrics: dict, facts, metric: str) -> dict:
    """Bars: our test score beside every reference (published scores and baselines), the best
    spot-checked model and the computed baseline when they are not references already."""
    bars = [{"label": f"this run ({_fmt(metrics['test'][metric], metric)})",
             "value": metrics["test"][metric], "kind": "ours", "source": "test score of this run"}]
    from deepstart.diagnose import is_baseline

    for r in metrics.get("references", []):
        kind = "baseline" if is_baseline(r["model"], r.get("source", "")) else (
            "computed here" if "computed" in r.get("source", "").lower() else "published")
        bars.append({"label": r["model"], "value": r["value"], "kind": kind, "source": r.get("source", "")})
    if facts is not None:
        known = {round(b["value"], 9) for b in bars}
        for s, kind in ((facts.spot_check, "spot-checked"), (facts.baseline, "baseline")):
            if s is not None and round(s.value, 9) not in known:
                bars.append({"label": s.model, "value": s.value, "kind": kind, "source": s.source})
    return {"rows": bars, "figure": _png(_benchmark_figure(bars, metric, metrics["greater_is_better"]))}


def _tuning(folder: Path) -> dict | None:
    tuning = folder / "tuning"
    if not tuning.is_dir():
        return None
    images = []
    for name, caption in (("history.png", "optimization history"),
                          ("importances.png", "parameter importances")):
        path = tuning / name
        if path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n":
            images.append({"caption": caption, "uri": _uri(path.read_bytes())})
    data = {}
    if (tuning / "study.json").is_file():
        try:
            data = read_json(tuning / "study.json")
        except (OSError, ValueError):
            data = {}
    data = data if isinstance(data, dict) else {}
    trials = None
    if (tuning / "trials.csv").is_file():
        with open(tuning / "trials.csv", newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        if rows:
            keep = [i for i, h in enumerate(rows[0]) if h not in ("worker", "started")]
            best = str(data.get("best_trial", ""))
            trials = {"header": [rows[0][i] for i in keep], "count": len(rows) - 1,
                      "rows": [{"best": r[:1] == [best], "cells": [_short(r[i]) for i in keep if i < len(r)]}
                               for r in rows[1:41]]}
    return {"images": images, "study": _study_facts(data), "trials": trials}


def _short(text: str) -> str:
    """A trials.csv cell as the report shows it: numbers to 4 significant digits."""
    try:
        value = float(text)
    except ValueError:
        return text
    return text if value.is_integer() and "." not in text and "e" not in text else f"{value:.4g}"


def _study_facts(data: dict) -> list[tuple[str, str]]:
    """study.json in words: the objective, the trials, the best, and the space searched."""
    facts = []
    if data.get("study_name"):
        facts.append(("study", f"{data['study_name']} in {data.get('storage', '?')}"))
    if data.get("metric"):
        facts.append(("objective", f"{data.get('direction', '')} {data['metric']}".strip()))
    states = data.get("states")
    if isinstance(states, dict):
        facts.append(("trials", ", ".join(f"{n} {k.lower()}" for k, n in states.items())))
    if isinstance(data.get("best_value"), (int, float)):
        params = data.get("best_params") or {}
        trial = f"trial {data['best_trial']}: " if data.get("best_trial") is not None else ""
        facts.append(("best", f"{trial}{data['best_value']:.4g}"
                      + (" (" + ", ".join(f"{k}={_short(str(v))}" for k, v in params.items()) + ")"
                         if isinstance(params, dict) else "")))
    for name, d in (data.get("search_space") or {}).items() if isinstance(data.get("search_space"), dict) else ():
        a = d.get("attributes", {}) if isinstance(d, dict) else {}
        if "choices" in a:
            text = ", ".join(_plain(c) for c in a["choices"])
        elif "low" in a and "high" in a:
            text = f"{a['low']:.3g} to {a['high']:.3g}" + (" (log scale)" if a.get("log") else "") \
                + (f", step {a['step']:g}" if a.get("step") else "")
        else:
            text = _plain(d)
        facts.append((f"searched: {name}", text))
    return facts


def _repro(record: RunRecord) -> dict:
    c, m, env = record.config, record.metrics or {}, record.env
    settings = [(k, _plain(v)) for k, v in c.items() if k not in ("format", "command")]
    machine = [(k, _plain(env.get(k))) for k in ("deepstart", "python", "torch", "numpy",
                                                  "scikit-learn", "platform", "cpu", "cpu_count",
                                                  "torch_threads", "gpu", "git_commit") if k in env]
    return {"command": c.get("command") or "-", "seed": c.get("seed"), "settings": settings,
            "machine": machine, "train_seconds": m.get("train_seconds"), "epochs": m.get("epochs"),
            "compile_seconds": m.get("compile_seconds"), "processes": m.get("processes"),
            "git_commit": env.get("git_commit")}


# --- figures --------------------------------------------------------------------------------------

def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return _uri(buf.getvalue())


def _uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _image_uri(image: np.ndarray, pixel_max: float, cell: int = CELL_PIXELS) -> str:
    """One (C, H, W) image as a PNG, scaled up by a whole factor so small digits stay crisp."""
    from PIL import Image

    a = np.asarray(image, np.float64) / (pixel_max or 1.0)
    a = (np.clip(a, 0, 1) * 255).astype(np.uint8)
    im = Image.fromarray(a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0)[..., :3])
    factor = max(1, round(cell / max(a.shape[1:])))
    if factor > 1:
        im = im.resize((im.width * factor, im.height * factor), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return _uri(buf.getvalue())


def _sample_rows(raw, data) -> list[dict]:
    """Up to SAMPLES_PER_CLASS training images of each class (the first ones), one strip per class."""
    from PIL import Image

    y = np.asarray(raw.y_train, np.int64)
    names = list(data.class_names) or [str(i) for i in range(int(y.max()) + 1)]
    rows = []
    for k, name in enumerate(names[:MAX_CLASSES_SHOWN]):
        idx = np.flatnonzero(y == k)[:SAMPLES_PER_CLASS]
        if not len(idx):
            continue
        a = np.asarray(raw.x_train[idx], np.float64) / (raw.pixel_max or 1.0)
        a = (np.clip(a, 0, 1) * 255).astype(np.uint8)  # (n, C, H, W)
        n, ch, h, w = a.shape
        gap = 2
        strip = np.full((ch, h, n * (w + gap) - gap), 255, np.uint8)
        for j in range(n):
            strip[:, :, j * (w + gap):j * (w + gap) + w] = a[j]
        im = Image.fromarray(strip[0] if ch == 1 else strip.transpose(1, 2, 0)[..., :3])
        factor = max(1, round(CELL_PIXELS / max(h, w)))
        if factor > 1:
            im = im.resize((im.width * factor, im.height * factor), Image.Resampling.NEAREST)
        buf = io.BytesIO()
        im.save(buf, format="PNG")
        rows.append({"name": name, "uri": _uri(buf.getvalue()), "count": int((y == k).sum())})
    return rows


def _balance_figure(names, train_counts, test_counts):
    import matplotlib.pyplot as plt

    k = len(names)
    fig, ax = plt.subplots(figsize=(max(4.0, 0.6 * k + 2), 2.8), constrained_layout=True)
    x = np.arange(k)
    ax.bar(x - 0.2, train_counts, 0.4, label="train (incl. validation)")
    ax.bar(x + 0.2, test_counts, 0.4, label="test")
    ax.set_xticks(x, [n if len(n) <= 12 else n[:11] + "…" for n in names],
                  rotation=45 if k > 6 else 0, ha="right" if k > 6 else "center")
    ax.set_ylabel("examples")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return fig


def _series_figure(raw, problem):
    import matplotlib.pyplot as plt

    s = raw.series
    n_train = len(raw.x_train)
    fig, ax = plt.subplots(figsize=(9, 3), constrained_layout=True)
    ax.plot(np.arange(len(s)), s, lw=1.2)
    ax.axvspan(n_train - 0.5, len(s) - 0.5, color="tab:orange", alpha=0.12, label="test part")
    ax.set_xlabel("step")
    ax.set_ylabel(raw.feature_names[0] if raw.feature_names else "value")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def _confusion_figure(cm: np.ndarray, names: list[str]):
    import matplotlib.pyplot as plt

    k = len(names)
    size = max(3.5, 0.45 * k + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.9), constrained_layout=True)
    ax.imshow(cm, cmap="Blues")
    ticks = [n if len(n) <= 12 else n[:11] + "…" for n in names]
    ax.set_xticks(range(k), ticks, rotation=45 if k > 4 else 0, ha="right" if k > 4 else "center")
    ax.set_yticks(range(k), ticks)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    top = cm.max() or 1
    if k <= 20:
        for i in range(k):
            for j in range(k):
                if cm[i, j]:
                    ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8,
                            color="white" if cm[i, j] > top / 2 else "black")
    return fig


def _residual_figure(outputs, spec: dict, raw):
    import matplotlib.pyplot as plt

    true, pred = outputs.true, outputs.predicted
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), constrained_layout=True)
    ax = axes[0]
    if spec["task"] == "forecast":
        steps = raw.test_targets if raw.test_targets is not None else np.arange(len(true))
        ax.plot(steps, true, label="true", lw=1.4)
        ax.plot(steps, pred, "--", label="predicted", lw=1.4)
        ax.set_xlabel("step")
        ax.set_ylabel("value")
        ax.legend(fontsize=8)
        ax.set_title("test part: true and predicted")
    else:
        ax.scatter(true, pred, s=8, alpha=0.6)
        lo, hi = float(min(true.min(), pred.min())), float(max(true.max(), pred.max()))
        ax.plot([lo, hi], [lo, hi], color="grey", lw=1)
        ax.set_xlabel("true")
        ax.set_ylabel("predicted")
        ax.set_title("predicted against true")
    ax.grid(alpha=0.3)
    ax = axes[1]
    ax.scatter(pred, true - pred, s=8, alpha=0.6)
    ax.axhline(0, color="grey", lw=1)
    ax.set_xlabel("predicted")
    ax.set_ylabel("residual (true - predicted)")
    ax.set_title("residuals")
    ax.grid(alpha=0.3)
    return fig


def _benchmark_figure(bars: list[dict], metric: str, greater: bool):
    import matplotlib.pyplot as plt

    order = sorted(bars, key=lambda b: b["value"], reverse=not greater)  # best at the top
    colors = {"ours": "tab:red", "published": "tab:blue", "computed here": "tab:cyan",
              "baseline": "tab:grey", "spot-checked": "tab:green"}
    fig, ax = plt.subplots(figsize=(8, 0.42 * len(order) + 1.2), constrained_layout=True)
    y = np.arange(len(order))
    values = [b["value"] for b in order]
    ax.barh(y, values, color=[colors[b["kind"]] for b in order])
    labels = [b["label"] if len(b["label"]) <= 48 else b["label"][:47] + "…" for b in order]
    ax.set_yticks(y, labels, fontsize=8)
    if metric not in ("rmse", "mae"):  # a score in [0, 1]
        lo = max(0.0, min(values) - 0.05)
        ax.set_xlim(lo, min(1.0, max(values) + 0.02) if max(values) < 0.99 else 1.0)
    left, right = ax.get_xlim()
    for yi, v in zip(y, values):  # inside the bar's end when it is long, so the legend stays clear
        inside = (v - left) > 0.25 * (right - left)
        ax.text(v, yi, f" {_fmt(v, metric)} " if inside else f" {_fmt(v, metric)}", va="center",
                ha="right" if inside else "left", fontsize=8, color="white" if inside else "black")
    ax.set_xlabel(f"test {metric} ({'higher' if greater else 'lower'} is better)")
    ax.grid(axis="x", alpha=0.3)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colors[k]) for k in colors
               if any(b["kind"] == k for b in order)]
    ax.legend(handles, [k for k in colors if any(b["kind"] == k for b in order)], fontsize=8,
              loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the bars, never over them
    return fig


def _leaderboard_figure(rows: list[dict], metric: str, results: list[dict], ours: float | None = None):
    """A box per algorithm over its folds, the axis zoomed to the algorithms: the trivial baselines
    (majority class, mean, ...) are drawn as lines, not boxes, since one at 0.11 would stretch the
    axis so that every real algorithm is a few pixels wide."""
    import matplotlib.pyplot as plt

    from deepstart.diagnose import is_baseline

    scores = {str(r.get("algorithm")): [s for s in r.get("scores") or [] if isinstance(s, (int, float))]
              for r in results}
    boxed = [r for r in rows if not is_baseline(r["algorithm"])] or rows
    lines = [r for r in rows if r not in boxed]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(boxed) + 1.4), constrained_layout=True)
    names = [r["algorithm"] for r in boxed][::-1]
    data = [scores.get(n) or [next(r["mean"] for r in boxed if r["algorithm"] == n)] for n in names]
    ax.boxplot(data, orientation="horizontal", tick_labels=names)
    values = [v for d in data for v in d]
    lo, hi = min(values), max(values)
    pad = max((hi - lo) * 0.15, abs(hi) * 0.01, 1e-6)
    lo, hi = lo - pad, hi + pad
    if metric not in ("rmse", "mae") and max(values) <= 1:
        hi = min(hi, 1.01)  # a score of 1 is the top: no room for 1.025
    off_axis = []
    for r, style in [(r, (":", "tab:grey")) for r in lines] + (
            [({"algorithm": "this run (test)", "mean": ours}, ("-", "tab:blue"))] if ours is not None else []):
        label = f"{r['algorithm']} {_fmt(r['mean'], metric)}"
        if lo <= r["mean"] <= hi:
            ax.axvline(r["mean"], linestyle=style[0], color=style[1], label=label)
        else:
            off_axis.append(label)
    ax.set_xlim(lo, hi)
    ax.set_xlabel(f"{metric} per fold" + (f" (off the axis: {'; '.join(off_axis)})" if off_axis else ""))
    ax.grid(axis="x", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize="small")
    return fig


# --- small formatting -----------------------------------------------------------------------------

def _fmt(value, metric: str | None) -> str:
    if value is None:
        return "-"
    if value != value:  # NaN: a score undefined on its rows (ROC AUC of one class)
        return "undefined (one class only)"
    if metric is None:
        return f"{value:.4g}"
    from deepstart.problems.metrics import text

    # the digits the terminal prints (an RMSE of 39,270 as 39270.12, not .4g's 3.927e+04)
    return text(value, metric)


def spread_text(std: float, mean_text: str) -> str:
    """A spread rounded to the digits its mean is shown with (0.9326 ± 0.0041, not ± 0.000412 or
    ± 0.00412345): more digits in the spread than in the score are noise."""
    if "." not in mean_text or "e" in mean_text:
        return f"{std:.2g}"
    return f"{std:.{len(mean_text.split('.')[1])}f}"


def _number(value) -> float:
    """A score of metrics.json, where null is a score undefined on its rows: NaN, which _fmt says."""
    return math.nan if value is None else value


def _score(value) -> str:
    """A split's score in the scores table: None there is a score undefined on its rows."""
    return _fmt(math.nan, None) if value is None else _num(value)


def _num(value, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if not math.isfinite(value):
        return str(value)
    if abs(value) >= 1000:  # an error in the thousands: 58,980.12 (.4g would print 5.898e+04)
        return f"{value:,.2f}"
    return f"{value:.{digits}g}" if abs(value) < 1e-3 and value else f"{value:.{digits}f}"


def _plain(value) -> str:
    """A config or JSON value as short text."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_plain(v) for v in value) if all(not isinstance(v, (dict, list)) for v in value) \
            else str(value)
    if isinstance(value, dict):
        return "; ".join(f"{k}={_plain(v)}" for k, v in value.items()) or "-"
    return "-" if value is None else str(value)
