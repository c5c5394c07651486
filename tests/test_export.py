"""`deepstart export RUN`: model.onnx takes the raw inputs a user holds (image pixels as stored, a
series' values, a table's columns by name, text as text) and onnxruntime on the raw test inputs
reproduces metrics.json's test score: an MLP and a convnet on digits, a convnet on a folder of real
Fashion-MNIST PNGs, an LSTM on airline passengers, iris, and a CSV table with categorical columns and
missing values. predictions.csv reproduces the score too; --input for tables goes through serve's
row check; bad input is one line with exit code 2 and writes nothing.
(GoogLeNet exports too, its main head only, since eval mode drops the auxiliary heads; tracing its
nine inception blocks takes about 15 s, so that check lives in no test here.)"""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepstart.cli import main
from conftest import require_path

FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    for args in (["digits", "--epochs", "2"],
                 ["digits", "--model", "convnet", "--epochs", "1", "--option", "widths=[8,16]"],
                 ["airline-passengers", "--model", "lstm", "--epochs", "5"],
                 ["airline-passengers"],  # the recipe: a linear model on 13 months, about 2 s
                 ["iris", "--epochs", "5"]):
        assert main(["run", *args, "--quiet", "--out", str(out)]) == 0
    return {p.name.split("-", 3)[3].rsplit("-", 1)[0]: p for p in out.iterdir()}


@pytest.fixture(scope="module")
def pima_plus(tmp_path_factory):
    """The Pima table the package ships, with three made-up text columns (one with gaps, one with
    more categories than get a column) and gaps in a numeric one: a run on it, and the CSV file."""
    from importlib import resources

    folder = tmp_path_factory.mktemp("pima")
    frame = pd.read_csv(resources.files("deepstart.problems").joinpath(
        "data/pima-indians-diabetes.csv"))
    rng = np.random.default_rng(0)
    frame["clinic"] = np.array(["north", "south", "east", "west"])[rng.integers(0, 4, len(frame))]
    frame["smoker"] = np.where(frame["mass"] > 32, "yes", "no").astype(object)
    frame.loc[rng.random(len(frame)) < 0.1, "smoker"] = np.nan
    frame["mass"] = frame["mass"].where(rng.random(len(frame)) > 0.1)
    # 35 towns: the 30 most frequent get a column each, the rest share "(other)"
    frame["town"] = [f"town{i}" for i in rng.integers(0, 35, len(frame))]
    path = folder / "pima-plus.csv"
    frame.to_csv(path, index=False)
    assert main(["run", str(path), "--target", "diabetes", "--epochs", "8", "--quiet",
                 "--out", str(folder / "runs")]) == 0
    return next((folder / "runs").iterdir()), path


