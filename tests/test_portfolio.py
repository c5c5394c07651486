"""`deepstart portfolio build` and `serve`, from real short runs (two digits models, airline
passengers, a spot-check of digits, and a copy of a run without its weights): cards and pages with
the numbers of metrics.json, relative links that all resolve inside the site, strict HTML5, alt text,
the about section from portfolio.toml and its errors, atomic and reproducible builds, and bad input
as one line with exit code 2 and nothing written. The same site in Chromium: test_portfolio_browser.py.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import html5lib
import pytest

from deepstart import portfolio
from deepstart.cli import main

ODD_NAME = "2026-11-23-digits-logistic-<1>&"  # a folder name the pages must escape


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """runs/: digits (mlp, logistic), airline-passengers (with its report.html already written) and
    a spot-check of digits; elsewhere/: a copy of the logistic run without its weights."""
    root = tmp_path_factory.mktemp("work")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEEPSTART_HOME", str(root / "home"))  # decoded data sets are cached here
        out = root / "runs"
        for args in (["digits", "--epochs", "2"], ["digits", "--model", "logistic", "--epochs", "2"],
                     ["airline-passengers", "--epochs", "30"]):
            assert main(["run", *args, "--quiet", "--out", str(out)]) == 0
        found = {p.name.split("-", 3)[3].rsplit("-", 1)[0]: p for p in out.iterdir()}
        assert main(["report", str(found["airline-passengers-linear"])]) == 0
        assert main(["evaluate", "digits", "--algorithms", "baseline,logistic", "--folds", "3",
                     "--limit", "300", "--quiet", "--out", str(out)]) == 0
        weightless = root / "elsewhere" / ODD_NAME
        shutil.copytree(found["digits-logistic"], weightless)
        (weightless / "model.safetensors").unlink()
        yield {"root": root, "out": out, "mlp": found["digits-mlp"],
               "logistic": found["digits-logistic"], "airline": found["airline-passengers-linear"],
               "evaluation": next(out.glob("*-digits-evaluate-*")), "weightless": weightless}


@pytest.fixture(scope="module")
def site(runs):
    target = runs["root"] / "site"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEEPSTART_HOME", str(runs["root"] / "home"))
        result = portfolio.build([runs["mlp"], runs["logistic"], runs["airline"], runs["weightless"]],
                                 out=target)
    assert result.out == target and (result.projects, result.runs) == (2, 4)
    assert (result.copied, result.rendered) == (1, 2)
    assert [name for name, _ in result.without_report] == [ODD_NAME]
    return target


def metrics(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


def parse(page: Path):
    """The page's DOM, parsed by html5lib's strict parser: any HTML5 parse error raises."""
    return html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(page.read_bytes())


def pages(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


def numbers(element) -> dict[str, float]:
    """The exact floats of a scores list: <data class="ours|published|baseline" value=...>."""
    return {d.get("class"): float(d.get("value")) for d in element.iter("data") if d.get("class")}


def card(site: Path, slug: str):
    return next(a for a in parse(site / "index.html").iter("article")
                if a.get("id") == f"project-{slug}")


def test_index_has_a_card_per_project_with_the_best_run_and_its_numbers(site, runs):
    doc = parse(site / "index.html")
    cards = list(doc.iter("article"))
    # newest first, and on the same date by name
    assert [c.get("id") for c in cards] == ["project-airline-passengers", "project-digits"]
    digits = card(site, "digits")
    mlp, logistic = metrics(runs["mlp"]), metrics(runs["logistic"])
    best, best_metrics = ((runs["mlp"], mlp) if mlp["test"]["accuracy"] >= logistic["test"]["accuracy"]
                          else (runs["logistic"], logistic))
    model = json.loads((best / "config.json").read_text())["model"]
    assert digits.find(".//dd[@class='model']").text.strip() == model
    published = max(r["value"] for r in best_metrics["references"])  # both are published scores
    # the baseline: the majority class of the digits training rows, scored on the test rows
    from deepstart.problems import get_problem

    raw = get_problem("digits").load()
    import numpy as np

    majority = float(np.mean(raw.y_test == np.bincount(raw.y_train).argmax()))
    assert numbers(digits) == {"ours": best_metrics["test"]["accuracy"], "published": published,
                               "baseline": majority}
    text = "".join(digits.itertext())
    assert f"{best_metrics['test']['accuracy']:.4f}" in text
    assert f"3 runs · latest {runs['mlp'].name[:10]}" in text  # the date in the folder's name
    # airline: rmse, lower is better; the best published is the LSTM, the baseline the worst of the
    # computed ones (persistence), as `deepstart diagnose` takes it
    airline = card(site, "airline-passengers")
    m = metrics(runs["airline"])
    refs = {r["model"]: r["value"] for r in m["references"]}
    assert numbers(airline) == {"ours": m["test"]["rmse"], "published": refs["LSTM, look-back 1"],
                                "baseline": refs["persistence baseline (last month)"]}
    assert "lower is better" in "".join(airline.itertext())
    for c, slug in ((digits, "digits"), (airline, "airline-passengers")):
        image = c.find(".//img")
        assert image.get("src") == f"thumbs/{slug}.png" and "learning curve" in image.get("alt")
        assert c.find(".//h3/a").get("href") == f"projects/{slug}.html"


def test_project_page_lists_runs_best_first_with_reports_and_leaderboard(site, runs):
    doc = parse(site / "projects" / "digits.html")
    rows = doc.find(".//table/tbody").findall("tr")
    names = [r.find("td/code").text for r in rows]
    scores = [float(r.find(".//data").get("value")) for r in rows]
    assert scores == sorted(scores, reverse=True) and len(rows) == 3
    assert rows[0].get("class") == "best"
    by_name = dict(zip(names, rows))
    for key in ("mlp", "logistic"):
        run = runs[key]
        row = by_name[run.name]
        m = metrics(run)
        cells = ["".join(td.itertext()).strip() for td in row.findall("td")]
        assert cells[1] == json.loads((run / "config.json").read_text())["model"]
        assert float(row.find(".//data").get("value")) == m["test"]["accuracy"]
        assert cells[3] == str(m["epochs"]) and cells[4] == f"{m['train_seconds']:.1f} s"
        assert cells[5] == run.name[:10]  # the date in the run folder's name
        link = row.find(".//a[@class='report']")
        assert link.get("href") == f"../reports/{run.name}.html"
        report = (site / "projects" / link.get("href")).resolve()
        # rendered for the site: no time in it, the fixed text instead
        assert "report written by deepstart portfolio build" in report.read_text()
    # airline's report.html was in its folder: copied byte for byte
    airline = runs["airline"]
    assert (site / "reports" / f"{airline.name}.html").read_bytes() == \
        (airline / "report.html").read_bytes()
    # the spot-check beside the runs: its leaderboard, best first
    board = doc.find(".//h2[@id='leaderboard']")
    assert board is not None
    evaluation = json.loads((runs["evaluation"] / "evaluation.json").read_text())
    page = (site / "projects" / "digits.html").read_text()
    assert runs["evaluation"].name in page
    tables = doc.findall(".//table")
    shown = [[td.text for td in tr.findall("td")[1:4]] for tr in tables[1].find("tbody").findall("tr")]
    ranked = sorted(evaluation["results"], key=lambda r: -r["mean"])
    assert [row[0] for row in shown] == [r["algorithm"] for r in ranked]
    assert [row[1] for row in shown] == [f"{r['mean']:.4f}" for r in ranked]
    # the baseline scores the same on every fold: its spread reads 0, not a float's 1e-17
    assert [row[2] for row in shown] == [f"{round(r['std'], 10):.4f}" for r in ranked]
    assert shown[-1] == ["baseline", f"{ranked[-1]['mean']:.4f}", "0.0000"]
    assert parse(site / "projects" / "airline-passengers.html").find(".//h2[@id='leaderboard']") is None


def test_run_without_weights_is_listed_with_the_reason_and_escaped(site):
    page = (site / "projects" / "digits.html").read_text()
    row = next(r for r in parse(site / "projects" / "digits.html").iter("tr")
               if r.find("td/code") is not None and r.find("td/code").text == ODD_NAME)
    assert row.find(".//a") is None
    note = "".join(row.find(".//span[@class='noreport']").itertext())
    assert note.startswith("no report: ") and "holds no saved model" in note
    assert "2026-11-23-digits-logistic-&lt;1&gt;&amp;" in page and "<1>" not in page
    assert not any("<1>" in p.name for p in (site / "reports").iterdir())


def test_an_evaluation_given_on_the_command_line_is_the_leaderboard(runs, tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPSTART_HOME", str(runs["root"] / "home"))
    given = tmp_path / "2026-01-01-digits-evaluate-7"  # older than the one beside the runs
    shutil.copytree(runs["evaluation"], given)
    portfolio.build([runs["weightless"], given], out=tmp_path / "site")
    page = (tmp_path / "site" / "projects" / "digits.html").read_text()
    assert "2026-01-01-digits-evaluate-7" in page and runs["evaluation"].name not in page
    assert 'id="leaderboard"' in page


def test_links_are_relative_and_every_target_exists(site):
    for page in pages(site):
        if page.parent.name == "reports":
            continue  # reports are self-contained pages, checked by tests/test_report.py
        doc = parse(page)
        # a reference's source is the one link out of the site (a page to read, nothing loaded)
        sources = [e.get("href") for e in doc.iter("a") if e.get("class") == "source"]
        assert all(urlparse(href).scheme in ("https", "http") for href in sources), page
        refs = [(e.tag, e.get("href") or e.get("src")) for e in doc.iter()
                if e.tag in ("a", "link", "img", "script") and (e.get("href") or e.get("src"))
                and not (e.tag == "a" and e.get("class") == "source")]
        assert refs, page
        for tag, ref in refs:
            if tag == "link" and ref == "data:,":
                continue  # the empty favicon: no request for /favicon.ico
            assert not urlparse(ref).scheme and not ref.startswith("/"), (page, ref)
            target = (page.parent / unquote(ref.split("#")[0])).resolve()
            assert target.is_file() and site.resolve() in target.parents, (page, ref)
        text = page.read_text()
        for href in sources:
            text = text.replace(f'href="{href}"', "")
        assert "http://" not in text and "https://" not in text and "<script" not in text
    css = (site / "style.css").read_text()
    assert "url(" not in css and "@import" not in css and "@font-face" not in css


def test_every_page_is_strict_html5_and_every_img_has_alt(site):
    assert len(pages(site)) == 2 + 1 + 3  # index, two projects, three reports
    for page in pages(site):
        doc = parse(page)  # raises on any parse error
        assert doc.find(".//meta[@name='viewport']") is not None
        assert doc.tag == "html" and doc.get("lang") == "en"
        for image in doc.iter("img"):
            assert image.get("alt", "").strip(), (page, image.get("src", "")[:40])
    css = (site / "style.css").read_text()
    assert "grid-template-columns: repeat(auto-fill, minmax(min(100%, 300px), 1fr))" in css


def test_thumbnails_are_pngs_without_software_metadata(site):
    from PIL import Image

    for slug in ("digits", "airline-passengers"):
        path = site / "thumbs" / f"{slug}.png"
        with Image.open(path) as image:
            assert image.format == "PNG" and image.size == (400, 240)
            assert "Software" not in image.info
        assert b"matplotlib" not in path.read_bytes().lower()


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mode & 0o777)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_runs_give_the_same_bytes_and_a_rebuild_replaces_the_site(site, runs, tmp_path,
                                                                       monkeypatch):
    monkeypatch.setenv("DEEPSTART_HOME", str(runs["root"] / "home"))
    before = snapshot(site)
    assert before["index.html"][1] == 0o644
    # another folder, the runs in another order: the same bytes
    again = tmp_path / "again"
    portfolio.build([runs["weightless"], runs["airline"], runs["logistic"], runs["mlp"]], out=again)
    assert snapshot(again) == before
    # a rebuild over an existing site swaps the new tree in and leaves no temp or old folder
    (again / "stale.html").write_text("from an older build")
    portfolio.build([runs["airline"]], out=again)
    assert not (again / "stale.html").exists() and not (again / "projects" / "digits.html").exists()
    assert [p.name for p in (again / "reports").iterdir()] == [f"{runs['airline'].name}.html"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again"]


def test_same_named_runs_from_two_folders_get_their_own_reports_in_a_fixed_order(runs, tmp_path,
                                                                                 monkeypatch):
    monkeypatch.setenv("DEEPSTART_HOME", str(runs["root"] / "home"))
    twin = tmp_path / "copy" / runs["airline"].name
    shutil.copytree(runs["airline"], twin)
    (twin / "report.html").write_text((twin / "report.html").read_text().replace("</h1>", " (copy)</h1>"))
    portfolio.build([runs["airline"], twin], out=tmp_path / "one")
    portfolio.build([twin, runs["airline"]], out=tmp_path / "two")
    assert snapshot(tmp_path / "one") == snapshot(tmp_path / "two")
    reports = sorted(p.name for p in (tmp_path / "one" / "reports").iterdir())
    assert reports == [f"{twin.name}-2.html", f"{twin.name}.html"]


def test_a_failed_build_leaves_the_old_site_and_no_temp_folder(site, runs, tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPSTART_HOME", str(runs["root"] / "home"))
    old = tmp_path / "site"
    shutil.copytree(site, old)
    before = snapshot(old)
    calls = []

    def failing_write(path, text):  # the index and the first project page, then a full disk
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        path.write_bytes(text.encode())

    monkeypatch.setattr(portfolio, "_write_page", failing_write)
    with pytest.raises(OSError, match="No space left"):
        portfolio.build([runs["airline"]], out=old)
    assert len(calls) == 2 and snapshot(old) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]
    # the same failure on a first build: nothing at all
    calls.clear()
    with pytest.raises(OSError):
        portfolio.build([runs["airline"]], out=tmp_path / "new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]


ABOUT = """\
name = "Ada <Lovelace>"
bio = "Learning deep learning top-down: real problems first & the theory after."
links = [
  { title = "GitHub", url = "https://github.com/ada" },
  { title = "Mail", url = "mailto:ada@example.org" },
]
"""


def test_about_section_from_portfolio_toml(runs, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DEEPSTART_HOME", str(runs["root"] / "home"))
    monkeypatch.chdir(tmp_path)
    Path("portfolio.toml").write_text(ABOUT)  # found in the current folder without --about
    assert main(["portfolio", "build", str(runs["airline"])]) == 0
    out = capsys.readouterr().out
    assert "site/index.html (1 project, 1 run; reports: 1 copied, 0 rendered, 0 without)" in out
    assert "deepstart portfolio serve --dir site" in out
    doc = parse(tmp_path / "site" / "index.html")
    assert doc.find(".//title").text == "Ada <Lovelace> — portfolio"
    about = doc.find(".//section[@id='about']")
    assert about.find("h1").text == "Ada <Lovelace>"
    assert "".join(about.find("p").itertext()) == ("Learning deep learning top-down: real problems "
                                                   "first & the theory after.")
    links = [(a.text, a.get("href"), a.get("rel")) for a in about.iter("a")]
    assert links == [("GitHub", "https://github.com/ada", "me noopener"),
                     ("Mail", "mailto:ada@example.org", "me noopener")]
    assert "Ada &lt;Lovelace&gt;" in (tmp_path / "site" / "index.html").read_text()
    # [[links]] tables are the same list
    other = tmp_path / "other.toml"
    other.write_text('name = "Ada"\n[[links]]\ntitle = "Blog"\nurl = "https://ada.example.org"\n')
    assert portfolio.read_about(other).links == [{"title": "Blog", "url": "https://ada.example.org"}]


def test_the_shipped_example_toml_is_valid():
    about = portfolio.read_about(Path(__file__).parents[1] / "examples" / "portfolio.toml")
    assert about.name == "Ada Lovelace" and about.bio.startswith("Learning deep learning top-down")
    assert [link["title"] for link in about.links] == ["GitHub", "Email"]


@pytest.mark.parametrize("text, says", [
    ('nmae = "Ada"\n', "unknown key 'nmae' (did you mean 'name'?)"),
    ("name = 3\n", "'name' must be text in quotes"),
    ('name = "Ada\n', "is not valid TOML"),
    ('links = "https://github.com/ada"\n', "'links' must be a list of tables with title and url"),
    ('links = [{ title = "GitHub" }]\n', "links[0] needs 'url' as non-empty text"),
    ('links = [{ title = "x", url = "https://x.org", icon = "x" }]\n', "unknown key 'icon'"),
    ('links = [{ title = "x", url = "javascript:alert(1)" }]\n', "must start with https://"),
])
def test_about_errors_name_the_key_exit_2_nothing_written(runs, tmp_path, capsys, text, says):
    about = tmp_path / "portfolio.toml"
    about.write_text(text)
    code = main(["portfolio", "build", str(runs["airline"]), "--about", str(about),
                 "--out", str(tmp_path / "site")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("deepstart: error: ")
    assert says in err and str(about) in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["portfolio.toml"]


def test_default_runs_are_the_finished_ones_under_runs(runs, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DEEPSTART_HOME", str(runs["root"] / "home"))
    monkeypatch.chdir(tmp_path)

    def fails(*args):
        before = sorted(tmp_path.rglob("*"))
        code = main(["portfolio", "build", *args])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and err.startswith("deepstart: error: ")
        assert sorted(tmp_path.rglob("*")) == before
        return err

    assert "no runs/ folder here" in fails()
    unfinished = Path("runs") / "2026-11-23-digits-mlp-9"
    unfinished.mkdir(parents=True)
    shutil.copy(runs["mlp"] / "config.json", unfinished)
    assert "no finished run under runs/" in fails()
    shutil.copytree(runs["airline"], Path("runs") / runs["airline"].name)
    assert main(["portfolio", "build"]) == 0
    doc = parse(Path("site/index.html"))
    assert [c.get("id") for c in doc.iter("article")] == ["project-airline-passengers"]
    assert "has not finished" in fails(str(unfinished), "--out", "elsewhere")


def test_bad_inputs_one_line_exit_2_nothing_written(runs, tmp_path, capsys):
    def fails(*args):
        code = main(["portfolio", *args])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and err.startswith("deepstart: error: ")
        return err

    site = tmp_path / "site"
    assert "is not a run folder" in fails("build", str(tmp_path), "--out", str(site))
    assert "does not exist" in fails("build", str(tmp_path / "nope"), "--out", str(site))
    assert "--about" in fails("build", str(runs["airline"]), "--about", str(tmp_path / "a.toml"),
                              "--out", str(site))
    taken = tmp_path / "notes"
    taken.mkdir()
    (taken / "todo.txt").write_text("mine")
    assert "holds something other than a deepstart portfolio" in fails(
        "build", str(runs["airline"]), "--out", str(taken))
    (tmp_path / "file").write_text("x")
    assert "is a file" in fails("build", str(runs["airline"]), "--out", str(tmp_path / "file"))
    assert "a problem none of the runs given solves" in fails(
        "build", str(runs["airline"]), str(runs["evaluation"]), "--out", str(site))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "notes"]
    assert (taken / "todo.txt").read_text() == "mine"
    assert "run `deepstart portfolio build --out" in fails("serve", "--dir", str(site))


@pytest.mark.parametrize("args, says", [
    ([], "required: ACTION"),
    (["serve", "--port", "70000"], "expected a port number from 0 to 65535; received '70000'"),
])
def test_command_line_mistakes_one_line_exit_2(args, says, capsys):
    with pytest.raises(SystemExit) as e:  # argparse's errors end the process, as on the shell
        main(["portfolio", *args])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and says in err


def test_serve_previews_the_site_on_loopback_only_inside_it(site, monkeypatch, capsys):
    server = portfolio.make_server(site, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        with urllib.request.urlopen(base) as r:
            assert r.status == 200 and r.read() == (site / "index.html").read_bytes()
        with urllib.request.urlopen(urljoin(base, "projects/digits.html")) as r:
            assert r.read() == (site / "projects" / "digits.html").read_bytes()
        # '..' never leaves the folder: the handler maps every path inside it
        for path in ("/../../../../etc/passwd", "/%2e%2e/%2e%2e/%2e%2e/etc/passwd"):
            with pytest.raises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(base.rstrip("/") + path)
            assert e.value.code == 404
    finally:
        server.shutdown()
        server.server_close()
    # exposed on every interface: a warning, then the server (stopped here at once, as Ctrl-C does)
    from http.server import ThreadingHTTPServer

    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(ThreadingHTTPServer, "serve_forever", interrupted)
    assert main(["portfolio", "serve", "--dir", str(site), "--host", "0.0.0.0", "--port", "0"]) == 0
    captured = capsys.readouterr()
    assert "warning: listening on 0.0.0.0" in captured.err
    assert re.match(rf"serving {re.escape(str(site))} at http://0\.0\.0\.0:\d+/", captured.out)


def test_a_folder_of_runs_builds_and_no_page_shows_a_local_path(tmp_path, monkeypatch, capsys):
    """`portfolio build runs/` takes the finished runs inside it; the pages show your data and
    --out relative to the working folder, or by name when outside it, never as absolute paths."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_iris

    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    monkeypatch.setenv("DEEPSTART_HOME", str(tmp_path / "home"))
    rng = np.random.default_rng(0)
    for label, level in (("dark", 40), ("light", 200)):  # your images, inside the working folder
        (work / "pics" / label).mkdir(parents=True)
        for i in range(10):
            pixels = np.clip(rng.normal(level, 20, (8, 8)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(work / "pics" / label / f"{i}.png")
    elsewhere.mkdir()  # your table, outside it
    load_iris(as_frame=True).frame.to_csv(elsewhere / "flowers.csv", index=False)
    monkeypatch.chdir(work)
    out = str(work / "runs")  # as typed: absolute
    assert main(["run", "pics", "--epochs", "1", "--quiet", "--out", out]) == 0
    assert main(["run", str(elsewhere / "flowers.csv"), "--target", "target", "--epochs", "1",
                 "--quiet", "--out", out]) == 0
    table_run = next(p for p in (work / "runs").iterdir() if "flowers" in p.name)
    assert main(["report", str(table_run)]) == 0  # copied into the site as it is
    capsys.readouterr()

    assert main(["portfolio", "build", "runs"]) == 0  # was "not a run folder"
    assert "2 projects, 2 runs" in capsys.readouterr().out
    leaks = {str(p.relative_to(work)) for p in (work / "site").rglob("*")
             if p.is_file() and str(tmp_path).encode() in p.read_bytes()}
    assert not leaks, leaks
    index = (work / "site" / "index.html").read_text()
    assert "images in pics" in index
    reports = " ".join(p.read_text() for p in (work / "site" / "reports").glob("*.html"))
    assert "the file flowers.csv" in reports and "--out runs" in reports
    assert "deepstart run flowers.csv --target target" in reports  # the next steps' commands


def test_thumbnail_of_a_one_epoch_run_shows_its_scores_not_two_dots():
    from matplotlib.figure import Figure

    from deepstart.portfolio import _one_epoch_thumbnail

    fig = Figure()
    ax = fig.add_subplot()
    _one_epoch_thumbnail(fig, ax, {"epoch": 1, "loss": 0.9, "accuracy": 0.5149,
                                   "val_accuracy": 1.0}, "accuracy")
    assert not ax.lines and len(ax.patches) == 2
    assert sorted(t.get_text().strip() for t in ax.texts) == ["0.5149", "1.0000"]
    assert ax.get_xlabel() == "accuracy after 1 epoch (no curve)"


def test_project_page_links_each_reference_to_its_source(site):
    """The digits page lists the best run's references, each published one linked to its source
    (deepstart.problems.citations), the computed baseline as text; none is called published that
    was computed here."""
    page = parse(site / "projects" / "digits.html")
    rows = [tr for tr in page.iter("tr") if tr.find("td/data") is not None
            and tr.findall("td")[2].text in ("published", "computed here", "baseline")]
    links = {a.get("href") for tr in rows for a in tr.iter("a")}
    assert "https://archive.ics.uci.edu/dataset/80/optical+recognition+of+handwritten+digits" in links
    assert any("plot_digits_classification" in href for href in links)
    kinds = [tr.findall("td")[2].text for tr in rows]
    assert kinds.count("published") == 2 and all(a.get("class") == "source"
                                                  for tr in rows for a in tr.iter("a"))
    values = [float(tr.find("td/data").get("value")) for tr in rows]
    assert values == sorted(values, reverse=True)  # best first (accuracy: higher is better)
