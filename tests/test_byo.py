"""Bring your own data: CSV tables, image folders and CSV series, from the command line and from
Python, on real data (scikit-learn's bundled tables and digits, the shipped airline series) with
real defects added: categorical columns, missing values, identifier and constant columns, corrupt
images, stray files. Every bad input ends in one line, exit code 2, and no run folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris, load_wine

from deepstart import Learner, image_folder_problem, series_problem, tabular_problem
from deepstart.cli import main
from conftest import require_path
from deepstart.errors import DataWarning, DeepstartError
from deepstart.models import load_model
from deepstart.prepare import prepare
from deepstart.problems import get_problem
from deepstart.problems.columns import encode, feature_names, fit_columns
from deepstart.problems.splits import split_indices
from deepstart.problems.tabular import read_csv
from deepstart.present import print_data_report

FASHION = Path("/usr/share/datasets/fashion-mnist")
AIRLINE = Path(str(resources.files("deepstart.problems").joinpath("data/airline-passengers.csv")))


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPSTART_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "home"


# --- real data with real defects ----------------------------------------------------------------

def cancer_frame() -> pd.DataFrame:
    """Breast cancer (569 rows) with a text target, a categorical column with gaps, missing values
    in a numeric column, a row id, a constant and an empty column."""
    frame = load_breast_cancer(as_frame=True).frame
    rng = np.random.default_rng(0)
    out = frame.drop(columns="target").iloc[:, :6].copy()
    out.insert(0, "patient_id", np.arange(1000, 1000 + len(frame)))
    out["clinic"] = rng.choice(["north", "south", "east"], len(frame))
    out.loc[rng.random(len(frame)) < 0.05, "clinic"] = None
    out.loc[rng.random(len(frame)) < 0.1, "mean radius"] = np.nan
    out["scanner"] = "v2"
    out["notes"] = np.nan
    out["diagnosis"] = np.where(frame["target"] == 1, "benign", "malignant")
    return out


@pytest.fixture
def cancer_csv(tmp_path) -> Path:
    path = tmp_path / "cancer.csv"
    cancer_frame().to_csv(path, index=False)
    return path


def train_test_rows(y_labels, n_rows: int, stratify: bool = True):
    """The split the tabular problem makes: 20 % test, seed 0."""
    return split_indices(np.asarray(y_labels), int(np.ceil(n_rows * 0.2)), 0, stratify=stratify)


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


# --- tables -------------------------------------------------------------------------------------

def test_task_is_inferred_from_the_target_and_can_be_overridden():
    iris = load_iris(as_frame=True).frame  # target: whole numbers 0, 1, 2
    problem = tabular_problem(iris, target="target")
    assert problem.task == "multiclass" and problem.class_names == ("0", "1", "2")
    assert tabular_problem(cancer_frame(), target="diagnosis").task == "binary"
    diabetes = load_diabetes(as_frame=True).frame  # 214 distinct whole numbers: amounts
    regression = tabular_problem(diabetes, target="target")
    assert regression.task == "regression" and regression.metric == "rmse"
    assert tabular_problem(iris, target="target", task="regression").task == "regression"
    assert "numbers" in regression.schema["target"]["inferred"]


def test_columns_are_encoded_as_the_report_says():
    problem = tabular_problem(cancer_frame(), target="diagnosis")
    entries = {e["name"]: e for e in problem.schema["columns"]}
    assert entries["patient_id"]["dropped"] == "identifier-like"
    assert entries["scanner"]["dropped"] == "constant"
    assert entries["notes"]["dropped"] == "all missing"
    clinic = entries["clinic"]
    assert clinic["categories"] == ["east", "north", "south"] and clinic["missing_category"]
    assert clinic["features"] == ["clinic=east", "clinic=north", "clinic=south", "clinic=(missing)"]
    radius = entries["mean radius"]
    assert radius["indicator"] and radius["features"] == ["mean radius", "mean radius_missing"]
    assert entries["mean texture"]["features"] == ["mean texture"]  # no gaps: no indicator
    data = problem.load()
    names = data.feature_names
    assert len(names) == data.x_train.shape[1] == 6 + 1 + 4  # 6 numbers, 1 indicator, 4 one-hot
    onehot = data.x_train[:, [names.index(f) for f in clinic["features"]]]
    assert (onehot.sum(axis=1) == 1).all()  # exactly one of the clinics, or "missing"
    assert np.isfinite(data.x_train).all() and np.isfinite(data.x_test).all()
    flagged = data.x_train[:, names.index("mean radius_missing")] == 1
    assert (data.x_train[flagged, names.index("mean radius")] == radius["impute"]).all()


def test_encoding_is_fitted_on_the_training_rows_only():
    frame = cancer_frame()
    y = (frame["diagnosis"] == "malignant").astype(int).to_numpy()
    train, test = train_test_rows(y, len(frame))
    # Test rows get huge radii and a clinic no training row has: neither may reach the encoding.
    frame.loc[test, "mean radius"] = 1000.0
    frame.loc[test[:5], "clinic"] = "west"
    problem = tabular_problem(frame, target="diagnosis")
    entries = {e["name"]: e for e in problem.schema["columns"]}
    assert entries["mean radius"]["impute"] == pytest.approx(frame.loc[train, "mean radius"].median())
    assert entries["mean radius"]["impute"] < 30
    assert "west" not in entries["clinic"]["categories"]
    data = problem.load()
    west = [list(test).index(i) for i in test[:5]]
    clinic_cols = [data.feature_names.index(f) for f in entries["clinic"]["features"]]
    assert (data.x_test[np.ix_(west, clinic_cols)] == 0).all()  # an unseen category: all zeros


def test_split_is_stratified():
    problem = tabular_problem(cancer_frame(), target="diagnosis")
    data = problem.load()
    share = np.mean(np.concatenate([data.y_train, data.y_test]))
    assert len(data.y_test) == 114
    assert abs(data.y_test.sum() - share * len(data.y_test)) <= 1
    assert abs(data.y_train.sum() - share * len(data.y_train)) <= 1


def test_schema_is_json_and_encodes_raw_rows_by_name_to_the_same_features():
    frame = cancer_frame()
    problem = tabular_problem(frame, target="diagnosis")
    entries = json.loads(json.dumps(problem.schema["columns"]))  # what model.json keeps
    y = (frame["diagnosis"] == "malignant").astype(int).to_numpy()
    _, test = train_test_rows(y, len(frame))
    raw_rows = frame.iloc[test].drop(columns="diagnosis").to_dict(orient="list")  # plain lists
    np.testing.assert_array_equal(encode(entries, raw_rows), problem.load().x_test)


def test_csv_run_end_to_end_with_report_and_schema_in_model_json(tmp_path, cancer_csv, capsys):
    assert main(["run", "cancer.csv", "--target", "diagnosis", "--epochs", "2", "--quiet",
                 "--out", "out"]) == 0
    printed = capsys.readouterr().out
    for text in ("target 'diagnosis': binary", "one-hot 3 categories + missing",
                 "imputed median", "+ indicator", "dropped: identifier-like", "dropped: constant",
                 "dropped: all missing", "majority class", "test accuracy"):
        assert text in printed, text
    folder = next((tmp_path / "out").iterdir())
    assert folder.name.endswith("-cancer-mlp-1")
    config = json.loads((folder / "config.json").read_text())
    assert config["problem"] == str(cancer_csv) and config["data_options"] == {"target": "diagnosis"}
    spec = json.loads((folder / "model.json").read_text())
    assert spec["target"]["classes"] == ["benign", "malignant"]
    assert [e["name"] for e in spec["columns"]][:2] == ["patient_id", "mean radius"]
    assert spec["feature_names"] == list(feature_names(spec["columns"]))
    metrics = json.loads((folder / "metrics.json").read_text())

    # The model folder alone takes raw rows by column name: schema, then scaling, then the model.
    import torch

    model, spec = load_model(folder)
    frame = pd.read_csv(cancer_csv)
    y = (frame["diagnosis"] == "malignant").astype(int).to_numpy()
    _, test = train_test_rows(y, len(frame))
    x = encode(spec["columns"], frame.iloc[test].to_dict(orient="list"))
    sx = spec["scaling"]["x"]
    x = (x - np.asarray(sx["offset"])) / np.asarray(sx["scale"])
    with torch.no_grad():
        predicted = (model(torch.from_numpy(x.astype(np.float32))).reshape(-1) > 0).numpy()
    assert np.mean(predicted == y[test]) == pytest.approx(metrics["test"]["accuracy"])


def test_a_csv_run_resumes_from_its_config(tmp_path, cancer_csv, monkeypatch, capsys):
    args = ["run", "cancer.csv", "--target", "diagnosis", "--epochs", "3", "--quiet"]
    assert main([*args, "--out", "straight"]) == 0
    import deepstart.learner as learner_module

    real_end = learner_module.Learner._end_epoch

    def end_epoch(self, *a):
        real_end(self, *a)
        if self.epoch == 1:
            raise KeyboardInterrupt
    monkeypatch.setattr(learner_module.Learner, "_end_epoch", end_epoch)
    assert main([*args, "--out", "cut"]) == 130
    monkeypatch.setattr(learner_module.Learner, "_end_epoch", real_end)
    cut = next((tmp_path / "cut").iterdir())
    monkeypatch.chdir(tmp_path / "cut")  # the config holds an absolute path: any folder will do
    assert main(["run", "--resume", str(cut), "--quiet"]) == 0
    a, b = (json.loads((next((tmp_path / o).iterdir()) / "metrics.json").read_text())
            for o in ("straight", "cut"))
    assert a["test"] == b["test"] and b["epochs"] == 3


def test_from_python_a_frame_or_arrays_make_a_problem_for_the_learner():
    diabetes = load_diabetes(as_frame=True).frame
    learner = Learner("mlp", tabular_problem(diabetes, target="target"), verbose=0, batch_size=32)
    learner.fit(3)
    assert learner.metric == "rmse" and np.isfinite(learner.evaluate()["rmse"])
    iris = load_iris()
    table = np.column_stack([iris.data, iris.target])
    problem = tabular_problem(table, target="x4")  # NumPy: columns x0 .. x4
    assert problem.task == "multiclass" and problem.load().x_train.shape[1] == 4
    named = tabular_problem(table, target="species", columns=["a", "b", "c", "d", "species"])
    assert named.load().feature_names == ("a", "b", "c", "d")


def test_learner_predicts_raw_rows_of_the_frame_through_the_column_schema():
    # the user's own rows as they hold them: text categories, gaps, the target column, no encoding
    frame = cancer_frame()
    learner = Learner("mlp", tabular_problem(frame, target="diagnosis"), verbose=0)
    learner.fit(2)
    _, test = train_test_rows(frame["diagnosis"], len(frame))
    rows = frame.iloc[test]
    assert rows["clinic"].isna().any() and rows["mean radius"].isna().any()
    np.testing.assert_array_equal(learner.predict(rows), learner.predict())
    np.testing.assert_allclose(learner.predict_proba(rows), learner.predict_proba(), rtol=1e-6)
    np.testing.assert_array_equal(learner.predict(rows.to_dict(orient="records")), learner.predict())
    one = rows.iloc[1]  # one row: a Series, or a dict of its values
    assert learner.predict(one)[0] == learner.predict(one.to_dict())[0] == learner.predict()[1]
    shuffled = rows[list(reversed(rows.columns))].drop(columns="diagnosis")  # by name, any order
    np.testing.assert_array_equal(learner.predict(shuffled), learner.predict())
    with pytest.raises(DeepstartError, match="column 'clinic' is missing from the input"):
        learner.predict(rows.drop(columns="clinic"))
    typo = rows.astype({"mean area": object})
    typo.iloc[3, typo.columns.get_loc("mean area")] = "large"  # not a gap to impute: named
    with pytest.raises(DeepstartError, match=r"column 'mean area' holds text \('large' in row 3\) "
                                             r"where the model reads numbers"):
        learner.predict(typo)


# --- implausible targets: a warning and a note in the data report -------------------------------

def test_implausible_targets_are_named_not_trained_in_silence(capsys):
    iris = load_iris(as_frame=True).frame
    iris["id"] = np.random.default_rng(0).permutation(len(iris)) + 1  # a shuffled row number
    with pytest.warns(DataWarning, match=r"'id' looks like a row identifier: its 150 values are the "
                                         r"distinct whole numbers 1 to 150"):
        tabular_problem(iris, target="id")
    diabetes = load_diabetes(as_frame=True).frame  # bmi: 163 distinct values with fractions
    with pytest.warns(DataWarning, match=r"--task multiclass makes each of the 163 distinct values "
                                         r"of 'bmi' \(numbers with fractions\) a class"):
        tabular_problem(diabetes, target="bmi", task="multiclass")
    from sklearn.datasets import load_linnerud

    linnerud = load_linnerud(as_frame=True)  # Pulse: 11 whole numbers in 20 rows, read as classes
    with pytest.warns(DataWarning, match=r"'Pulse' has 11 classes in 20 rows, .*; check --target, "
                                         r"or pass --task regression to fit its values as numbers"):
        tabular_problem(linnerud.data.join(linnerud.target), target="Pulse")
    small = load_wine(as_frame=True).frame.iloc[::4]  # 45 rows: 9 test rows
    with pytest.warns(DataWarning, match=r"only 9 rows: a test accuracy on them has a standard error "
                                         r"of up to 0\.17"):
        problem = tabular_problem(small, target="target")
    print_data_report(problem)
    assert "note: the test part has only 9 rows" in capsys.readouterr().out
    with pytest.warns(DataWarning, match=r"only 9 rows: a test RMSE on them has a standard error of "
                                         r"about 24% of its value"):
        tabular_problem(diabetes.iloc[::10], target="target")
    import warnings

    with warnings.catch_warnings():  # plausible targets on enough rows: not a word
        warnings.simplefilter("error", DataWarning)
        for frame, target in ((load_iris(as_frame=True).frame, "target"), (diabetes, "target"),
                              (cancer_frame(), "diagnosis")):
            assert tabular_problem(frame, target=target).schema["data_notes"] == []


@pytest.mark.filterwarnings("ignore::deepstart.errors.DataWarning")
@settings(max_examples=40, deadline=None)
@given(n=st.integers(10, 300), start=st.integers(-10**6, 10**6), gap=st.integers(0, 5),
       seed=st.integers(0, 2**16))
def test_any_row_number_as_target_is_named_and_no_other_target_is(n, start, gap, seed):
    rng = np.random.default_rng(seed)
    ids = start + rng.permutation(n)
    ids[ids == ids.max()] += gap  # a gap in the numbers: distinct, but not a row number
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.choice(["u", "v"], n), "y": ids})
    notes = tabular_problem(frame, target="y").schema["data_notes"]
    named = any("looks like a row identifier" in note for note in notes)
    assert named == (gap == 0)
    frame["y"] = rng.integers(0, 3, n) + start  # three classes: plausible, whatever the rows
    notes = tabular_problem(frame, target="y").schema["data_notes"]
    assert not any("row identifier" in note or "classes in" in note for note in notes)
    assert any("the test part has only" in note for note in notes) == (np.ceil(n * 0.2) < 30)


def test_a_run_on_an_identifier_target_says_so_in_its_output_and_report(tmp_path, capsys):
    iris = load_iris(as_frame=True).frame
    iris.insert(0, "row", np.arange(1, 151))
    iris.to_csv("iris.csv", index=False)
    assert main(["run", "iris.csv", "--target", "row", "--epochs", "1", "--quiet", "--out", "o"]) == 0
    assert "note: the target 'row' looks like a row identifier" in capsys.readouterr().out
    folder = next((tmp_path / "o").iterdir())
    assert json.loads((folder / "model.json").read_text())["data_notes"][0].startswith("the target")
    from deepstart.report import write_report

    html = write_report(folder).read_text()
    assert "Note: the target &#39;row&#39; looks like a row identifier" in html


# --- CSV files as spreadsheets write them: decimal commas, UTF-16 -------------------------------

def test_decimal_commas_with_semicolons_are_read_as_numbers(tmp_path):
    wine = load_wine(as_frame=True).frame
    wine.loc[[3, 50], "alcohol"] = np.nan
    wine.to_csv("wine.csv", sep=";", decimal=",", index=False)  # as a European spreadsheet exports
    assert "14,23" in Path("wine.csv").read_text()
    frame = read_csv("wine.csv")
    assert (frame.dtypes != object).all() and frame["alcohol"].isna().sum() == 2
    np.testing.assert_array_equal(frame.to_numpy(float), wine.to_numpy(float))
    problem = get_problem("wine.csv", {"target": "target"})
    assert all(e["kind"] == "numeric" for e in problem.schema["columns"])
    assert problem.load().x_train.shape[1] == 13 + 1  # 13 numbers and the indicator of alcohol
    # --decimal . keeps them as text: no column is left, and the error says how to read them
    with pytest.raises(DeepstartError, match=r"no usable feature column: alcohol, malic_acid, ash, "
                                             r"alcalinity_of_ash, magnesium and 8 more hold numbers "
                                             r"with a decimal comma, read as text; pass --decimal ,"):
        get_problem("wine.csv", {"target": "target", "decimal": "."})


def test_quoted_decimal_commas_in_a_comma_file_are_named_with_the_flag_that_reads_them(tmp_path, capsys):
    wine = load_wine(as_frame=True).frame.astype({"proline": int})  # one column of whole numbers
    wine.to_csv("wine.csv", decimal=",", index=False)  # "14,23" quoted inside a comma-separated file
    assert '"14,23"' in Path("wine.csv").read_text()
    assert main(["run", "wine.csv", "--target", "target", "--epochs", "1", "--quiet",
                 "--out", "o"]) == 0
    printed = capsys.readouterr().out
    assert "dropped: numbers with a decimal comma" in printed
    spec = json.loads((next((tmp_path / "o").iterdir()) / "model.json").read_text())
    assert spec["columns"][0]["dropped"] == ("numbers with a decimal comma, as text ('14,23'): read "
                                             "them with --decimal ,")
    assert "note: 12 column(s) hold numbers with a decimal comma, read as text, and were dropped " \
        "(alcohol, malic_acid, ash, alcalinity_of_ash, magnesium and 7 more); pass --decimal ," \
        in printed
    assert "one-hot" not in printed  # never 130 one-hot columns of 14,23 / 13,2 / ...
    assert main(["run", "wine.csv", "--target", "target", "--decimal", ",", "--epochs", "1",
                 "--quiet", "--out", "fixed"]) == 0
    printed = capsys.readouterr().out
    assert "decimal comma" not in printed and "dropped" not in printed
    folder = next((tmp_path / "fixed").iterdir())
    config = json.loads((folder / "config.json").read_text())
    assert config["data_options"] == {"target": "target", "decimal": ","}
    assert len(json.loads((folder / "model.json").read_text())["feature_names"]) == 13
    # export --input reads new rows with the run's own decimal mark, not as gaps to impute
    import csv

    assert main(["export", str(folder), "--input", "wine.csv"]) == 0
    with open(folder / "predictions-wine.csv", newline="") as f:
        given = list(csv.DictReader(f))
    with open(folder / "predictions.csv", newline="") as f:
        scored = list(csv.DictReader(f))
    _, test = train_test_rows(wine["target"], len(wine))
    assert [given[i]["predicted"] for i in test] == [r["predicted"] for r in scored]
    p = [float(given[i]["p_0"]) for i in test]
    assert p == pytest.approx([float(r["p_0"]) for r in scored], rel=1e-4, abs=1e-6)


def test_utf16_csv_files_are_read_as_text(tmp_path, capsys):
    wine = load_wine(as_frame=True).frame
    wine.to_csv("bom.csv", index=False, encoding="utf-16")  # with a byte-order mark
    wine.to_csv("tabs.txt.csv", index=False, encoding="utf-16-le", sep="\t")  # Excel's Unicode text
    wine.to_csv("big.csv", index=False, encoding="utf-16-be", sep=";", decimal=",")
    assert b"\0" in Path("bom.csv").read_bytes()
    for name in ("bom.csv", "tabs.txt.csv", "big.csv"):
        frame = read_csv(name)
        assert list(frame.columns) == list(wine.columns), name
        np.testing.assert_array_equal(frame.to_numpy(float), wine.to_numpy(float))
    assert main(["run", "bom.csv", "--target", "target", "--epochs", "1", "--quiet", "--out", "o"]) == 0
    assert "test accuracy" in capsys.readouterr().out


finite_floats = st.floats(-1e6, 1e6, allow_nan=False, width=64)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.tuples(finite_floats, st.one_of(st.none(), finite_floats),
                                 st.sampled_from(["a", "b", "é", "z z"])), min_size=1, max_size=25),
       sep=st.sampled_from([";", "\t", "|"]),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be"]))
def test_any_decimal_comma_table_in_any_encoding_reads_back_the_same_numbers(tmp_path, values, sep,
                                                                             encoding):
    frame = pd.DataFrame(values, columns=["x", "gap", "word"]).astype({"gap": float})
    frame["x"] = frame["x"] + 0.5  # at least one value with a decimal comma in every table
    path = tmp_path / "t.csv"
    frame.to_csv(path, sep=sep, decimal=",", index=False, encoding=encoding)
    back = read_csv(path)
    assert list(back.columns) == ["x", "gap", "word"]
    np.testing.assert_array_equal(back["x"].to_numpy(float), frame["x"].to_numpy())
    if frame["gap"].notna().any():
        np.testing.assert_array_equal(back["gap"].to_numpy(float), frame["gap"].to_numpy())
    assert back["word"].tolist() == frame["word"].tolist()


# --- hypothesis: any mix of columns encodes to finite, repeatable features ----------------------

numbers = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True, width=32),
                    st.integers(-10**6, 10**6))
words = st.one_of(st.none(), st.sampled_from(["a", "b", "c", " d ", "", "12", "NA"]))


@st.composite
def tables(draw):
    n = draw(st.integers(1, 30))
    columns = {}
    for i in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["number", "word", "bool", "int"]))
        if kind == "number":
            values = draw(st.lists(numbers, min_size=n, max_size=n))
            columns[f"n{i}"] = pd.array([np.nan if v is None else v for v in values], dtype=float)
        elif kind == "word":
            columns[f"w{i}"] = draw(st.lists(words, min_size=n, max_size=n))
        elif kind == "bool":
            columns[f"b{i}"] = draw(st.lists(st.booleans(), min_size=n, max_size=n))
        else:
            columns[f"i{i}"] = draw(st.lists(st.integers(-5, 5), min_size=n, max_size=n))
    return pd.DataFrame(columns)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=tables())
def test_any_mix_of_columns_encodes_to_finite_repeatable_features(frame):
    entries = fit_columns({c: frame[c] for c in frame.columns})
    x = encode(entries, {c: frame[c] for c in frame.columns})
    assert x.shape == (len(frame), len(feature_names(entries)))
    assert np.isfinite(x).all()
    np.testing.assert_array_equal(x, encode(entries, {c: frame[c] for c in frame.columns}))
    again = json.loads(json.dumps(entries))  # JSON, no pickle: the same encoding after a round trip
    as_lists = {c: frame[c].tolist() for c in frame.columns}
    np.testing.assert_array_equal(x, encode(again, as_lists))
    assert fit_columns({c: frame[c] for c in frame.columns}) == entries


@pytest.mark.filterwarnings("ignore::deepstart.errors.DataWarning")  # 30 rows: 6 test rows
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(frame=tables(), target=st.lists(st.sampled_from(["yes", "no", "maybe", None]), min_size=30,
                                       max_size=30))
def test_any_csv_makes_a_problem_or_a_clear_error(tmp_path, frame, target):
    frame = frame.reindex(range(30))  # 30 rows: the tail of short tables all missing
    frame["y"] = target
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    try:
        problem = tabular_problem(read_csv(path), target="y")
    except DeepstartError as e:  # a single class, no usable column, too few rows: named
        assert str(e).endswith(".") and "\n" not in str(e)
        return
    data = problem.load()
    assert np.isfinite(data.x_train).all() and np.isfinite(data.x_test).all()
    assert len(data.y_train) + len(data.y_test) == sum(t is not None for t in target)


# --- image folders ------------------------------------------------------------------------------

def digits_folder(root: Path, n: int = 300) -> Path:
    """sklearn's 8x8 digits as PNG files in one folder per class, a truncated PNG and a text file."""
    digits = load_digits()
    for i, (image, label) in enumerate(zip(digits.images[:n], digits.target[:n])):
        folder = root / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((image * 255 / 16).astype(np.uint8)).save(folder / f"{i:04d}.png")
    whole = (root / "3" / "0003.png").read_bytes()
    (root / "3" / "cut.png").write_bytes(whole[: len(whole) // 2])
    (root / "5" / "readme.txt").write_text("not an image")
    (root / "7" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")  # hidden: ignored, not listed
    return root


def test_image_folder_problem_from_real_digits(tmp_path):
    root = digits_folder(tmp_path / "digits")
    problem = image_folder_problem(root)
    assert problem.kind == "image" and problem.class_names == tuple(str(i) for i in range(10))
    data = problem.load()
    assert data.x_train.shape[1:] == (1, 8, 8) and data.x_train.dtype == np.uint8
    assert len(data.y_train) + len(data.y_test) == 300
    skipped = {Path(s["path"]).name: s["why"] for s in problem.schema["image"]["skipped"]}
    assert skipped == {"cut.png": "truncated image", "readme.txt": "not an image"}
    # the pixels are the PNGs' pixels, and every class keeps its share in the test part
    first = np.asarray(Image.open(root / "0" / "0000.png"))
    assert (data.x_train[0, 0] == first).all()
    counts = np.bincount(np.concatenate([data.y_train, data.y_test]))
    assert (np.abs(np.bincount(data.y_test, minlength=10) - counts * 0.2) <= 1).all()


def test_image_size_and_colour_from_the_data_or_the_options(tmp_path):
    root = tmp_path / "shapes"
    for label, value in (("dark", 40), ("light", 200)):
        (root / label).mkdir(parents=True)
        for i in range(6):
            Image.new("L", (12, 10), value + i).save(root / label / f"{i}.png")
    Image.new("L", (30, 30), 42).save(root / "dark" / "big.png")  # the odd size gets resized
    data = image_folder_problem(root).load()
    assert data.x_train.shape[1:] == (1, 10, 12)
    Image.new("RGB", (12, 10), (255, 0, 0)).save(root / "light" / "red.png")
    rgb = image_folder_problem(root)
    assert rgb.schema["image"]["color"] == "rgb" and rgb.load().x_train.shape[1:] == (3, 10, 12)
    forced = image_folder_problem(root, image_size=16, color="grey").load()
    assert forced.x_train.shape[1:] == (1, 16, 16)


def test_image_folder_run_lists_skipped_files_and_strict_refuses_them(tmp_path, capsys):
    digits_folder(tmp_path / "digits")
    assert main(["run", "digits/", "--epochs", "3", "--quiet", "--out", "out"]) == 0
    printed = capsys.readouterr().out
    assert "skipped 2 file(s)" in printed
    assert f"{tmp_path / 'digits' / '3' / 'cut.png'}: truncated image" in printed
    assert f"{tmp_path / 'digits' / '5' / 'readme.txt'}: not an image" in printed
    folder = next((tmp_path / "out").iterdir())
    assert folder.name.endswith("-digits-convnet-1")  # the folder's name, the recipe's ConvNet
    spec = json.loads((folder / "model.json").read_text())
    assert spec["image"]["height"] == 8 and spec["image"]["color"] == "grey"
    assert spec["class_names"] == [str(i) for i in range(10)]

    code = main(["run", "./digits", "--strict", "--out", "strict"])
    assert_one_line_error(code, capsys.readouterr().err, "2 file(s)", "cut.png (truncated image)",
                          "readme.txt (not an image)", "drop --strict")
    # a bare name is the built-in problem, even with a folder of that name here: say so
    code = main(["run", "digits", "--strict", "--out", "strict"])
    assert_one_line_error(code, capsys.readouterr().err, "built-in", "write ./digits")
    assert not (tmp_path / "strict").exists()


def fashion_folder(root: Path, n: int = 150) -> Path:
    """Real Fashion-MNIST test images as PNG files, three classes, with one colour image, one of
    another size and a text file mixed in, as a folder gathered by hand has them."""
    from deepstart.problems.idx import read_idx

    src = require_path(FASHION, "install it with `apt-get install dataset-fashion-mnist`")
    images = read_idx(src / "t10k-images-idx3-ubyte.gz")[:n]
    labels = read_idx(src / "t10k-labels-idx1-ubyte.gz")[:n]
    for i, (image, label) in enumerate(zip(images, labels)):
        if label < 3:
            (root / str(label)).mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(root / str(label) / f"{i:04d}.png")
    tinted = np.stack([images[0], images[0] // 2, images[0] // 3], axis=-1)
    Image.fromarray(tinted).save(root / "1" / "tinted.png")
    Image.fromarray(images[1]).resize((40, 36)).save(root / "2" / "scan.png")
    (root / "0" / "labels.txt").write_text("0 t-shirt\n1 trouser\n2 pullover\n")
    return root


def test_image_folder_notes_name_the_files_in_the_run_output_and_the_report(tmp_path, capsys):
    fashion_folder(tmp_path / "fashion")
    problem = image_folder_problem(tmp_path / "fashion")
    notes = problem.schema["data_notes"]
    assert problem.schema["image"]["color"] == "rgb" and problem.schema["image"]["height"] == 28
    assert any(n.startswith("1 of the ") and "is in a colour mode (1/tinted.png RGB), so every "
               "image is read as RGB; pass --color grey" in n for n in notes), notes
    assert any("is not 28x28 (the most common size): 2/scan.png 36x40; each was resized" in n
               for n in notes), notes
    assert main(["run", "fashion/", "--epochs", "1", "--quiet", "--out", "out"]) == 0
    printed = capsys.readouterr().out
    assert "note: 1 of the" in printed and "1/tinted.png RGB" in printed and "2/scan.png 36x40" in printed
    assert f"{tmp_path / 'fashion' / '0' / 'labels.txt'}: not an image" in printed
    from deepstart.report import write_report

    html = write_report(next((tmp_path / "out").iterdir())).read_text()
    assert "1/tinted.png RGB" in html and "2/scan.png 36x40" in html
    # the report is a page to publish: the file is named relative to the working folder
    assert "Files skipped (1" in html and "fashion/0/labels.txt" in html and str(tmp_path) not in html
    # the colour mode given: no note about colour, and the grey set stays grey
    grey = image_folder_problem(tmp_path / "fashion", color="grey")
    assert grey.schema["image"]["channels"] == 1
    assert not any("colour" in n for n in grey.schema["data_notes"])


# --- series -------------------------------------------------------------------------------------

def rmse(a, b) -> float:
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


def test_series_run_reports_the_model_beside_persistence_and_seasonal_naive(tmp_path, capsys):
    assert main(["run", str(AIRLINE), "--forecast", "Passengers", "--horizon", "1", "--epochs", "5",
                 "--quiet", "--out", "out"]) == 0
    printed = capsys.readouterr().out
    s = pd.read_csv(AIRLINE)["Passengers"].to_numpy(float)
    persistence, seasonal = rmse(s[96:], s[95:143]), rmse(s[96:], s[84:132])
    assert "season 12 (the dates are monthly)" in printed
    assert "walk-forward over the last 48 values" in printed
    assert f"persistence RMSE {persistence:.2f}" in printed
    assert f"seasonal naive RMSE {seasonal:.2f}" in printed
    assert "test rmse" in printed
    folder = next((tmp_path / "out").iterdir())
    assert folder.name.endswith("-airline-passengers-mlp-1")
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["baselines"]["persistence"] == pytest.approx(persistence)
    assert metrics["baselines"]["seasonal_naive"] == pytest.approx(seasonal)
    assert metrics["baselines"]["model"] == metrics["test"]["rmse"]
    assert {r["model"].split(" ")[0] for r in metrics["references"]} == {"persistence", "seasonal"}
    spec = json.loads((folder / "model.json").read_text())
    assert spec["lookback"] == 12 and spec["horizon"] == 1 and spec["series"]["season"] == 12


def test_horizon_h_windows_end_h_steps_before_their_target():
    problem = get_problem(str(AIRLINE), {"forecast": "Passengers", "horizon": 3})
    data = problem.load()
    p = prepare(data, problem, val_split=0.0, lookback=4)
    s, t = data.series, data.test_targets
    assert list(t) == list(range(96, 144))  # the last third, the same targets for any look-back
    raw_x = p.x_test.numpy() * p.scaling["x"]["scale"] + p.scaling["x"]["offset"]
    np.testing.assert_allclose(raw_x, np.stack([s[t - 6], s[t - 5], s[t - 4], s[t - 3]], axis=1),
                               rtol=1e-5)
    np.testing.assert_allclose(p.target_values(p.y_test), s[t], rtol=1e-5)
    refs = {r.model.split(" ")[0]: r.value for r in problem.references}
    assert refs["persistence"] == pytest.approx(rmse(s[t], s[t - 3]))
    assert refs["seasonal"] == pytest.approx(rmse(s[t], s[t - 12]))


def test_series_without_dates_finds_its_season_or_says_there_is_none():
    s = pd.read_csv(AIRLINE)["Passengers"].to_numpy(float)
    info = series_problem(s, "passengers").schema["series"]
    assert info["season"] == 12 and info["season_from"].startswith("autocorrelation")
    walk = np.cumsum(np.random.default_rng(0).normal(size=200))
    plain = series_problem(walk, "walk")
    assert plain.schema["series"]["season"] is None
    assert [r.model.split(" ")[0] for r in plain.references] == ["persistence"]
    assert series_problem(walk, "walk", season=7).schema["series"]["baselines"]["seasonal_naive"] > 0


def test_series_gaps_are_filled_and_rows_sorted_by_date(tmp_path):
    frame = pd.read_csv(AIRLINE)
    frame.loc[10, "Passengers"] = np.nan
    shuffled = frame.sample(frac=1, random_state=0)
    problem = series_problem(shuffled, "Passengers")
    info = problem.schema["series"]
    assert "rows sorted by Date" in info["notes"]
    assert any("1 missing value(s) inside" in n for n in info["notes"])
    s = problem.load().series
    assert s[10] == pytest.approx((frame.loc[9, "Passengers"] + frame.loc[11, "Passengers"]) / 2)


# --- bad input: one line, exit code 2, nothing written --------------------------------------------

def _bad_files(root: Path) -> None:
    (root / "empty.csv").write_text("")
    (root / "header.csv").write_text("a,b,y\n")
    (root / "binary.csv").write_bytes(bytes(range(256)) * 8)
    (root / "book.xlsx").write_bytes(b"PK\x03\x04" + bytes(200))
    (root / "one.csv").write_text("a,y\n" + "".join(f"{i},same\n" for i in range(20)))
    (root / "gone.csv").write_text("a,y\n" + "".join(f"{i},\n" for i in range(20)))
    (root / "short.csv").write_text("v\n" + "".join(f"{i}\n" for i in range(6)))
    (root / "one_class").mkdir()
    (root / "one_class" / "cats").mkdir()
    Image.new("L", (4, 4)).save(root / "one_class" / "cats" / "a.png")
    for label in ("a", "b"):
        (root / "no_images" / label).mkdir(parents=True)
        (root / "no_images" / label / "x.md").write_text("text")
    cancer_frame().to_csv(root / "cancer.csv", index=False)
    (root / "air.csv").write_text(AIRLINE.read_text())


@pytest.mark.parametrize("args, fragments", [
    (["cancer.csv", "--target", "Diagnosis"], ["no column 'Diagnosis'", "did you mean 'diagnosis'",
                                                "its columns are: patient_id, mean radius"]),
    (["one.csv", "--target", "y"], ["single class", "at least two"]),
    (["empty.csv", "--target", "y"], ["empty.csv is empty", "header row"]),
    (["header.csv", "--target", "y"], ["no data rows"]),
    (["binary.csv", "--target", "y"], ["binary file, not CSV text", "export it as CSV"]),
    (["book.xlsx", "--target", "y"], ["an Excel workbook, not CSV text"]),
    (["gone.csv", "--target", "y"], ["target column 'y'", "all 20 values are missing"]),
    (["one_class"], ["1 class folder(s)", "one sub-folder per class"]),
    (["no_images"], ["no readable images"]),
    (["short.csv", "--forecast", "v", "--horizon", "3"], ["6 values, too short for a horizon of 3",
                                                          "--horizon"]),
    (["air.csv", "--forecast", "Passengers", "--lookback", "100"],
     ["look-back of 100 does not fit 96 training values", "--lookback 1 to 48"]),
    (["cancer.csv", "--target", "diagnosis", "--forecast", "mean radius"], ["either --target",
                                                                            "not both"]),
    (["cancer.csv"], ["--target COLUMN", "--forecast COLUMN", "its columns are"]),
    (["missing.csv", "--target", "y"], ["no file or folder missing.csv", "built-in problem name"]),
    (["digits", "--target", "y"], ["'digits' is a built-in problem", "--target is for your own data"]),
    (["cancer.csv", "--target", "diagnosis", "--task", "regression"], ["holds text", "--task binary"]),
    (["cancer.csv", "--target", "clinic", "--task", "binary"], ["3 classes, not 2"]),
    (["cancer.csv", "--target", "diagnosis", "--image-size", "8"], ["--image-size applies to folders"]),
    (["one_class", "--decimal", ","], ["--decimal does not apply here", "folder of images"]),
    (["air.csv", "--forecast", "Date"], ["holds text", "'1949-01' in row 2"]),
])
def test_bad_input(tmp_path, capsys, args, fragments):
    _bad_files(tmp_path)
    code = main(["run", *args, "--epochs", "1", "--out", "out"])
    assert_one_line_error(code, capsys.readouterr().err, *fragments)
    assert not (tmp_path / "out").exists()


def test_bad_input_from_the_shell_exits_2_without_a_traceback(tmp_path):
    _bad_files(tmp_path)
    result = subprocess.run([sys.executable, "-m", "deepstart", "run", "empty.csv", "--target", "y",
                             "--out", "out"], capture_output=True, text=True, env=os.environ,
                            timeout=120)
    assert_one_line_error(result.returncode, result.stderr, "is empty")
    assert not (tmp_path / "out").exists()


def test_help_stays_instant_without_pandas_or_pillow():
    code = ("import sys; from deepstart.cli import main\n"
            "try: main(['run', '--help'])\nexcept SystemExit: pass\n"
            "print('heavy:', [m for m in ('pandas', 'PIL', 'torch', 'numpy') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "heavy: []" in out.stdout
    assert "--target" in out.stdout and "--forecast" in out.stdout and "--strict" in out.stdout


def test_lr_find_on_a_csv_names_the_plot_after_the_file(tmp_path, cancer_csv, capsys):
    assert main(["lr-find", "cancer.csv", "--target", "diagnosis", "--steps", "20", "--out", "o"]) == 0
    assert (tmp_path / "o" / "lr-find-cancer-mlp.png").is_file()
    assert "try: deepstart run cancer.csv --target diagnosis --model mlp --lr" in capsys.readouterr().out
