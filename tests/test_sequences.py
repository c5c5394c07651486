"""Sequence classification of your own data from the command line: a table whose rows are sequences
(`--target T --sequence`), and a folder of CSV series, one file per example in one sub-folder per
class. Real data: scikit-learn's digits read as 8 steps (pixel rows) of 8 features, and slices of
the UEA/UCR archive's ItalyPowerDemand (a table) and JapaneseVowels (a folder of files of 10 to 26
steps x 12 features) shipped in tests/data (see its README for the source). Every bad input ends
in one line, exit code 2, and no run folder."""

from __future__ import annotations

import csv
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits

from deepstart import Learner
from deepstart.cli import main
from deepstart.errors import DeepstartError
from deepstart.prepare import prepare
from deepstart.problems import get_problem
from deepstart.problems.folder import fit_lengths

DATA = Path(__file__).resolve().parent / "data"
VOWELS = DATA / "japanese_vowels"
ITALY = DATA / "italy_power_demand.csv"


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPSTART_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "home"


def digits_csv(path: Path) -> Path:
    d = load_digits()
    frame = pd.DataFrame(d.data.astype(int), columns=[f"r{i // 8}c{i % 8}" for i in range(64)])
    frame["digit"] = d.target
    frame.to_csv(path, index=False)
    return path


def vowel_file(name: str) -> np.ndarray:
    rows = list(csv.reader((VOWELS / name).open()))[1:]
    return np.asarray(rows, dtype=np.float64)


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


# --- tables of sequences --------------------------------------------------------------------------

def test_digits_rows_read_as_8_steps_of_8_pixels_and_an_lstm_learns_them(tmp_path):
    path = digits_csv(tmp_path / "digits.csv")
    problem = get_problem(str(path), {"target": "digit", "sequence": True, "features_per_step": 8})
    raw = problem.load()
    digits = load_digits()
    assert raw.x_train.shape[1:] == (8, 8) and len(raw.x_train) + len(raw.x_test) == 1797
    # a step is one row of the image, its features that row's 8 pixels, in the file's order
    first = np.flatnonzero((digits.data.reshape(-1, 8, 8) == raw.x_train[0]).all(axis=(1, 2)))
    assert len(first) >= 1 and digits.target[first[0]] == int(problem.class_names[raw.y_train[0]])
    info = problem.schema["sequence"]
    assert (info["from"], info["steps"], info["features"], info["padded"], info["cut"]) == \
        ("table", 8, 8, 0, 0)
    assert info["feature_names"] == [f"r0c{j}" for j in range(8)]
    # scaled per feature (pixel column) over every step, not per step: the same numbers in each row
    data = prepare(raw, problem, val_split=0.1)
    offset = np.asarray(data.scaling["x"]["offset"])
    assert offset.shape == (8, 8) and np.allclose(offset, offset[0])
    learner = Learner("lstm", problem, model_options={"hidden_size": 32}, lr=3e-3, batch_size=64,
                      verbose=0, seed=0)
    learner.fit(6)
    accuracy = learner.evaluate("test")["accuracy"]
    assert accuracy > 0.8, accuracy  # the majority class scores 0.10 on these 360 test rows


