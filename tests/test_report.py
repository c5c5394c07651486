"""`deepstart report RUN`: one self-contained HTML file per run, from real short runs (digits,
airline passengers, a CSV table of your own): every section, every picture a PNG data: URI, nothing
fetched from the network, the leaderboard of an evaluation beside the run, tuning plots, a report for
an unfinished run, and bad input as one line with exit code 2."""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from deepstart.cli import main

PNG = b"\x89PNG\r\n\x1a\n"


def images(page: str) -> list[bytes]:
    """The decoded bytes of every <img>; fails on any src that is not a PNG data: URI."""
    out = []
    for src in re.findall(r"<img[^>]*\ssrc=\"([^\"]*)\"", page):
        assert src.startswith("data:image/png;base64,"), src[:60]
        data = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert data[:8] == PNG
        out.append(data)
    return out


def assert_self_contained(page: str) -> None:
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", page)
    assert "<script" not in page.lower() and "@import" not in page
    assert "http://" not in page and "https://" not in page


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    assert main(["run", "digits", "--epochs", "3", "--quiet", "--out", str(out)]) == 0
    assert main(["run", "airline-passengers", "--epochs", "30", "--quiet", "--out", str(out)]) == 0
    return {p.name.split("-", 3)[3].rsplit("-", 2)[0]: p for p in out.iterdir()}


def test_digits_report_has_every_section(runs, capsys):
    run = runs["digits"]
    assert main(["report", str(run)]) == 0
    assert f"report: {run / 'report.html'}" in capsys.readouterr().out
    page = (run / "report.html").read_text()
    assert_self_contained(page)
    metrics = json.loads((run / "metrics.json").read_text())
    accuracy = metrics["test"]["accuracy"]
    headline = re.search(r'id="headline">(.*?)</p>', page, re.S).group(1)
    assert f"test accuracy <strong>{accuracy:.4f}</strong>" in headline
    for anchor in ("data", "model", "training", "results", "mistakes", "benchmark", "diagnosis",
                   "reproduce"):
        assert f'id="{anchor}"' in page, anchor
    assert 'id="leaderboard"' not in page and 'id="tuning"' not in page  # none beside this run
    text = html.unescape(page)
    # data: sizes of the run's split, class balance, one strip of sample images per digit
    assert "1,212 train · 135 validation · 450 test; input 1x8x8" in text
    assert 'alt="examples per class, train and test"' in page
    assert len(re.findall(r'alt="training images of class \d"', page)) == 10
    # model summary: deepstart.summary's rows and the parameter count (64*256+256 + 256*10+10)
    assert "mlp · 19,210 parameters" in text and "<code>net.1</code>" in page
    # per-class scores from scikit-learn, and the accuracy recomputed from the saved model
    assert len(re.findall(r"<tr><td>\d</td><td class=\"num\">[01]\.\d{3}</td>", page)) == 10
    assert f"accuracy recomputed from the saved model: {accuracy:.4f}" in text
    # the worst mistakes, as images, highest loss first
    losses = [float(x) for x in re.findall(r"· loss (\d+\.\d+)</figcaption>", page)]
    assert len(losses) == 12 and losses == sorted(losses, reverse=True)
    # benchmark: our score beside both published references and the computed majority baseline
    assert "this run (" in text and "1-nearest neighbour" in text and "majority class for every row" in text
    # diagnosis and next steps, reproducibility facts
    assert re.search(r'<h2 id="diagnosis">Diagnosis: [a-z]', page)
    assert "deepstart tune digits --model mlp --trials 30" in text or "--epochs 6" in text
    assert "deepstart run digits --epochs 3 --quiet --out" in text
    env = json.loads((run / "env.json").read_text())
    assert env["torch"] in text and f"{metrics['train_seconds']:.1f} s" in text
    pictures = images(page)
    assert len(pictures) >= 10 + 12 + 4  # samples, mistakes, balance/curves/confusion/benchmark
    assert not list(run.glob(".*.part"))


def test_forecast_report_shows_residuals_and_the_series(runs, tmp_path):
    run = runs["airline-passengers"]
    out = tmp_path / "airline.html"
    assert main(["report", str(run), "--out", str(out)]) == 0
    page = out.read_text()
    assert_self_contained(page)
    text = html.unescape(page)
    rmse = json.loads((run / "metrics.json").read_text())["test"]["rmse"]
    assert f"test rmse <strong>{rmse:.4g}</strong>" in page
    assert 'alt="the series with its test part shaded"' in page and 'alt="residual plots"' in page
    shown = float(re.search(r"<p>RMSE ([\d.]+) ·", text).group(1))
    assert shown == pytest.approx(rmse, rel=1e-3)
    assert "series step" in text and "seasonal naive" in text
    assert len(images(page)) == 4  # series, curves, residuals, benchmark
    assert not (run / "report.html").exists()


