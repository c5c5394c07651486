"""`deepstart export RUN`: ONNX checked by onnxruntime against PyTorch (an MLP on digits, a convnet
on digit images, an LSTM on airline passengers), predictions.csv that reproduces metrics.json's test
score, --input for tables (built-in and your own CSV), and bad input as one line with exit code 2.
(GoogLeNet exports too, its main head only, since eval mode drops the auxiliary heads; tracing its
nine inception blocks takes about 15 s, so that check lives in no test here.)"""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from deepstart.cli import main


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    for args in (["digits", "--epochs", "2"],
                 ["digits", "--model", "convnet", "--epochs", "1", "--option", "widths=[8,16]"],
                 ["airline-passengers", "--model", "lstm", "--epochs", "5"],
                 ["iris", "--epochs", "5"]):
        assert main(["run", *args, "--quiet", "--out", str(out)]) == 0
    return {p.name.split("-", 3)[3].rsplit("-", 1)[0]: p for p in out.iterdir()}


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def onnx_outputs(run, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(run / "model.onnx"), providers=["CPUExecutionProvider"])
    return session.run(["output"], {"input": x.astype(np.float32)})[0]


def test_mlp_on_digits_onnx_and_predictions(runs, capsys):
    run = runs["digits-mlp"]
    assert main(["export", str(run)]) == 0
    out = capsys.readouterr().out
    import onnx

    model = onnx.load(str(run / "model.onnx"))
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    assert f"ONNX opset {opset}, dynamic batch axis" in out
    diff = float(out.split("max abs difference ")[1].split()[0])
    assert diff < 1e-4
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert not list(run.glob("*.data"))  # the weights are inside model.onnx

    metrics = json.loads((run / "metrics.json").read_text())
    rows = read_rows(run / "predictions.csv")
    assert len(rows) == 450
    assert list(rows[0])[:3] == ["id", "true", "predicted"]
    assert list(rows[0])[3:] == [f"p_{i}" for i in range(10)]
    accuracy = np.mean([r["true"] == r["predicted"] for r in rows])
    assert accuracy == pytest.approx(metrics["test"]["accuracy"], abs=1e-12)
    assert f"accuracy from them {accuracy:.4f} (metrics.json: {accuracy:.4f})" in out
    for r in rows[:50]:
        p = [float(r[f"p_{i}"]) for i in range(10)]
        assert sum(p) == pytest.approx(1, abs=1e-4)
        assert str(int(np.argmax(p))) == r["predicted"]

    # the dynamic batch axis: any number of rows, the same outputs as PyTorch
    from deepstart.models import load_model

    torch_model, _ = load_model(run)
    import torch

    x = np.random.default_rng(0).normal(size=(7, 1, 8, 8)).astype(np.float32)
    expected = torch_model(torch.from_numpy(x)).detach().numpy()
    assert np.abs(onnx_outputs(run, x) - expected).max() < 1e-4
    assert onnx_outputs(run, x[:1]).shape == (1, 10)


def test_convnet_on_digit_images(runs, capsys):
    run = runs["digits-convnet"]
    assert main(["export", str(run), "--opset", "18"]) == 0
    out = capsys.readouterr().out
    assert "ONNX opset 18" in out
    assert float(out.split("max abs difference ")[1].split()[0]) < 1e-4
    rows = read_rows(run / "predictions.csv")
    metrics = json.loads((run / "metrics.json").read_text())
    assert len(rows) == 450
    assert np.mean([r["true"] == r["predicted"] for r in rows]) == \
        pytest.approx(metrics["test"]["accuracy"], abs=1e-12)


def test_lstm_on_airline_passengers(runs, capsys):
    run = runs["airline-passengers-lstm"]
    assert main(["export", str(run)]) == 0
    out = capsys.readouterr().out
    assert float(out.split("max abs difference ")[1].split()[0]) < 1e-4
    rows = read_rows(run / "predictions.csv")
    assert list(rows[0]) == ["id", "series_index", "true", "predicted"]
    assert len(rows) == 46 and rows[0]["series_index"] == "97"  # the tutorial's 46 test months
    metrics = json.loads((run / "metrics.json").read_text())
    rmse = math.sqrt(np.mean([(float(r["true"]) - float(r["predicted"])) ** 2 for r in rows]))
    assert rmse == pytest.approx(metrics["test"]["rmse"], rel=1e-5)
    from deepstart.problems.catalog import airline_series

    series = airline_series()
    assert [float(r["true"]) for r in rows] == pytest.approx(series[97:143].tolist(), rel=1e-6)


