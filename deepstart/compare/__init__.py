"""Compare runs: `deepstart runs [DIR]` lists every run folder under DIR as a table, and
`deepstart runs compare RUN RUN [...]` sets runs side by side (configuration differences, scores,
overlaid learning curves, and a paired test on the same test rows). See docs/runs.md.

With more than two runs, each is paired with the FIRST one given (the baseline the user names),
so every p-value answers the same question: is this run better or worse than the baseline?
"""

from __future__ import annotations

import math
from pathlib import Path

from deepstart.errors import DeepstartError

# config.json keys that say where/how a run was made rather than what was trained
# where a run was logged changes nothing it learned
_NOT_SETTINGS = {"format", "command", "device", "problem", "model", "log", "mlflow_uri"}
SORTS = ("test", "date", "time", "model")


def _flatten(config: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat |= _flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def differing(configs: list[dict]) -> list[str]:
    """The flattened setting names whose values are not all equal across `configs`."""
    flats = [{k: v for k, v in _flatten(c).items() if k not in _NOT_SETTINGS} for c in configs]
    keys = sorted({k for f in flats for k in f})
    return [k for k in keys if len({repr(f.get(k)) for f in flats}) > 1]


def _status(record) -> str:
    if record.finished:
        return record.metrics["status"]
    if (record.folder / "checkpoint.safetensors").is_file():
        return "interrupted"
    return "running or unfinished"


def list_runs(folder: Path, problem: str | None = None, model: str | None = None,
              sort: str = "date") -> list[dict]:
    """One row per run folder under `folder` (damaged ones with their reason)."""
    from datetime import datetime, timezone

    from deepstart.record import read_run
    from deepstart.run import is_run_dir

    if not folder.is_dir():
        raise DeepstartError(f"{folder} is no folder; pass the folder your runs are in "
                             "(`deepstart run` writes them to runs/).")
    rows = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and is_run_dir(p)):
        date = datetime.fromtimestamp((sub / "config.json").stat().st_mtime, timezone.utc)
        row = {"folder": sub, "date": date.strftime("%Y-%m-%d %H:%M"), "config": {}}
        try:
            record = read_run(sub)
        except DeepstartError as e:
            rows.append(row | {"problem": "?", "model": "?", "status": "damaged", "reason": str(e)})
            continue
        c, m = record.config, record.metrics
        row |= {"config": c, "problem": Path(c["problem"]).name, "model": c["model"],
                "status": _status(record), "epochs": len(record.history)}
        if m:
            metric = m["metric"]
            from deepstart.diagnose import is_baseline

            # the best reference that is not a trivial baseline: a published score, or a model
            # computed here on the same test rows (a series' AR fit); never the majority class
            refs = [r["value"] for r in m["references"]
                    if not is_baseline(str(r.get("model", "")), str(r.get("source", "")))]
            best = (max if m["greater_is_better"] else min)(refs) if refs else None
            row |= {"metric": metric, "test": m["test"][metric], "best": best,
                    "greater": m["greater_is_better"], "seconds": m.get("train_seconds"),
                    "epochs": m["epochs"], "test_rows": m.get("test_rows")}
        rows.append(row)
    if problem:
        # a user's file by its path, its file name or the name its run folders carry (the stem)
        wanted = {Path(problem).name, Path(problem).stem}
        rows = [r for r in rows if r["problem"] in wanted or Path(r["problem"]).stem in wanted]
    if model:
        rows = [r for r in rows if r["model"] == model]

    def key(r):
        if sort == "test":  # in the metric's direction: best first; runs without a score last
            t = r.get("test")
            return (t is None, r["problem"], -t if t is not None and r["greater"] else t or 0)
        if sort == "time":
            return (r.get("seconds") is None, r.get("seconds") or 0)
        if sort == "model":
            return (r["model"], r["date"])
        return r["date"]

    return sorted(rows, key=key)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def print_runs(folder: Path, rows: list[dict]) -> None:
    from rich.table import Table

    from deepstart.console import console

    if not rows:
        console.print(f"no runs in {folder} (match the filters); `deepstart run PROBLEM` writes one.")
        return
    # "epochs" has its own column (the epochs done; early stopping can end short of the setting)
    keys = [k for k in differing([r["config"] for r in rows if r["config"]]) if k != "epochs"]
    metrics = {r["metric"] for r in rows if r.get("metric")}
    problems = {r["problem"] for r in rows}
    table = Table(title=f"{len(rows)} runs in {folder}")
    # the settings that differ go in one column as key=value, which wraps between settings; one
    # column per setting made a dozen columns a letter wide in an 80-column terminal. A run's name
    # (it holds the date) never wraps: it is what a user copies into the next command.
    for name in ("run", "model", "settings that differ" if keys else None, "epochs", "test",
                 "best reference", "time", "status"):
        if name:
            table.add_column(name, no_wrap=name == "run", overflow="fold")
    for r in rows:
        flat = _flatten(r["config"])
        shown = ", ".join(f"{_short_key(k, keys)}={_fmt(flat.get(k))}" for k in keys
                          if k in flat)
        test = f"{r['metric']} {_score(r['test'], r['metric'])}" if r.get("test") is not None else "-"
        best = _score(r["best"], r["metric"]) if r.get("best") is not None else "-"
        secs = f"{r['seconds']:.1f} s" if r.get("seconds") is not None else "-"
        table.add_row(r["folder"].name, r["model"], *([shown] if keys else []),
                      _fmt(r.get("epochs")), test, best, secs, r["status"])
    console.print(table)
    if len(problems) > 1 or len(metrics) > 1:
        console.print("the test column is in each problem's own metric (named beside each score); "
                      "compare scores within a problem only.")
    if keys:
        console.print("settings shown: those that differ between these runs; the rest are equal.")
    for r in rows:
        if r["status"] == "damaged":
            console.print(f"damaged: {r['reason']}", soft_wrap=True)