def write_png(path, size=(40, 30), color=(200, 30, 30)):
    from PIL import Image

    Image.new("RGB", size, color).save(path)


def test_leaderboard_and_tuning_beside_a_run(runs, tmp_path):
    run = tmp_path / runs["digits"].name
    shutil.copytree(runs["digits"], run)
    evaluation = {
        "format": "deepstart-evaluation-1", "problem": "digits", "metric": "accuracy",
        "greater_is_better": True, "protocol": {"kind": "stratified k-fold", "k": 5, "seed": 0},
        "results": [
            {"algorithm": "logistic", "scores": [0.95, 0.96, 0.94, 0.97, 0.96], "mean": 0.956,
             "std": 0.0102, "fit_seconds": 0.8, "status": "ok"},
            {"algorithm": "svc-rbf", "scores": [0.99, 0.985, 0.99, 0.98, 0.99], "mean": 0.987,
             "std": 0.004, "fit_seconds": 0.3, "status": "ok"},
            {"algorithm": "majority", "scores": [0.1] * 5, "mean": 0.1, "std": 0.0,
             "fit_seconds": 0.0, "status": "ok"},
            {"algorithm": "convnet", "scores": [], "mean": None, "std": None, "fit_seconds": 0.0,
             "status": "skipped: budget"},
        ], "best": "svc-rbf"}
    older = tmp_path / "2026-01-01-digits-evaluate-1"
    newer = tmp_path / "2026-11-23-digits-evaluate-1"
    for folder, data in ((older, dict(evaluation, results=evaluation["results"][:1])),
                         (newer, evaluation)):
        folder.mkdir()
        (folder / "evaluation.json").write_text(json.dumps(data))
    import os

    os.utime(older / "evaluation.json", (1, 1))
    tuning = run / "tuning"
    tuning.mkdir()
    write_png(tuning / "history.png", color=(10, 200, 10))
    write_png(tuning / "importances.png", color=(10, 10, 200))
    (tuning / "study.json").write_text(json.dumps({"study": "digits-mlp", "best_value": 0.981,
                                                   "best_params": {"lr": 0.002, "dropout": 0.2}}))
    (tuning / "trials.csv").write_text("number,value,lr\n0,0.95,0.001\n1,0.981,0.002\n")
    write_png(run / "learning-curve.png", color=(120, 120, 0))  # as diagnose --learning-curve writes
    assert main(["report", str(run)]) == 0
    page = (run / "report.html").read_text()
    assert_self_contained(page)
    text = html.unescape(page)
    board = page[page.index('id="leaderboard"'):page.index('id="benchmark"')]
    assert "2026-11-23-digits-evaluate-1" in board and "stratified k-fold" in board
    order = [board.index(name) for name in ("svc-rbf", "logistic", "majority", "convnet")]
    assert order == sorted(order)  # best first, the one without a score last
    assert re.search(r'<tr class="best"><td class="num">1</td><td>svc-rbf</td>', board)
    assert "skipped: budget" in board
    # the spot-checked best joins the benchmark and the diagnosis's target
    assert "svc-rbf (spot-checked ± 0.004)" in text
    assert "target 0.9870 (svc-rbf" in text
    # the tuning images embedded byte for byte, the study and the trials
    for path in (tuning / "history.png", tuning / "importances.png", run / "learning-curve.png"):
        assert base64.b64encode(path.read_bytes()).decode() in page
    # the study in words, not its raw JSON; the trials rounded, the best in bold
    assert "best_params" not in text and "0.981 (lr=0.002, dropout=0.2)" in text
    assert "Trials (2; the best in bold)" in text


