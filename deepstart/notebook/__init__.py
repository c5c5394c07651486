"""Jupyter displays: figures as embedded PNGs, small HTML tables, and the live curve plot that `fit`
updates in place. Nothing here imports IPython unless a kernel already did (a terminal run never)."""

from __future__ import annotations

import base64
import html
import io
import math
import sys
import time


def in_notebook() -> bool:
    """True inside a Jupyter kernel (not a terminal IPython, not a plain Python run)."""
    if "IPython" not in sys.modules:  # a kernel has imported it long before any user code runs
        return False
    shell = sys.modules["IPython"].get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def figure_img(fig, width: int | None = None) -> str:
    """A matplotlib figure as an <img> with the PNG inside (a data URI), and the figure closed."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    size = f' width="{width}"' if width else ""
    return f'<img src="data:image/png;base64,{data}"{size} alt="learning curves">'


def number(value) -> str:
    if isinstance(value, float):
        # 4 significant digits, trailing zeros kept: 0.3990 beside 0.4006, not 0.399
        return "n/a" if math.isnan(value) else f"{value:#.4g}"
    return html.escape(str(value))


def table(rows: list[dict], columns: list[str] | None = None) -> str:
    """A small HTML table of dicts (the columns of the first row unless given)."""
    columns = columns or (list(rows[0]) if rows else [])
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{number(r.get(c, ''))}</td>" for c in columns) + "</tr>"
                   for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def pairs(items: list[tuple[str, object]]) -> str:
    """A two-column table: what, value."""
    return "<table>" + "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
                               f"<td style='text-align:left'>{number(v)}</td></tr>"
                               for k, v in items) + "</table>"


def history_html(history, last: int = 5) -> str:
    from deepstart.history import History

    if not len(history):
        return "<p>History: no completed epoch yet.</p>"
    keys = [k for k in ("epoch", "loss", history.metric, "val_loss", f"val_{history.metric}")
            if k in history.columns()]
    rows = history.rows[-last:]
    shown = f"the last {len(rows)} of {len(history)} epochs" if len(history) > last else \
        f"{len(history)} epoch(s)"
    return (f"<div><p><b>History</b>: {shown} (loss and {html.escape(history.metric)}; val_ = the "
            f"validation split)</p>{table(rows, keys)}"
            f"{figure_img(History(history.rows, history.metric).figure())}</div>")


def learner_html(learner) -> str:
    model = type(learner.model).__name__
    problem = learner.problem.name if learner.problem is not None else "data passed by hand"
    parameters = sum(p.numel() for p in learner.model.parameters())
    items = [("model", model), ("problem", problem), ("parameters", f"{parameters:,}"),
             ("epochs done", learner.epoch)]
    if len(learner.history):
        last = learner.history.rows[-1]
        items += [(f"{k} (epoch {last['epoch']})", last[k])
                  for k in ("loss", learner.metric, "val_loss", f"val_{learner.metric}") if k in last]
    curves = figure_img(learner.history.figure()) if len(learner.history) else ""
    return f"<div><p><b>Learner</b></p>{pairs(items)}{curves}</div>"


class LivePlot:
    """A callback that draws the learning curves in ONE notebook output and replaces it as epochs
    end, at most every `every` seconds (drawing costs more than a tiny epoch) and always at the end."""

    def __init__(self, every: float = 0.5):
        self.every = every
        self.handle = None
        self.drawn_at = -math.inf
        self.updates = 0

    def _draw(self, learner) -> None:
        from IPython.display import HTML, display

        shown = HTML(figure_img(learner.history.figure()))
        if self.handle is None:
            self.handle = display(shown, display_id=True)
        else:
            self.handle.update(shown)
        self.updates += 1
        self.drawn_at = time.monotonic()

    def on_fit_start(self, learner) -> None:
        self.handle, self.drawn_at = None, -math.inf  # a new fit gets its own plot

    def on_epoch_end(self, learner, row: dict) -> None:
        if time.monotonic() - self.drawn_at >= self.every:
            self._draw(learner)
            self.drawn = learner.epoch
        else:
            self.drawn = None

    def on_fit_end(self, learner) -> None:
        if len(learner.history) and getattr(self, "drawn", None) != learner.epoch:
            self._draw(learner)  # the last epoch is always on the plot


def live_plot_for(learner) -> LivePlot | None:
    """The LivePlot `fit` attaches by itself: in a notebook, verbose=1, rank 0, none given."""
    if learner.verbose != 1 or learner.rank != 0 or not in_notebook():
        return None
    if any(isinstance(cb, LivePlot) for cb in learner.callbacks):
        return None
    return LivePlot()


def run_html(record) -> str:
    """A run folder (deepstart.record.RunRecord): problem, model, the test score beside the best
    published reference and the best baseline (metrics.json's), the curves, the folder."""
    from deepstart.diagnose import is_baseline
    from deepstart.history import History

    items = [("problem", record.config.get("problem", "?")), ("model", record.config.get("model", "?")),
             ("folder", str(record.folder))]
    if record.metrics is None:
        items.append(("status", "unfinished (no metrics.json yet)"))
    else:
        m = record.metrics
        metric = m["metric"]
        from deepstart.report import _fmt as score_text  # the digits the report shows

        value = m["test"].get(metric)
        items.append((f"test {metric} ({m.get('test_rows', '?')} test rows)", score_text(value, metric)))
        better = max if m.get("greater_is_better", True) else min
        refs = m.get("references") or []
        for label, chosen in (("best published", [r for r in refs if not is_baseline(r["model"], r["source"])]),
                              ("best baseline", [r for r in refs if is_baseline(r["model"], r["source"])])):
            if chosen:
                best = better(chosen, key=lambda r: r["value"])
                items.append((f"{label} ({best['model']})", score_text(best["value"], metric)))
    curves = (figure_img(History(record.history, record.metric or "loss").figure())
              if record.history else "")
    return f"<div><p><b>Run</b></p>{pairs(items)}{curves}</div>"


def leaderboard_html(record: dict) -> str:
    """An evaluation (what deepstart.evaluate.evaluate returns): the algorithms ranked."""
    from deepstart.report import leaderboard_rows

    protocol = record.get("protocol", {})
    ranked, _ = leaderboard_rows(record)  # best first, spreads rounded to the score's digits
    rows = [{"rank": i, "algorithm": r["algorithm"], f"mean {record['metric']}": r["mean_text"],
             "± std": r["std_text"], "status": r["status"]} for i, r in enumerate(ranked, 1)]
    return (f"<div><p><b>Leaderboard</b>: {html.escape(str(record.get('problem')))}, "
            f"{html.escape(str(protocol.get('kind', '')))} with {protocol.get('folds', '?')} fold(s) "
            f"on {protocol.get('rows', '?')} rows</p>{table(rows)}</div>")


def diagnosis_html(diagnosis) -> str:
    """A deepstart.diagnose.Diagnosis: the situation, the numbers, the next steps and their commands."""
    findings = "".join(f"<li><b>{html.escape(f.name)}</b>: {html.escape(f.evidence)}</li>"
                       for f in diagnosis.findings)
    steps = "".join(f"<li>{html.escape(s.text)}"
                    + (f"<br><code>{html.escape(s.command)}</code>" if s.command else "") + "</li>"
                    for s in diagnosis.steps)
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in diagnosis.notes)
    return (f"<div><p><b>Diagnosis</b>: {html.escape(diagnosis.headline)}</p>"
            f"<p>{html.escape(diagnosis.scores)}</p><ul>{findings}</ul>"
            f"<p><b>Next steps</b></p><ol>{steps}</ol>" + (f"<ul>{notes}</ul>" if notes else "") + "</div>")