def _score(value: float, metric: str) -> str:
    from deepstart.report import _fmt as score_text  # the digits the report shows

    return score_text(value, metric)


def _short_key(key: str, keys: list[str]) -> str:
    """`model_options.dropout` as `dropout`, unless another shown key has the same last part."""
    last = key.rsplit(".", 1)[-1]
    return last if sum(k.rsplit(".", 1)[-1] == last for k in keys) == 1 else key


def _test_outputs(record):
    """The run's model on its own test split, prepared as the run prepared it."""
    import hashlib

    import numpy as np

    from deepstart.record import load_data, load_trained_model, model_outputs

    _, data = load_data(record)
    model, spec = load_trained_model(record)
    out = model_outputs(model, spec, data.x_test, data.y_test)
    digest = hashlib.sha256(np.ascontiguousarray(data.x_test.numpy()).tobytes()
                            + np.ascontiguousarray(out.true).tobytes()).hexdigest()
    return out, spec["task"], digest


def paired(base, other, task: str) -> dict:
    """McNemar's exact test (classes) or Wilcoxon signed-rank on absolute errors (numbers) of
    `other` against `base` on the same rows."""
    import numpy as np
    from scipy import stats

    rows = len(base.true)
    if task in ("binary", "multiclass"):
        base_right, other_right = base.predicted == base.true, other.predicted == other.true
        wins = int(np.sum(other_right & ~base_right))
        losses = int(np.sum(base_right & ~other_right))
        n = wins + losses
        p = stats.binomtest(wins, n, 0.5).pvalue if n else None
        return {"test": "McNemar exact", "rows": rows, "wins": wins, "losses": losses, "p": p,
                "too_few": n < 10}
    a, b = np.abs(base.predicted - base.true), np.abs(other.predicted - other.true)
    diff = a - b
    wins, losses = int(np.sum(diff > 0)), int(np.sum(diff < 0))
    p = stats.wilcoxon(a, b).pvalue if wins + losses else None
    return {"test": "Wilcoxon signed-rank on absolute errors", "rows": rows, "wins": wins,
            "losses": losses, "p": float(p) if p is not None else None,
            "too_few": wins + losses < 10}


def compare(folders: list[Path]) -> dict:
    from deepstart.record import read_run, require_finished
    from deepstart.run import is_run_dir

    if len(folders) < 2:
        raise DeepstartError(f"compare needs at least 2 runs; received {len(folders)}.")
    records = []
    for f in folders:
        if not is_run_dir(f):
            raise DeepstartError(f"{f} is not a run folder (no deepstart config.json); pass "
                                 "folders under runs/ that `deepstart run` wrote.")
        record = read_run(f)
        require_finished(record, "compare")
        records.append(record)
    first = records[0]
    for r in records[1:]:
        if (r.config["problem"], r.config.get("data_options")) != (
                first.config["problem"], first.config.get("data_options")):
            raise DeepstartError(f"{r.folder} is a run of '{Path(r.config['problem']).name}' and "
                                 f"{first.folder} of '{Path(first.config['problem']).name}' (or of "
                                 "other data options); compare runs of the same problem.")
    outputs = [_test_outputs(r) for r in records]
    for r, (out, _, digest) in zip(records[1:], outputs[1:]):
        if digest != outputs[0][2]:
            raise DeepstartError(f"{r.folder} was scored on other test rows than {first.folder} "
                                 "(another split, seed, scaling or look-back); a paired test needs "
                                 "the same rows.")
    pairs = [paired(outputs[0][0], out, task) | {"run": r.folder.name}
             for r, (out, task, _) in zip(records[1:], outputs[1:])]
    return {"records": records, "keys": differing([r.config for r in records]), "pairs": pairs}


