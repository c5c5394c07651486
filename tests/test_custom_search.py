"""Your own model in `deepstart evaluate` (the same folds and training as the zoo's networks) and in
`deepstart tune` (a search space stated in the class as SEARCH_SPACE or with --space), on digits
with tiny models in temp files; every bad space entry is one line, exit code 2, nothing written."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest

from deepstart.cli import main
from deepstart.evaluate import parse_algorithms
from deepstart.tune import parse_space, space_entry

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# The zoo's MLP of the digits recipe (one hidden layer of 256, dropout 0.3), written by hand: built
# in the same order from the same seed, it must score exactly what `mlp` scores on every fold.
TWIN = '''
import math
from torch import nn


class Twin(nn.Module):
    def __init__(self, in_shape, n_outputs, hidden=256, dropout=0.3):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(in_shape), hidden), nn.ReLU(),
                                 nn.Dropout(dropout), nn.Linear(hidden, n_outputs))

    def forward(self, x):
        return self.net(x)
'''

TINY = '''
import math
from torch import nn


class Tiny(nn.Module):
    SEARCH_SPACE = {"width": [4, 8, 16], "dropout": (0.0, 0.3), "depth": (1, 2)}

    def __init__(self, in_shape, n_outputs, width=8, dropout=0.0, depth=1):
        super().__init__()
        layers, n = [nn.Flatten()], math.prod(in_shape)
        for _ in range(depth):
            layers += [nn.Linear(n, width), nn.ReLU(), nn.Dropout(dropout)]
            n = width
        self.net = nn.Sequential(*layers, nn.Linear(n, n_outputs))

    def forward(self, x):
        return self.net(x)
'''


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPSTART_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "nets").mkdir()
    (tmp_path / "nets" / "twin.py").write_text(TWIN)
    (tmp_path / "nets" / "tiny.py").write_text(TINY)


def exit_code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


def one_line_error(capsys, *fragments: str) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


# --- evaluate -------------------------------------------------------------------------------------

def test_evaluate_spot_checks_your_model_on_the_same_folds_as_the_zoos(tmp_path, capsys):
    args = ["evaluate", "digits", "--algorithms", "baseline,mlp,nets/twin.py:Twin", "--folds", "3",
            "--epochs", "1", "--limit", "300", "--out", "out", "--quiet"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    record = json.loads(next((tmp_path / "out").glob("*/evaluation.json")).read_text())
    results = {r["algorithm"]: r for r in record["results"]}
    assert set(results) == {"baseline", "mlp", "Twin"}  # named by its class
    twin, mlp = results["Twin"], results["mlp"]
    assert twin["status"] == "done" and len(twin["scores"]) == 3
    # same folds, same training settings, same seed: the hand-written twin scores what mlp scores
    assert twin["scores"] == mlp["scores"]
    assert twin["settings"]["model"] == "nets/twin.py:Twin"  # the reference, as given
    assert twin["settings"]["epochs"] == mlp["settings"]["epochs"] == 1
    assert "nets/twin.py:Twin" in twin["title"]
    assert "│ Twin " in printed and "nets/twin.py:Twin" in printed  # the leaderboard names both


def test_algorithm_names_are_lower_case_but_a_reference_is_kept_as_given():
    assert parse_algorithms("Baseline, nets/Twin.py:Twin,MLP") == ["baseline", "nets/Twin.py:Twin",
                                                                   "mlp"]


def test_a_bad_reference_in_algorithms_is_one_line_before_anything_runs(tmp_path, capsys):
    assert exit_code(["evaluate", "digits", "--algorithms", "baseline,nets/none.py:Twin",
                      "--out", "out"]) == 2
    one_line_error(capsys, "nets/none.py:Twin", "does not exist")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


# --- tune -----------------------------------------------------------------------------------------

def test_tune_searches_the_classs_space_and_the_command_lines(tmp_path, capsys):
    ref = "nets/tiny.py:Tiny"
    args = ["tune", "digits", "--model", ref, "--trials", "3", "--epochs", "1", "--out", "out",
            "--space", "width=2,3"]  # replaces the class's width; its dropout and depth stay
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "searching lr, batch_size, weight_decay, schedule, width, dropout, depth" in printed
    folder = next(p for p in (tmp_path / "out").iterdir() if p.is_dir())
    assert folder.name.endswith("-digits-tiny-1")
    assert (tmp_path / "out" / "tune-digits-tiny.db").is_file()
    rows = list(csv.DictReader((folder / "tuning" / "trials.csv").open()))
    assert len(rows) == 3
    for row in rows:
        assert row["width"] in ("2", "3") and row["depth"] in ("1", "2")
        assert 0.0 <= float(row["dropout"]) <= 0.3
    study = json.loads((folder / "tuning" / "study.json").read_text())
    assert study["stated_space"] == {
        "width": {"type": "categorical", "choices": [2, 3]},
        "dropout": {"type": "float", "low": 0.0, "high": 0.3, "log": False, "step": None},
        "depth": {"type": "int", "low": 1, "high": 2, "log": False, "step": None}}
    assert study["base_config"]["model"] == ref
    assert (folder / "tuning" / "history.png").read_bytes()[:4] == b"\x89PNG"
    # the retrained best: the reference kept, built with the best trial's sampled options
    best = study["best_params"]
    config = json.loads((folder / "config.json").read_text())
    assert config["model"] == ref
    assert {k: config["model_options"][k] for k in ("width", "depth")} == \
        {"width": best["width"], "depth": best["depth"]}
    arguments = json.loads((folder / "model.json").read_text())["custom"]["arguments"]
    assert arguments["width"] == best["width"] and arguments["depth"] == best["depth"]
    assert study["best_command"].startswith(f"deepstart run digits --model {ref} ")
    assert f"--option width={best['width']}" in study["best_command"]
    assert f"the best trial as a run: {study['best_command']}" in " ".join(printed.split())

    # the best trial's command trains what the tuned run folder holds
    import shlex

    assert main([*shlex.split(study["best_command"])[1:], "--out", "again", "--quiet"]) == 0
    again = next((tmp_path / "again").iterdir())
    assert json.loads((again / "config.json").read_text())["model"] == ref
    tuned = json.loads((folder / "metrics.json").read_text())["test"]
    assert json.loads((again / "metrics.json").read_text())["test"] == pytest.approx(tuned, rel=1e-4)
    capsys.readouterr()

    # resuming the study with another space would mix incomparable trials
    assert exit_code([*args[:-1], "width=2,5", "--trials", "4"]) == 2
    one_line_error(capsys, "study 'digits-tiny'", "space=")


def test_a_setting_both_fixed_and_searched_is_one_line(tmp_path, capsys):
    assert exit_code(["tune", "digits", "--model", "nets/tiny.py:Tiny", "--option", "width=4",
                      "--space", "width=2,3", "--out", "out"]) == 2
    one_line_error(capsys, "--space width=... searches width, which --option width=... fixes")
    assert exit_code(["tune", "digits", "--lr", "0.01", "--space", "lr=1e-4:1e-2:log",
                      "--out", "out"]) == 2
    one_line_error(capsys, "which --lr fixes")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_zoo_family_takes_a_space_too(tmp_path, capsys):
    assert main(["tune", "digits", "--model", "mlp", "--trials", "2", "--epochs", "1",
                 "--space", "activation=tanh,sigmoid", "--space", "lr=1e-3:1e-2:log",
                 "--out", "out", "--quiet"]) == 0
    folder = next(p for p in (tmp_path / "out").iterdir() if p.is_dir())
    rows = list(csv.DictReader((folder / "tuning" / "trials.csv").open()))
    assert {r["activation"] for r in rows} <= {"tanh", "sigmoid"}
    assert all(1e-3 <= float(r["lr"]) <= 1e-2 for r in rows)  # the stated range, not lr/30..lr*10
    study = json.loads((folder / "tuning" / "study.json").read_text())
    assert study["search_space"]["lr"]["attributes"] == {"log": True, "low": 1e-3, "high": 1e-2,
                                                         "step": None}


@pytest.mark.parametrize("text, expected", [
    ("width=32,64,128", ("width", {"type": "categorical", "choices": [32, 64, 128]})),
    ("pooling=mean,cls", ("pooling", {"type": "categorical", "choices": ["mean", "cls"]})),
    ("depth=1:4", ("depth", {"type": "int", "low": 1, "high": 4, "log": False, "step": None})),
    ("dropout=0.0:0.5", ("dropout", {"type": "float", "low": 0.0, "high": 0.5, "log": False,
                                     "step": None})),
    ("lr=1e-4:1e-1:log", ("lr", {"type": "float", "low": 1e-4, "high": 0.1, "log": True,
                                 "step": None})),
])
def test_space_syntax_on_the_command_line(text, expected):
    assert parse_space(text) == expected


def test_space_syntax_in_the_class():
    assert space_entry("w", [1, "a", None, True], "X") == {"type": "categorical",
                                                            "choices": [1, "a", None, True]}
    assert space_entry("d", (1, 3), "X")["type"] == "int"
    assert space_entry("d", (1, 3.0), "X")["type"] == "float"
    assert space_entry("d", {"low": 1e-3, "high": 1.0, "log": True}, "X")["log"] is True
    assert space_entry("d", {"low": 0, "high": 10, "step": 2}, "X")["step"] == 2


@pytest.mark.parametrize("text, says", [
    ("width", "expected NAME=V1,V2,... or NAME=LOW:HIGH[:log]"),
    ("width=", "expected NAME=V1,V2,..."),
    ("2x=1,2", "expected NAME=V1,V2,..."),
    ("dropout=0.5:0.1", "needs two numbers, low < high; received low=0.5, high=0.1"),
    ("dropout=a:b", "received low='a', high='b'"),
    ("lr=0:1:log", "a log-scale range of lr needs low > 0"),
    ("depth=1:2:3", "a range is LOW:HIGH or LOW:HIGH:log"),
    ("hidden=[1],[2]", "must be one or more numbers, texts, true/false or null"),
])
def test_a_bad_space_entry_is_one_line_exit_2(tmp_path, capsys, text, says):
    assert exit_code(["tune", "digits", "--space", text, "--out", "out"]) == 2
    one_line_error(capsys, "argument --space", says)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("space, says", [
    ('{"width": []}', "Bad.SEARCH_SPACE['width']: the values of width must be one or more"),
    ('{"width": (4, 2)}', "Bad.SEARCH_SPACE['width']: the range of width needs two numbers, low < high"),
    ('{"width": (1, 2, 3)}', "Bad.SEARCH_SPACE['width']: width must be a list of values"),
    ('{"width": {"low": 1, "hi": 2}}', "width must be a list of values"),
    ('[("width", [1])]', "Bad.SEARCH_SPACE must be a dict of option name -> values"),
])
def test_a_bad_search_space_in_the_class_is_one_line_and_nothing_written(tmp_path, capsys, space,
                                                                         says):
    (tmp_path / "nets" / "bad.py").write_text(TINY.replace("class Tiny", "class Bad").replace(
        'SEARCH_SPACE = {"width": [4, 8, 16], "dropout": (0.0, 0.3), "depth": (1, 2)}',
        f"SEARCH_SPACE = {space}"))
    assert exit_code(["tune", "digits", "--model", "nets/bad.py:Bad", "--out", "out"]) == 2
    one_line_error(capsys, says)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_space_option_the_class_does_not_take_is_one_line(tmp_path, capsys):
    assert exit_code(["tune", "digits", "--model", "nets/tiny.py:Tiny", "--space", "heads=2,4",
                      "--out", "out"]) == 2
    one_line_error(capsys, "Tiny.__init__ has no parameter heads")
    assert not list(tmp_path.glob("out/*.db"))  # refused before the study's storage exists


def test_the_cli_rejects_a_bad_space_without_a_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "deepstart.cli", "tune", "digits", "--space",
                             "dropout=0.5:0.1"], capture_output=True, text=True, timeout=120,
                            env=os.environ | {"OMP_NUM_THREADS": "1"})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
