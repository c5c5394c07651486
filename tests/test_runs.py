"""`deepstart runs` and `deepstart runs compare` on tiny real wine runs made once."""

import json
import os
import shutil

import pytest

from deepstart.cli import main


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    cwd = os.getcwd()
    os.chdir(root)
    try:
        assert main(["run", "wine", "--epochs", "3", "--lr", "0.01"]) == 0
        assert main(["run", "wine", "--epochs", "3", "--lr", "0.003"]) == 0
    finally:
        os.chdir(cwd)
    return root / "runs"


def test_table_lists_runs_and_only_differing_settings(runs, capsys):
    assert main(["runs", str(runs), "--sort", "test"]) == 0
    out = capsys.readouterr().out
    assert f"{len(list(runs.iterdir()))} runs in" in out
    # the run names never wrap, and the only setting shown is the one that differs
    assert "lr=0.01" in out and "lr=0.003" in out and "batch_size=" not in out
    assert "settings shown: those that differ" in out
    # --sort test: the better test accuracy first
    scores = {d.name: json.loads((d / "metrics.json").read_text())["test"]["accuracy"]
              for d in runs.iterdir()}
    order = sorted(scores, key=lambda name: out.index(name))
    assert [scores[n] for n in order] == sorted(scores.values(), reverse=True)


def test_problem_filter(runs, capsys):
    assert main(["runs", str(runs), "--problem", "iris"]) == 0
    assert "no runs in" in capsys.readouterr().out


def test_damaged_run_listed_with_reason(runs, tmp_path, capsys):
    copy = tmp_path / "runs"
    shutil.copytree(runs, copy)
    victim = sorted(copy.iterdir())[0]
    text = (victim / "metrics.json").read_text()
    (victim / "metrics.json").write_text(text[: len(text) // 2])
    assert main(["runs", str(copy)]) == 0
    out = capsys.readouterr().out
    assert "damaged" in out and "Traceback" not in out


def test_missing_dir_is_exit_2(tmp_path, capsys):
    assert main(["runs", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "is no folder" in err and len(err.strip().splitlines()) == 1


def test_compare_p_equals_binomtest_and_png(runs, tmp_path, capsys):
    import numpy as np
    from scipy import stats

    from deepstart.record import load_data, load_trained_model, model_outputs, read_run

    a, b = sorted(runs.iterdir())
    png = tmp_path / "curves.png"
    assert main(["runs", "compare", str(a), str(b), "--out", str(png)]) == 0
    out = capsys.readouterr().out
    assert "settings that differ" in out and "lr" in out
    outs = []
    for f in (a, b):
        record = read_run(f)
        _, data = load_data(record)
        model, spec = load_trained_model(record)
        outs.append(model_outputs(model, spec, data.x_test, data.y_test))
    ra, rb = (o.predicted == o.true for o in outs)
    wins, losses = int(np.sum(rb & ~ra)), int(np.sum(ra & ~rb))
    if wins + losses:
        p = stats.binomtest(wins, wins + losses, 0.5).pvalue
        assert f"p = {p:.3g}" in out
    else:
        assert "no p-value" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_refuses_other_problem(runs, tmp_path, capsys):
    a = sorted(runs.iterdir())[0]
    other = tmp_path / "other"
    shutil.copytree(a, other)
    config = json.loads((other / "config.json").read_text())
    config["problem"] = "iris"
    (other / "config.json").write_text(json.dumps(config))
    assert main(["runs", "compare", str(a), str(other)]) == 2
    err = capsys.readouterr().err
    assert "compare runs of the same problem" in err and len(err.strip().splitlines()) == 1


def test_compare_page_in_chromium(runs, tmp_path, browser):
    a, b = sorted(runs.iterdir())
    page_file = tmp_path / "compare.html"
    assert main(["runs", "compare", str(a), str(b), "--out", str(page_file)]) == 0
    html = page_file.read_text()
    assert "http://" not in html and "https://" not in html and "src='data:image/png" in html
    page = browser.new_page()
    page.goto(page_file.as_uri())
    assert page.eval_on_selector("img", "i => i.complete && i.naturalWidth") > 0
    assert page.locator("table").count() == 2
    assert "lr" in page.locator("table").first.inner_text()
    page.close()


def test_paired_test_on_errors_for_numbers():
    """Numbers: Wilcoxon signed-rank on the absolute errors, with the rows each run is closer on."""
    from types import SimpleNamespace

    import numpy as np
    from scipy import stats

    from deepstart.compare import paired

    rng = np.random.default_rng(0)
    true = rng.normal(size=60)
    a = SimpleNamespace(true=true, predicted=true + rng.normal(scale=1.0, size=60))
    b = SimpleNamespace(true=true, predicted=true + rng.normal(scale=0.5, size=60))
    pair = paired(a, b, "regression")
    ea, eb = np.abs(a.predicted - true), np.abs(b.predicted - true)
    assert (pair["wins"], pair["losses"]) == (int(np.sum(eb < ea)), int(np.sum(eb > ea)))
    assert pair["p"] == pytest.approx(stats.wilcoxon(ea, eb).pvalue, rel=1e-12)
    assert pair["p"] < 0.05 and not pair["too_few"]


def test_a_users_file_is_found_by_its_name_and_large_errors_keep_their_digits(tmp_path, capsys):
    """Runs on houses.csv are named houses-...: `--problem houses` finds them, and an RMSE in the
    thousands reads 66524.56 in the compare table, not .4g's 6.652e+04."""
    import re

    import pandas as pd
    import sklearn.datasets

    bunch = sklearn.datasets.load_diabetes()
    table = pd.DataFrame(bunch.data, columns=bunch.feature_names).assign(
        progression=bunch.target * 1000)  # thousands, as prices are
    table.to_csv(tmp_path / "houses.csv", index=False)
    out = tmp_path / "runs"
    for lr in ("0.001", "0.01"):
        assert main(["run", str(tmp_path / "houses.csv"), "--target", "progression", "--epochs",
                     "3", "--lr", lr, "--quiet", "--out", str(out)]) == 0
    capsys.readouterr()
    for name in ("houses", "houses.csv", str(tmp_path / "houses.csv")):
        assert main(["runs", str(out), "--problem", name]) == 0
        assert "2 runs in" in capsys.readouterr().out, name
    assert main(["runs", "compare", *sorted(map(str, out.iterdir()))]) == 0
    shown = capsys.readouterr().out
    assert "e+0" not in shown and re.search(r"test rmse +│ \d{5,}\.\d\d ", shown), shown
    # the diagnosis and the report say the same numbers without exponents
    run = sorted(out.iterdir())[0]
    assert main(["diagnose", str(run)]) == 0
    said = capsys.readouterr().out
    assert "e+0" not in said and re.search(r"rmse: train \d{2,3},\d{3}", said), said
    assert main(["report", str(run)]) == 0
    page = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", (run / "report.html").read_text())
    assert not re.search(r"\de\+0\d", page)  # the images' base64 left out, every number read