def _curves_png(records, metric: str) -> bytes:
    import io

    from deepstart.console import offscreen_figures

    offscreen_figures()
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for i, r in enumerate(records):
        colour = f"C{i}"
        epochs = [row["epoch"] for row in r.history]
        for ax, name in zip(axes, (metric, "loss")):
            for key, style, split in ((name, "-", "train"), (f"val_{name}", "--", "validation")):
                values = [row.get(key) for row in r.history]
                if any(v is not None for v in values):
                    ax.plot(epochs, [math.nan if v is None else v for v in values], style,
                            color=colour, label=f"{r.folder.name} {split}")
    for ax, name in zip(axes, (metric, "loss")):
        ax.set_xlabel("epoch")
        ax.set_title(name)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def _score_rows(records) -> list[list[str]]:
    names = sorted({n for r in records for n in r.metrics["metrics"]})
    rows = []
    for name in names:
        for split in ("train", "val", "test"):
            values = [(r.metrics.get(split) or {}).get(name) for r in records]
            # the report's digits for the metric: 0.9070, not .4g's 0.907 beside 0.9580
            rows.append([f"{split} {name}", *[_score(v, name) if isinstance(v, float) else _fmt(v)
                                              for v in values]])
    rows.append(["test rows", *[_fmt(r.metrics.get("test_rows")) for r in records]])
    return rows


def _sentence(base: str, pair: dict) -> str:
    right = "right where" if pair["test"].startswith("McNemar") else "closer where"
    p = "no p-value (no differing rows)" if pair["p"] is None else f"p = {pair['p']:.3g}"
    line = (f"{pair['run']} vs {base}: {pair['run']} {right} {base} not: {pair['wins']} rows, the "
            f"reverse {pair['losses']}; {pair['test']} {p} on {pair['rows']:,} test rows")
    if pair["too_few"]:
        return line + "; too few differing rows to tell."
    if pair["p"] is not None and pair["p"] < 0.05:
        better = pair["run"] if pair["wins"] > pair["losses"] else base
        return line + f"; {better} is better (p < 0.05)."
    return line + "; no significant difference (p >= 0.05)."


def print_compare(result: dict, out: Path | None = None) -> None:
    from rich.table import Table

    from deepstart.console import console

    records, keys = result["records"], result["keys"]
    names = [r.folder.name for r in records]
    if keys:
        table = Table(title="settings that differ")
        for col in ("setting", *names):
            table.add_column(col)
        for k in keys:
            table.add_row(k, *[_fmt(_flatten(r.config).get(k)) for r in records])
        console.print(table)
    else:
        console.print("the runs have the same settings (only the folder differs).")
    scores = Table(title="scores")
    for col in ("score", *names):
        scores.add_column(col)
    for row in _score_rows(records):
        scores.add_row(*row)
    console.print(scores)
    for pair in result["pairs"]:
        console.print(_sentence(names[0], pair), soft_wrap=True)
    if out is not None:
        console.print(f"written: {write_compare(result, out)}")


def write_compare(result: dict, out: Path) -> Path:
    import base64
    import html

    from deepstart.files import write_text

    records = result["records"]
    png = _curves_png(records, records[0].metrics["metric"])
    if out.suffix.lower() == ".png":
        from deepstart.files import atomic_path

        with atomic_path(out) as tmp:
            Path(tmp).write_bytes(png)
        return out
    if out.suffix.lower() not in (".html", ".htm"):
        raise DeepstartError(f"--out {out}: name a .png or .html file.")
    e = html.escape
    names = [r.folder.name for r in records]

    def table(title, head, rows):
        cells = "".join(f"<tr>{''.join(f'<td>{e(str(c))}</td>' for c in row)}</tr>" for row in rows)
        return (f"<h2>{e(title)}</h2><table><tr>{''.join(f'<th>{e(h)}</th>' for h in head)}</tr>"
                f"{cells}</table>")

    diff = [[k, *[_fmt(_flatten(r.config).get(k)) for r in records]] for k in result["keys"]]
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>compare runs</title><style>"
            "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:4px 8px}img{max-width:100%}</style></head><body>"
            "<h1>Compare runs</h1>"
            + table("settings that differ", ["setting", *names], diff)
            + table("scores", ["score", *names], _score_rows(records))
            + "<h2>paired test on the same test rows</h2>"
            + "".join(f"<p>{e(_sentence(names[0], p))}</p>" for p in result["pairs"])
            + "<h2>learning curves</h2><img alt='learning curves' src='data:image/png;base64,"
            + base64.b64encode(png).decode("ascii") + "'></body></html>")
    write_text(out, page)
    return out