def test_input_csv_on_a_builtin_table_matches_the_test_predictions(runs, tmp_path, capsys):
    """The iris test rows written as a CSV by feature name come back with the same predictions."""
    from deepstart.problems import get_problem

    run = runs["iris-mlp"]
    raw = get_problem("iris").load()
    path = tmp_path / "flowers.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(raw.feature_names)
        w.writerows(raw.x_test.tolist())
    assert main(["export", str(run), "--input", str(path)]) == 0
    assert f"{run / 'predictions-flowers.csv'}: 38 rows of {path}" in capsys.readouterr().out
    given = read_rows(run / "predictions-flowers.csv")
    test = read_rows(run / "predictions.csv")
    assert [r["predicted"] for r in given] == [r["predicted"] for r in test]
    assert "true" not in given[0]  # the file has no target column
    for a, b in zip(given, test):
        for c in ("setosa", "versicolor", "virginica"):
            assert float(a[f"p_{c}"]) == pytest.approx(float(b[f"p_{c}"]), rel=1e-4, abs=1e-6)


def test_input_csv_on_your_own_table_goes_through_the_column_schema(tmp_path, capsys):
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.frame.iloc[:, [0, 1, 2, 3, 6]].copy()
    frame["diagnosis"] = np.where(bunch.target == 0, "malignant", "benign")
    frame["clinic"] = np.array(["north", "south", "east"])[np.arange(len(frame)) % 3]
    frame.loc[::9, "mean texture"] = np.nan
    path = tmp_path / "cancer.csv"
    frame.to_csv(path, index=False)
    assert main(["run", str(path), "--target", "diagnosis", "--epochs", "5", "--quiet",
                 "--out", str(tmp_path / "runs")]) == 0
    run = next((tmp_path / "runs").iterdir())
    # every row of the training file, columns in another order, plus a row with gaps and a
    # clinic the model never saw
    shuffled = frame[["clinic", "diagnosis"] + list(frame.columns[:5])]
    extra = {c: [None] for c in shuffled.columns} | {"clinic": ["west"], "mean radius": [14.0]}
    import pandas as pd

    rows_in = pd.concat([shuffled, pd.DataFrame(extra)], ignore_index=True)
    rows_in.to_csv(tmp_path / "new.csv", index=False)
    assert main(["export", str(run), "--input", str(tmp_path / "new.csv")]) == 0
    capsys.readouterr()
    given = read_rows(run / "predictions-new.csv")
    assert len(given) == len(frame) + 1
    assert list(given[0])[:3] == ["id", "true", "predicted"]
    assert {r["predicted"] for r in given} <= {"benign", "malignant"}
    # every test row of predictions.csv appears among the file's rows, probabilities and all
    key = ("true", "predicted", "p_benign", "p_malignant")
    everything = {tuple(r[k] for k in key) for r in given}
    test = read_rows(run / "predictions.csv")
    assert len(test) == 114 and all(tuple(r[k] for k in key) in everything for r in test)
    accuracy = np.mean([r["true"] == r["predicted"] for r in test])
    assert accuracy == pytest.approx(json.loads((run / "metrics.json").read_text())["test"]["accuracy"])


def test_bad_inputs_one_line_exit_2(runs, tmp_path, capsys):
    def export(*args):
        code = main(["export", *args])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and err.startswith("deepstart: error: ")
        return err

    assert "is not a run folder" in export(str(tmp_path))
    assert not list(tmp_path.iterdir())
    run = runs["digits-mlp"]
    err = export(str(run), "--input", str(tmp_path / "x.csv"))
    assert "--input takes a CSV table" in err and "images" in err
    assert "pass --opset 18 or later" in export(str(run), "--opset", "11")
    (tmp_path / "petals.csv").write_text("petal length (cm),petal width (cm)\n1.4,0.2\n")
    err = export(str(runs["iris-mlp"]), "--input", str(tmp_path / "petals.csv"))
    assert "lacks the column(s) sepal length (cm), sepal width (cm)" in err
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "config.json").write_text((run / "config.json").read_text())
    assert "has not finished" in export(str(unfinished))
    assert not (unfinished / "model.onnx").exists()
    # the same line and exit code from the installed command
    r = subprocess.run([sys.executable, "-m", "deepstart.cli", "export", str(tmp_path / "nope")],
                       capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "is not a run folder" in r.stderr
