"""A notebook as a page of the portfolio (`deepstart portfolio build --notebook NB.ipynb`): the
series notebook of notebooks/ executed for real by nbclient (small settings), built beside a real
run, opened in Chromium from file:// (the index links it from a card with its first figure; the
page shows its cells, its printed scores and its figures, requests nothing outside the site and
logs no error), strict HTML5, the same bytes on a second build whatever order the notebooks are
given in, outputs that need a script shown by their other forms, local paths hidden, and a
damaged notebook as one sentence with exit code 2 and nothing written."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import html5lib
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from deepstart import portfolio
from deepstart.cli import main
from test_notebooks import NOTEBOOKS, execute
from test_portfolio_browser import check_loaded, visit

SERIES = "05_series_forecast.ipynb"


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """An executed series notebook, the OR-gate notebook as stored (without outputs), one iris
    run, and the site built from them."""
    root = tmp_path_factory.mktemp("nbsite")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEEPSTART_HOME", str(root / "home"))
        mp.chdir(root)
        executed = execute(SERIES, root / "kernel")
        nbformat.write(executed, root / SERIES)
        assert main(["run", "iris", "--epochs", "3", "--quiet", "--out", str(root / "runs")]) == 0
        run = next((root / "runs").iterdir())
        assert main(["portfolio", "build", str(run), "--notebook", str(root / SERIES),
                     "--notebook", str(NOTEBOOKS / "01_perceptron_or_gate.ipynb"),
                     "--out", str(root / "site")]) == 0
    return {"root": root, "run": run, "notebook": root / SERIES, "site": root / "site"}


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def parse(page: Path):
    return html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(page.read_bytes())


def test_index_links_the_notebook_and_chromium_shows_its_cells(browser, work):
    site = work["site"]
    base = site.as_uri() + "/"
    index, problems, outside = visit(browser, base + "index.html", base)
    check_loaded(index, problems, outside)
    assert index.locator("article.card").count() == 3  # the iris project and two notebooks
    card = index.locator("article.notebook#notebook-05-series-forecast")
    assert card.locator("h3 a").inner_text() == "5. A series: forecast next month's airline passengers"
    assert card.locator("img").count() == 1  # its first figure, as stored
    assert "6 code cells · 2 figures" in card.inner_text()
    bare = index.locator("article.notebook#notebook-01-perceptron-or-gate")
    assert "stored without outputs" in bare.inner_text() and bare.locator("img").count() == 0
    href = card.locator("h3 a").get_attribute("href")
    assert href == "notebooks/05-series-forecast.html"
    index.close()

    page, problems, outside = visit(browser, base + href, base)
    check_loaded(page, problems, outside)
    assert page.title() == "5. A series: forecast next month's airline passengers — Deep-learning portfolio"
    assert page.locator("h1").count() == 1  # the notebook's own heading, no second one
    stored = nbformat.read(work["notebook"], as_version=4)
    code = [c for c in stored.cells if c.cell_type == "code"]
    assert page.locator(".nb .code_cell").count() == len(code)
    text = page.inner_text("main")
    assert "persistence    RMSE 48.66 on the 46 test months" in text  # printed by the kernel
    rmse = re.search(r"linear, look-back 13: RMSE ([\d.]+) on the 46 test months", text)
    assert rmse and rmse.group(1) in "".join(o.get("text", "") for c in code for o in c.outputs)
    assert "lookback" in page.locator(".nb .input_area").nth(3).inner_text()  # the code, highlighted
    figures = page.evaluate("Array.from(document.querySelectorAll('.nb img')).map(i => i.naturalWidth)")
    assert len(figures) == 2 and all(w > 0 for w in figures)
    accent = page.evaluate("getComputedStyle(document.querySelector('.nb .input_area')).borderLeftColor")
    assert accent == "rgb(31, 78, 121)"  # the portfolio's #1f4e79
    assert page.locator("a.home").get_attribute("href") == "../index.html"
    page.close()


def test_pages_are_strict_html5_without_script(work):
    for page in (work["site"] / "index.html", *sorted((work["site"] / "notebooks").iterdir())):
        doc = parse(page)  # raises on any parse error
        assert doc.find(".//script") is None and doc.get("lang") == "en"
        assert all(i.get("alt", "").strip() for i in doc.iter("img"))


def test_same_bytes_twice_whatever_the_order(work, tmp_path, monkeypatch):
    monkeypatch.chdir(work["root"])
    monkeypatch.setenv("DEEPSTART_HOME", str(work["root"] / "home"))
    portfolio.build([work["run"]], out=tmp_path / "again",
                    notebooks=[NOTEBOOKS / "01_perceptron_or_gate.ipynb", work["notebook"],
                               work["notebook"]])  # given twice: one page
    assert files(tmp_path / "again") == files(work["site"])


def test_the_build_says_which_notebook_has_no_outputs(work, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    bare = NOTEBOOKS / "01_perceptron_or_gate.ipynb"
    assert main(["portfolio", "build", "--notebook", str(bare), "--out", "site"]) == 0
    out = capsys.readouterr().out
    assert "(0 projects, 0 runs, 1 notebook;" in out
    assert "01_perceptron_or_gate.ipynb: stored without outputs: run it (jupyter execute --inplace)" in out


def test_a_notebook_saved_without_cell_ids_gives_the_same_bytes(work, tmp_path, monkeypatch, capsys):
    """nbformat gives such cells random ids as it reads them, and warns: the page uses its own."""
    monkeypatch.chdir(tmp_path)
    raw = json.loads(work["notebook"].read_text())
    for c in raw["cells"]:
        c.pop("id")
    (tmp_path / "old.ipynb").write_text(json.dumps(raw))
    for out in ("one", "two"):
        assert main(["portfolio", "build", "--notebook", "old.ipynb", "--out", out]) == 0
    assert files(tmp_path / "one") == files(tmp_path / "two")
    assert capsys.readouterr().err == ""  # no MissingIDFieldWarning


def test_a_site_of_notebooks_alone(work, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no runs/ here
    result = portfolio.build(out="site", notebooks=[work["notebook"]])
    assert (result.projects, result.runs, result.notebooks) == (0, 0, 1)
    index = (tmp_path / "site" / "index.html").read_text()
    assert 'id="projects"' not in index and 'href="notebooks/05-series-forecast.html"' in index


def test_outputs_that_need_a_script_show_their_other_forms_and_paths_are_hidden(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    here = str(tmp_path.resolve())
    nb = new_notebook(cells=[
        new_markdown_cell("Results <script>alert(1)</script> of `val_split`"),
        new_code_cell("show()", execution_count=1, outputs=[
            new_output("display_data", data={"text/html": "<div id='p'></div><script>draw()</script>",
                                             "text/plain": "a plot that needs a script"}),
            new_output("display_data", data={"application/javascript": "draw()"}),
            new_output("stream", name="stdout", text=f"wrote {here}/runs/one and {here}2/other\n"),
            new_output("stream", name="stderr", text=f"{sys.prefix}/lib/live.py:260: UserWarning\n")])])
    nbformat.write(nb, tmp_path / "mine.ipynb")
    portfolio.build(out="site", notebooks=["mine.ipynb"])
    page = (tmp_path / "site" / "notebooks" / "mine.html").read_text()
    assert "<script" not in page and "&lt;script" in page  # the Markdown's raw tag, as text
    assert "a plot that needs a script" in page and "draw()" not in page
    assert "wrote ./runs/one" in page and f"{here}/" not in page
    assert f"{here}2/other" in page  # a whole path only: this one is another folder
    assert f"{Path(sys.prefix).name}/lib/live.py:260" in page and sys.prefix not in page
    card = (tmp_path / "site" / "index.html").read_text()
    assert "<h3><a href=\"notebooks/mine.html\">mine</a></h3>" in card  # no heading: the file's name
    assert "Results of val_split" in card


@pytest.mark.parametrize("content, says", [
    ('{"cells": [', "is not a readable Jupyter notebook"),
    ('{"cells": 3, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}', "is not a readable Jupyter notebook"),
    (None, "does not exist"),
    ("png", "is not a readable Jupyter notebook"),
])
def test_a_damaged_notebook_is_one_sentence_exit_2_nothing_written(work, tmp_path, capsys, content, says):
    bad = tmp_path / "bad.ipynb"
    if content == "png":  # valid JSON and schema, but its figure is not a PNG
        nb = new_notebook(cells=[new_code_cell("plot()", execution_count=1, outputs=[
            new_output("display_data", data={"image/png": "bm90IGEgcG5n", "text/plain": "<Figure>"})])])
        bad.write_text(json.dumps(nb))
    elif content is not None:
        bad.write_text(content)
    code = main(["portfolio", "build", str(work["run"]), "--notebook", str(bad),
                 "--out", str(tmp_path / "site")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("deepstart: error: "), err
    assert says in err and str(bad) in err and "Traceback" not in err
    assert not (tmp_path / "site").exists()


def test_notebooks_listed_in_portfolio_toml(work, tmp_path, monkeypatch, capsys):
    """Paths in portfolio.toml are relative to the file; a list of anything but paths is refused."""
    (tmp_path / "me" / "nb").mkdir(parents=True)
    (tmp_path / "me" / "nb" / SERIES).write_bytes(work["notebook"].read_bytes())
    about = tmp_path / "me" / "portfolio.toml"
    about.write_text(f'name = "Ada"\nnotebooks = ["nb/{SERIES}"]\n')
    monkeypatch.chdir(tmp_path)
    assert main(["portfolio", "build", "--about", str(about), "--out", "site"]) == 0
    assert "1 notebook;" in capsys.readouterr().out
    assert (tmp_path / "site" / "notebooks" / "05-series-forecast.html").is_file()
    about.write_text(f'notebooks = "nb/{SERIES}"\n')
    assert main(["portfolio", "build", "--about", str(about), "--out", "other"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'notebooks' must be a list of .ipynb paths" in err
    assert not (tmp_path / "other").exists()


def test_a_file_that_is_not_a_notebook_is_refused(work, tmp_path, capsys):
    code = main(["portfolio", "build", str(work["run"]), "--notebook", str(work["run"] / "config.json"),
                 "--out", str(tmp_path / "site")])
    err = capsys.readouterr().err
    assert code == 2 and "is not a .ipynb file" in err and not (tmp_path / "site").exists()