def snippet(heading: str, replace: dict[str, str]) -> dict:
    """Run the code block under `heading` in docs/export.md with `replace` applied (the run's
    path, the file names); returns its variables."""
    text = (Path(__file__).parents[1] / "docs" / "export.md").read_text()
    code = text.split(f"## {heading}\n", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    assert len(code.strip().splitlines()) == 5  # five lines, as the docs promise
    for old, new in replace.items():
        assert old in code
        code = code.replace(old, new)
    variables: dict = {}
    exec(compile(code, "docs/export.md", "exec"), variables)  # noqa: S102 (our own docs)
    return variables


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def session(run):
    import onnxruntime as ort

    return ort.InferenceSession(str(run / "model.onnx"), providers=["CPUExecutionProvider"])


def recorded(run) -> dict:
    return json.loads((run / "metrics.json").read_text())["test"]


def exported_line(out: str) -> str:
    return next(line for line in out.splitlines() if "model.onnx:" in line)


def test_mlp_on_digits_takes_the_stored_pixels(runs, capsys):
    """Raw 0..16 digit pixels in, the run's accuracy out (main's graph wanted them divided by 16
    first, and scored 0.86 on them where the run scored 0.976)."""
    run = runs["digits-mlp"]
    assert main(["export", str(run)]) == 0
    out = capsys.readouterr().out
    import onnx

    model = onnx.load(str(run / "model.onnx"))
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    assert f"ONNX opset {opset}, dynamic batch axis, raw inputs image" in out
    diff = float(out.split("max abs difference ")[1].split()[0])
    assert diff < 1e-4
    assert model.graph.input[0].name == "image"
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert not list(run.glob("*.data"))  # the weights are inside model.onnx

    from deepstart.problems import get_problem

    raw = get_problem("digits").load()
    assert raw.x_test.max() == 16  # as stored: unscaled
    label, proba = session(run).run(["label", "probabilities"], {"image": raw.x_test})
    accuracy = float(np.mean(label == raw.y_test.astype(str)))
    assert accuracy == recorded(run)["accuracy"]
    assert f"accuracy from onnxruntime's outputs {accuracy:.4f} (metrics.json: {accuracy:.4f})" \
        in exported_line(out)
    assert np.allclose(proba.sum(1), 1, atol=1e-5)

    rows = read_rows(run / "predictions.csv")
    assert len(rows) == 450
    assert list(rows[0])[:3] == ["id", "true", "predicted"]
    assert list(rows[0])[3:] == [f"p_{i}" for i in range(10)]
    assert [r["predicted"] for r in rows] == label.tolist()
    assert np.mean([r["true"] == r["predicted"] for r in rows]) == accuracy
    assert f"accuracy from them {accuracy:.4f} (metrics.json: {accuracy:.4f})" in out

    # the dynamic batch axis: any number of images, PyTorch's outputs on them scaled as the run did
    import torch

    from deepstart.models import load_model
    from deepstart.prepare import scale_x

    torch_model, spec = load_model(run)
    x = np.random.default_rng(0).integers(0, 17, size=(7, 1, 8, 8)).astype(np.float32)
    expected = torch.softmax(torch_model(torch.from_numpy(scale_x(x, spec["scaling"]["x"]))), 1)
    assert np.abs(session(run).run(["probabilities"], {"image": x})[0]
                  - expected.detach().numpy()).max() < 1e-4
    assert session(run).run(["label"], {"image": x[:1]})[0].shape == (1,)


def test_convnet_on_digit_images(runs, capsys):
    run = runs["digits-convnet"]
    assert main(["export", str(run), "--opset", "18"]) == 0
    out = capsys.readouterr().out
    assert "ONNX opset 18" in out
    assert float(out.split("max abs difference ")[1].split()[0]) < 1e-4
    from deepstart.problems import get_problem

    raw = get_problem("digits").load()
    label = session(run).run(["label"], {"image": raw.x_test})[0]
    assert np.mean(label == raw.y_test.astype(str)) == recorded(run)["accuracy"]
    rows = read_rows(run / "predictions.csv")
    assert np.mean([r["true"] == r["predicted"] for r in rows]) == recorded(run)["accuracy"]


def test_fashion_mnist_pngs_as_a_user_holds_them(tmp_path, capsys):
    """A folder of real Fashion-MNIST images (90 PNGs, 3 classes): model.onnx takes the uint8
    pixels as stored and as Pillow opens a PNG, and scores the run's accuracy on the test images."""
    from PIL import Image

    from deepstart.problems.idx import read_idx

    src = require_path(FASHION, "install it with `apt-get install dataset-fashion-mnist`")
    images = read_idx(src / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(src / "t10k-labels-idx1-ubyte.gz")
    folder = tmp_path / "clothes"
    for k, name in ((0, "t-shirt"), (1, "trouser"), (7, "sneaker")):
        (folder / name).mkdir(parents=True)
        for i in np.flatnonzero(labels == k)[:30]:
            Image.fromarray(images[i]).save(folder / name / f"{i}.png")
    assert main(["run", str(folder), "--epochs", "3", "--option", "widths=[8,16]", "--quiet",
                 "--out", str(tmp_path / "runs")]) == 0
    run = next((tmp_path / "runs").iterdir())
    assert main(["export", str(run)]) == 0
    capsys.readouterr()
    s = session(run)
    assert s.get_inputs()[0].type == "tensor(uint8)"

    from deepstart.problems import get_problem

    raw = get_problem(str(folder)).load()
    assert raw.x_test.dtype == np.uint8 and raw.x_test.max() > 200
    label = s.run(["label"], {"image": raw.x_test})[0]
    classes = np.array(["sneaker", "t-shirt", "trouser"])
    assert np.mean(label == classes[raw.y_test]) == recorded(run)["accuracy"]

    # docs/export.md's image snippet on a PNG file, against PyTorch on the same pixels
    import torch

    from deepstart.models import load_model
    from deepstart.prepare import scale_x

    torch_model, spec = load_model(run)
    for png in sorted(folder.glob("*/*.png"))[::15]:
        pixels = np.asarray(Image.open(png).convert("L"))[None, None]
        got = s.run(["label"], {"image": pixels})[0][0]
        logits = torch_model(torch.from_numpy(scale_x(pixels, spec["scaling"]["x"])))
        assert got == classes[int(logits.argmax())]
    png = next(folder.glob("sneaker/*.png"))
    done = snippet("An image file", {"runs/2026-12-01-clothes-convnet-1/model.onnx":
                                     str(run / "model.onnx"), "shoe.png": str(png)})
    stored = np.asarray(Image.open(png))[None, None]
    assert done["label"].tolist() == s.run(["label"], {"image": stored})[0].tolist()
    assert done["probabilities"].shape == (1, 3)


def test_lstm_on_airline_passengers_takes_raw_windows(runs, capsys):
    run = runs["airline-passengers-lstm"]
    assert main(["export", str(run)]) == 0
    out = capsys.readouterr().out
    assert float(out.split("max abs difference ")[1].split()[0]) < 1e-4
    rows = read_rows(run / "predictions.csv")
    assert list(rows[0]) == ["id", "series_index", "true", "predicted"]
    assert len(rows) == 46 and rows[0]["series_index"] == "97"  # the tutorial's 46 test months
    rmse = math.sqrt(np.mean([(float(r["true"]) - float(r["predicted"])) ** 2 for r in rows]))
    assert rmse == pytest.approx(recorded(run)["rmse"], rel=1e-5)
    from deepstart.problems.catalog import airline_series

    series = airline_series()
    assert [float(r["true"]) for r in rows] == pytest.approx(series[97:143].tolist(), rel=1e-6)

    # passengers in thousands, the `lookback` months before each test month; the forecast in them
    lookback = json.loads((run / "model.json").read_text())["lookback"]
    windows = np.stack([series[t - lookback:t] for t in range(97, 143)])
    value = session(run).run(["value"], {"window": windows})[0]
    rmse = math.sqrt(np.mean((value - series[97:143]) ** 2))
    assert rmse == pytest.approx(recorded(run)["rmse"], rel=1e-5)
    assert value == pytest.approx([float(r["predicted"]) for r in rows], rel=1e-5)


def test_series_snippet_forecasts_from_raw_values(runs, capsys):
    """docs/export.md's window: the last 13 months as printed in the CSV, the recipe's linear
    model; the forecast in thousands of passengers, and the same as PyTorch's on the scaled window."""
    run = runs["airline-passengers-linear"]
    assert main(["export", str(run)]) == 0
    capsys.readouterr()
    done = snippet("A series window", {"runs/2026-12-01-airline-passengers-linear-1/model.onnx":
                                       str(run / "model.onnx")})
    from deepstart.problems.catalog import airline_series

    assert done["window"][0].tolist() == airline_series()[-13:].tolist()
    import torch

    from deepstart.models import load_model
    from deepstart.prepare import scale_x

    model, spec = load_model(run)
    z = model(torch.from_numpy(scale_x(done["window"], spec["scaling"]["x"]))).item()
    expected = z * spec["scaling"]["y"]["scale"] + spec["scaling"]["y"]["offset"]
    assert done["value"].shape == (1,) and done["value"][0] == pytest.approx(expected, rel=1e-5)
    assert 350 < done["value"][0] < 550  # January 1961, the size of the Januaries before it


def test_builtin_table_takes_one_input_per_column(runs, tmp_path, capsys):
    """Iris: one float input per feature, by name, in centimetres; --input takes the same rows as a
    CSV and predicts as the test rows were predicted."""
    from deepstart.problems import get_problem

    run = runs["iris-mlp"]
    raw = get_problem("iris").load()
    path = tmp_path / "flowers.csv"
    pd.DataFrame(raw.x_test, columns=list(raw.feature_names)).to_csv(path, index=False)
    assert main(["export", str(run), "--input", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{run / 'predictions-flowers.csv'}: 38 rows of {path}" in out
    s = session(run)
    assert [i.name for i in s.get_inputs()] == list(raw.feature_names)
    rows = pd.read_csv(path)
    label = s.run(["label"], {c: rows[[c]].to_numpy(np.float32) for c in rows.columns})[0]
    classes = np.array(["setosa", "versicolor", "virginica"])
    assert np.mean(label == classes[raw.y_test]) == recorded(run)["accuracy"]

    given = read_rows(run / "predictions-flowers.csv")
    test = read_rows(run / "predictions.csv")
    assert [r["predicted"] for r in given] == [r["predicted"] for r in test] == label.tolist()
    assert "true" not in given[0]  # the file has no target column
    for a, b in zip(given, test):
        for c in classes:
            assert float(a[f"p_{c}"]) == pytest.approx(float(b[f"p_{c}"]), rel=1e-4, abs=1e-6)


def onnx_on_rows(run, rows: pd.DataFrame):
    """docs/export.md's CSV snippet: each input by column name, numbers as float32, text as str."""
    s = session(run)
    rows = rows.astype(object)  # as the snippet reads the CSV (pyarrow strings keep 1 character)
    feeds = {i.name: rows[[i.name]].to_numpy(np.float32 if i.type == "tensor(float)" else str)
             for i in s.get_inputs()}
    return s.run(["label", "probabilities"], feeds)


def test_own_table_with_text_columns_and_gaps(pima_plus, tmp_path, capsys):
    """Text columns are string inputs, one-hot in the graph; gaps are NaN (numbers) or empty
    (text), imputed with their indicator in the graph; the raw test rows of the CSV score the
    run's accuracy, and every row of the file gets --input's predictions."""
    run, path = pima_plus
    assert main(["export", str(run)]) == 0
    out = capsys.readouterr().out
    s = session(run)
    types = {i.name: i.type for i in s.get_inputs()}
    assert types["clinic"] == types["smoker"] == types["town"] == "tensor(string)"
    spec = json.loads((run / "model.json").read_text())
    assert next(e for e in spec["columns"] if e["name"] == "town")["other"]
    assert types["mass"] == types["glucose"] == "tensor(float)"
    assert "diabetes" not in types

    from deepstart.problems import get_problem

    test_rows = get_problem(str(path), {"target": "diabetes"}).load().test_rows
    frame = pd.read_csv(path)
    assert len(test_rows) == 154 and test_rows["mass"].isna().any() and \
        test_rows["smoker"].isna().any()
    label, _ = onnx_on_rows(run, test_rows)
    rows = read_rows(run / "predictions.csv")
    assert label.tolist() == [r["predicted"] for r in rows]
    accuracy = float(np.mean(label == np.array([r["true"] for r in rows])))
    assert accuracy == recorded(run)["accuracy"]
    assert f"accuracy from onnxruntime's outputs {accuracy:.4f}" in exported_line(out)

    # the whole file, plus rows with gaps everywhere and a clinic never seen: --input (through
    # serve's row check and PyTorch) and the graph agree on every row
    extra = pd.DataFrame({c: [None, None] for c in frame.columns})
    extra["clinic"] = ["mars", None]
    extra["town"] = ["atlantis", "town3"]
    extra["glucose"] = [150.0, None]
    rows_in = pd.concat([frame, extra], ignore_index=True)
    rows_in.to_csv(tmp_path / "new.csv", index=False)
    assert main(["export", str(run), "--input", str(tmp_path / "new.csv")]) == 0
    given = read_rows(run / "predictions-new.csv")
    label, proba = onnx_on_rows(run, pd.read_csv(tmp_path / "new.csv"))
    assert label.tolist() == [r["predicted"] for r in given]
    assert proba[:, 1] == pytest.approx([float(r["p_pos"]) for r in given], abs=1e-5)
    assert [r["true"] for r in given[:len(frame)]] == frame["diabetes"].tolist()
    done = snippet("A CSV row", {"runs/2026-12-01-pima-plus-mlp-1/model.onnx": str(run / "model.onnx"),
                                 "new_rows.csv": str(tmp_path / "new.csv")})
    assert done["label"].tolist() == label.tolist()


def test_opset_out_of_range_is_refused_with_the_range(runs, capsys):
    import onnx

    top = onnx.defs.onnx_opset_version()
    run = runs["digits-mlp"]
    for opset in (11, 999):
        assert main(["export", str(run), "--opset", str(opset)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"opset {opset} is outside" in err
        assert f"pass --opset 18 to {top}" in err


@pytest.mark.parametrize("column, value, message", [
    ("glucose", "high", 'row 2, column "glucose": expected a number or null, got "high"'),
    ("pedigree", "inf", 'row 2, column "pedigree": expected a finite number'),
    ("colour", "red", 'row 1, column "colour": unknown feature'),
    ("clinic", None, 'row 1, column "clinic": missing'),
])
def test_input_rows_checked_as_serve_checks_them(pima_plus, tmp_path, capsys, column, value,
                                                 message):
    """Text in a numeric column (main imputed it as missing), an infinite number, an extra and a
    missing column: one line naming the row and column, and nothing written, model.onnx and
    predictions.csv included. serve refuses the same row with the same words."""
    run, path = pima_plus
    rows = pd.read_csv(path).head(3).astype(object)
    if value is None:
        rows = rows.drop(columns=[column])
    elif column in rows:
        rows.loc[1, column] = value
    else:
        rows[column] = value
    bad = tmp_path / "bad.csv"
    rows.to_csv(bad, index=False)
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    assert main(["export", str(run), "--input", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("deepstart: error: ")
    assert message in err and "nothing was written" in err
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before

    from deepstart.serve import InputError, ServedModel

    body = {"rows": [{k: (None if isinstance(v, float) and math.isnan(v) else v)
                      for k, v in r.items()} for r in rows.to_dict("records")]}
    if value == "inf":
        body["rows"][1][column] = 1e999  # JSON's way to write an infinity
    with pytest.raises(InputError) as e:
        ServedModel(run).inputs_from_json(body)
    assert message.split(": ", 1)[1].split(",")[0] in str(e.value)


def test_nan_in_a_builtin_table_is_named(runs, tmp_path, capsys):
    """Iris has no imputation: a NaN cell is refused (main wrote NaN probabilities)."""
    run = runs["iris-mlp"]
    (tmp_path / "x.csv").write_text("sepal length (cm),sepal width (cm),petal length (cm),"
                                    "petal width (cm)\n5.1,3.5,1.4,0.2\n6.0,NaN,4.5,1.5\n")
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    assert main(["export", str(run), "--input", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err
    assert 'row 2, column "sepal width (cm)": expected a number, got null' in err
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before


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
    (tmp_path / "petals.csv").write_text("petal length (cm),petal width (cm)\n1.4,0.2\n")
    err = export(str(runs["iris-mlp"]), "--input", str(tmp_path / "petals.csv"))
    assert 'row 1, column "sepal length (cm)": missing (and 1 more)' in err
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "config.json").write_text((run / "config.json").read_text())
    assert "has not finished" in export(str(unfinished))
    assert not (unfinished / "model.onnx").exists()
    # the same line and exit code from the installed command
    r = subprocess.run([sys.executable, "-m", "deepstart.cli", "export", str(tmp_path / "nope")],
                       capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "is not a run folder" in r.stderr