def test_a_table_read_as_sequences_runs_exports_and_serves(tmp_path, capsys):
    """ItalyPowerDemand: 67 days of 24 hourly values. The run prints how the table was read, and
    the run folder alone is enough to export (ONNX checked by onnxruntime), predict new rows of
    the same table, and serve sequences with their input validated."""
    shutil.copy(ITALY, "italy.csv")
    assert main(["run", "italy.csv", "--target", "class", "--sequence", "--model", "gru",
                 "--epochs", "3", "--out", "runs"]) == 0
    printed = capsys.readouterr().out
    assert "read as sequences (--sequence: every column but the target is a time step" in printed
    assert "the 24 columns h01, h02, h03, h04, ..., h24, 1 per step" in printed
    folder = next(Path("runs").iterdir())
    spec = json.loads((folder / "model.json").read_text())
    assert spec["input_shape"] == [24, 1] and spec["family"] == "gru"
    assert spec["sequence"]["columns"][0] == "h01" and spec["target"]["name"] == "class"
    config = json.loads((folder / "config.json").read_text())
    assert config["data_options"] == {"target": "class", "sequence": True}

    # export: the graph takes the raw (unscaled) sequences; new rows of the table by column name
    new = pd.read_csv(ITALY).iloc[:5]
    new.to_csv("new.csv", index=False)
    assert main(["export", str(folder), "--input", "new.csv"]) == 0
    out = capsys.readouterr().out
    assert "onnxruntime" in out and (folder / "model.onnx").exists()
    predicted = pd.read_csv(folder / "predictions-new.csv")
    assert len(predicted) == 5 and list(predicted["true"]) == list(new["class"])
    gap = new.copy()
    gap.loc[2, "h05"] = np.nan
    gap.to_csv("gap.csv", index=False)
    (folder / "predictions-gap.csv").unlink(missing_ok=True)
    code = main(["export", str(folder), "--input", "gap.csv"])
    assert_one_line_error(code, capsys.readouterr().err, "row 3 of gap.csv has a gap at step 5",
                          "nothing was written")
    assert not (folder / "predictions-gap.csv").exists()

    from deepstart.serve import create_app

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    client = TestClient(create_app(folder))
    schema = client.get("/schema").json()["input"]
    assert schema["kind"] == "sequence" and schema["steps"] == 24 and schema["features"] == ["value"]
    day = [float(v) for v in new.iloc[0, :24]]
    answer = client.post("/predict", json={"sequence": day}).json()
    assert answer["predicted"] in ("1", "2") and answer["warnings"] == []
    short = client.post("/predict", json={"sequence": day[6:]}).json()
    assert "18 steps arrived and the model reads 24; padded at the start" in short["warnings"][0]
    bad = client.post("/predict", json={"sequence": day[:3] + ["high"]})
    assert bad.status_code == 422 and "sequence[3]" in bad.json()["detail"]
    assert client.post("/predict", json={"window": day}).status_code == 422


def test_trailing_gaps_are_shorter_sequences_padded_and_holes_are_refused(tmp_path, capsys):
    frame = pd.read_csv(ITALY)
    frame.loc[:9, ["h21", "h22", "h23", "h24"]] = np.nan  # 10 days recorded to 20:00 only
    frame.to_csv("short.csv", index=False)
    problem = get_problem("short.csv", {"target": "class", "sequence": True})
    info = problem.schema["sequence"]
    assert (info["steps"], info["shortest"], info["padded"], info["cut"]) == (24, 20, 10, 0)
    assert "10 shorter one(s) padded at the start" in problem.schema["data_notes"][0]
    cut = get_problem("short.csv", {"target": "class", "sequence": True, "length": 22})
    assert (cut.schema["sequence"]["padded"], cut.schema["sequence"]["cut"]) == (10, 57)
    raw = cut.load()
    assert raw.x_train.shape[1:] == (22, 1) and np.isfinite(raw.x_train).all()

    frame.loc[14, "h03"] = np.nan  # a hole, not an end
    frame.to_csv("hole.csv", index=False)
    code = main(["run", "hole.csv", "--target", "class", "--sequence", "--out", "o"])
    assert_one_line_error(code, capsys.readouterr().err, "row 15 of", "has a gap at step 3")
    assert not Path("o").exists()


@pytest.mark.parametrize("args, fragment", [
    (["--features-per-step", "5"], "--features-per-step 5 does not divide the 24 step columns"),
    (["--length", "10"], "--length applies to a table read as sequences"),
])
def test_sequence_options_out_of_place_are_refused(tmp_path, capsys, args, fragment):
    shutil.copy(ITALY, "italy.csv")
    extra = ["--sequence"] if "--features-per-step" in args else []
    code = main(["run", "italy.csv", "--target", "class", *extra, *args, "--out", "o"])
    assert_one_line_error(code, capsys.readouterr().err, fragment)
    assert not Path("o").exists()