def test_unfinished_run_gets_a_report_that_says_so(runs, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the page shows paths from here (never absolute ones)
    run = tmp_path / "2026-11-23-digits-mlp-9"
    run.mkdir()
    for name in ("config.json", "env.json"):
        shutil.copy(runs["digits"] / name, run / name)
    rows = [{"epoch": 1, "loss": 1.6, "accuracy": 0.6, "val_loss": 0.9, "val_accuracy": 0.88,
             "lr": 0.001, "seconds": 1.0},
            {"epoch": 2, "loss": 0.6, "accuracy": 0.9, "val_loss": 0.4, "val_accuracy": 0.92,
             "lr": 0.001, "seconds": 1.0}]
    from safetensors.numpy import save_file  # a checkpoint's header: what the report reads
    meta = {"format": "deepstart-checkpoint-2", "epoch": 2, "history": rows, "opt_values": {},
            "opt_groups": [], "sha256": "0" * 64}
    save_file({}, str(run / "checkpoint.safetensors"), metadata={"deepstart": json.dumps(meta)})
    assert main(["report", str(run)]) == 0
    assert "the run has not finished" in capsys.readouterr().out
    page = (run / "report.html").read_text()
    assert_self_contained(page)
    text = html.unescape(page)
    assert 'id="unfinished"' in page and "This run has not finished" in text
    assert "2 of 3 epochs are recorded so far" in text
    assert f"deepstart run --resume {run.name}<" in text and str(tmp_path) not in text
    assert 'id="headline"' not in page and len(images(page)) == 1  # the curves so far
    # before any checkpoint: still a report, with nothing to plot
    (run / "checkpoint.safetensors").unlink()
    assert main(["report", str(run)]) == 0
    page = (run / "report.html").read_text()
    assert "0 of 3 epochs are recorded so far" in html.unescape(page) and images(page) == []


def test_bad_inputs_one_line_exit_2_nothing_written(runs, tmp_path, capsys):
    def report(*args):
        code = main(["report", *args])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and err.startswith("deepstart: error: ")
        return err

    assert "is not a run folder" in report(str(tmp_path))
    assert not list(tmp_path.iterdir())
    assert "is not a run folder" in report(str(tmp_path / "missing"))
    assert "does not exist" in report(str(runs["digits"]), "--out", str(tmp_path / "no" / "r.html"))
    assert "is a folder" in report(str(runs["digits"]), "--out", str(tmp_path))
    r = subprocess.run([sys.executable, "-m", "deepstart.cli", "report", str(tmp_path)],
                       capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "is not a run folder" in r.stderr


def test_own_table_report_shows_the_column_schema_and_rows_as_mistakes(tmp_path):
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.frame.iloc[:, [0, 1, 2, 3, 30]].copy()
    frame["target"] = np.where(bunch.target == 0, "malignant", "benign")
    frame.loc[::7, "mean radius"] = np.nan
    frame["clinic"] = np.array(["north", "south", "east"])[np.arange(len(frame)) % 3]
    path = tmp_path / "cancer.csv"
    frame.to_csv(path, index=False)
    assert main(["run", str(path), "--target", "target", "--epochs", "5", "--quiet",
                 "--out", str(tmp_path / "runs")]) == 0
    run = next((tmp_path / "runs").iterdir())
    assert main(["report", str(run)]) == 0
    page = (run / "report.html").read_text()
    assert_self_contained(page)
    text = html.unescape(page)
    assert "Columns (fitted on the training rows)" in text
    assert "imputed median" in text and "one-hot 3 categories" in text
    mistakes = text[text.index('id="mistakes"'):text.index('id="benchmark"')]
    assert "mean radius" in mistakes and "p(predicted)" in mistakes
    assert mistakes.count("<tr>") == 13  # header + 12 rows
    assert "majority class for every row" in text


def test_leaderboard_spreads_rounded_and_box_plot_zoomed_to_the_algorithms():
    """Spreads carry the digits of their score, and a baseline at 0.40 is a line off the axis,
    not a box that squashes the algorithms near 0.97 into a few pixels."""
    from deepstart.report import _leaderboard_figure, leaderboard_rows

    data = {"metric": "accuracy", "greater_is_better": True, "results": [
        {"algorithm": "logistic", "mean": 0.9326, "std": 0.000412, "scores": [0.9322, 0.9330]},
        {"algorithm": "knn", "mean": 0.9612, "std": 0.0123456, "scores": [0.95, 0.9724]},
        {"algorithm": "baseline", "mean": 0.3993, "std": 0.0247, "scores": [0.38, 0.42]}]}
    rows, best = leaderboard_rows(data)
    assert best == "knn"
    assert [(r["mean_text"], r["std_text"]) for r in rows] == [
        ("0.9612", "0.0123"), ("0.9326", "0.0004"), ("0.3993", "0.0247")]
    fig = _leaderboard_figure(rows, "accuracy", data["results"], ours=0.95)
    ax = fig.axes[0]
    lo, hi = ax.get_xlim()
    assert 0.9 < lo < 0.9322 and 0.9724 < hi <= 1.01
    assert [t.get_text() for t in ax.get_yticklabels()] == ["logistic", "knn"]
    assert "off the axis: baseline 0.3993" in ax.get_xlabel()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["this run (test) 0.9500"]