def test_a_text_column_in_a_table_of_sequences_is_named(tmp_path, capsys):
    frame = pd.read_csv(ITALY)
    frame.insert(0, "day", [f"d{i}" for i in range(len(frame))])
    frame.to_csv("named.csv", index=False)
    code = main(["run", "named.csv", "--target", "class", "--sequence", "--out", "o"])
    assert_one_line_error(code, capsys.readouterr().err, "the column 'day' holds text ('d0' in row 1)")
    assert not Path("o").exists()


# --- folders of CSV series --------------------------------------------------------------------------

def test_a_folder_of_csv_series_of_different_lengths_is_padded_and_cut_as_stated():
    problem = get_problem(str(VOWELS), {})
    info = problem.schema["sequence"]
    assert problem.class_names == tuple(f"speaker{i}" for i in range(1, 10))
    assert (info["files"], info["steps"], info["features"], info["shortest"], info["longest"]) == \
        (36, 26, 12, 10, 26)
    assert info["feature_names"][:2] == ["lpc1", "lpc2"] and info["cut"] == 0
    given = get_problem(str(VOWELS), {"length": 20})
    info = given.schema["sequence"]
    assert (info["steps"], info["length_from"], info["padded"], info["cut"]) == (20, "given", 27, 7)
    assert "27 shorter one(s) padded at the start by repeating the first step; 7 longer one(s) " \
           "cut to their last 20 steps" in given.schema["data_notes"][0]
    # the rule on a real file: 10 frames padded to 20 repeat the first frame 10 more times
    ten = next(f for f in sorted(VOWELS.rglob("*.csv")) if len(vowel_file(f.relative_to(VOWELS))) == 10)
    x = vowel_file(ten.relative_to(VOWELS))
    fitted = fit_lengths(np.concatenate([x, np.full((16, 12), np.nan)])[None], np.array([10]), 20)[0]
    assert np.array_equal(fitted[10:], x) and np.array_equal(fitted[:11], np.repeat(x[:1], 11, 0))
    cut = fit_lengths(x[None], np.array([10]), 4)[0]
    assert np.array_equal(cut, x[-4:])
    raw = given.load()
    assert raw.x_train.shape[1:] == (20, 12) and len(raw.x_train) + len(raw.x_test) == 36


def test_a_folder_of_series_runs_reports_exports_and_serves(tmp_path, capsys):
    assert main(["run", str(VOWELS), "--length", "20", "--model", "lstm", "--epochs", "2",
                 "--out", "runs"]) == 0
    printed = capsys.readouterr().out
    assert "36 files, one sequence each" in printed and "20 (given)" in printed
    folder = next(Path("runs").iterdir())
    assert main(["report", str(folder)]) == 0
    assert (folder / "report.html").exists()
    assert main(["export", str(folder)]) == 0
    assert "accuracy from onnxruntime's outputs" in capsys.readouterr().out

    from deepstart.serve import create_app

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    client = TestClient(create_app(folder))
    assert client.get("/schema").json()["input"]["features"][:2] == ["lpc1", "lpc2"]
    steps = vowel_file("speaker2/030.csv").tolist()
    answer = client.post("/predict", json={"sequence": steps})
    assert answer.status_code == 200 and answer.json()["predicted"].startswith("speaker")
    narrow = client.post("/predict", json={"sequence": [s[:11] for s in steps]})
    assert narrow.status_code == 422
    assert "sequence[0]: expected 12 items, got 11" in narrow.json()["detail"]


def test_evaluate_spot_checks_baselines_on_the_flattened_steps(tmp_path, capsys):
    assert main(["evaluate", str(VOWELS), "--length", "20", "--algorithms", "baseline,logistic",
                 "--folds", "3", "--out", "ev"]) == 0
    record = json.loads(next(Path("ev").rglob("evaluation.json")).read_text())
    scores = {r["algorithm"]: r["mean"] for r in record["results"]}
    assert scores["baseline"] < 0.2 and scores["logistic"] > 0.5, scores  # 9 classes of 4 files
    assert record["data_options"] == {"length": 20}


def vowels_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "vowels"
    shutil.copytree(VOWELS, folder)
    return folder


@pytest.mark.parametrize("damage, fragment", [
    ("one class", "has 1 class folder(s); put the series in one sub-folder per class"),
    ("text", "is not a numeric CSV file: row 4, column 3 holds 'loud'"),
    ("columns", "have different column counts"),
    ("empty", "is empty; each file must hold one row per step"),
    ("binary", "is not CSV text (a binary file)"),
])
def test_bad_folders_of_series_end_in_one_line_and_write_nothing(tmp_path, capsys, damage, fragment):
    folder = vowels_copy(tmp_path)
    target = folder / "speaker3" / min(p.name for p in (folder / "speaker3").iterdir())
    if damage == "one class":
        for d in sorted(folder.iterdir())[1:]:
            shutil.rmtree(d)
    elif damage == "text":
        rows = list(csv.reader(target.open()))
        rows[3][2] = "loud"
        csv.writer(target.open("w", newline="")).writerows(rows)
    elif damage == "columns":
        rows = [r[:11] for r in csv.reader(target.open())]
        csv.writer(target.open("w", newline="")).writerows(rows)
    elif damage == "empty":
        target.write_text("")
    else:
        target.write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")
        target.rename(target.with_suffix(".csv"))
    code = main(["run", str(folder), "--out", "o"])
    err = capsys.readouterr().err
    assert_one_line_error(code, err, fragment)
    if damage not in ("one class", "columns"):
        assert str(target) in err  # the file is named
    assert not Path("o").exists()


def test_a_headerless_folder_reads_every_row_as_a_step(tmp_path):
    folder = vowels_copy(tmp_path)
    for f in folder.rglob("*.csv"):
        f.write_text("\n".join(f.read_text().splitlines()[1:]) + "\n")
    problem = get_problem(str(folder), {})
    info = problem.schema["sequence"]
    assert (info["shortest"], info["longest"]) == (10, 26)
    assert info["feature_names"] == [f"x{j}" for j in range(12)]


def test_image_options_on_a_folder_of_series_are_refused(tmp_path):
    with pytest.raises(DeepstartError, match="--image-size does not apply here"):
        get_problem(str(VOWELS), {"image_size": 8})


def test_the_serve_page_takes_pasted_steps_in_a_real_browser(tmp_path, browser, capsys):
    from playwright.sync_api import expect
    from test_serve_browser import page_of, running

    assert main(["run", str(VOWELS), "--length", "20", "--epochs", "1", "--quiet", "--out",
                 "runs"]) == 0
    folder = next(Path("runs").iterdir())
    lines = (VOWELS / "speaker2" / "030.csv").read_text().splitlines()[1:]
    with running(folder) as url, page_of(browser, url) as (page, errors, outside, sent):
        assert "lpc1, lpc2" in page.get_attribute("#sequence", "placeholder")
        page.fill("#sequence", "\n".join(lines))
        page.click("button[type=submit]")
        expect(page.locator("#bars .bar")).to_have_count(9)
        assert page.inner_text("#predicted").startswith("speaker")
        body = json.loads(sent[-1])["sequence"]
        assert len(body) == len(lines) and body[0][0] == float(lines[0].split(",")[0])
        page.fill("#sequence", lines[0] + "\n" + ",".join(lines[1].split(",")[:11]))
        page.click("button[type=submit]")
        expect(page.locator("#error")).to_contain_text("sequence[1]: expected 12 items, got 11")
        assert [e for e in errors if "422" not in e] == [] and outside == []
