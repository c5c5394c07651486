"""The portfolio in a real browser: Chromium (Debian's /usr/bin/chromium, driven by Playwright) opens
a site built from two real runs, once from file:// and once through `deepstart portfolio serve` on a
free loopback port. From the index it follows every card to its project page and every report link
to the report (through the server, the report is fetched rather than rendered again): each page
loads, logs no console error, requests nothing outside the site, and shows every image decoded. The
cards sit side by side on a desktop and in one column on a phone."""

from __future__ import annotations

import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from deepstart.cli import main


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("portfolio")
    with pytest.MonkeyPatch.context() as mp:  # decoded data sets are cached here, not in ~/.cache
        mp.setenv("DEEPSTART_HOME", str(root / "home"))
        runs = root / "runs"
        for args in (["digits", "--epochs", "2"], ["airline-passengers", "--epochs", "30"]):
            assert main(["run", *args, "--quiet", "--out", str(runs)]) == 0
        assert main(["portfolio", "build", *map(str, sorted(runs.iterdir())),
                     "--out", str(root / "site")]) == 0
    return root / "site"


def visit(browser, url: str, inside: str, viewport: dict | None = None):
    """Load `url`; return the page, its problems (console errors, failed or refused requests) and
    the requests that left the site (anything not under `inside`, other than data: URIs)."""
    page = browser.new_page(viewport=viewport or {"width": 1200, "height": 900})
    problems, outside = [], []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url[:100]}"))
    page.on("response", lambda r: problems.append(f"{r.status}: {r.url[:100]}")
            if r.status >= 400 else None)
    page.on("request", lambda r: outside.append(r.url[:100])
            if not r.url.startswith((inside, "data:")) else None)
    page.goto(url, wait_until="load")
    return page, problems, outside


def check_loaded(page, problems: list, outside: list) -> None:
    assert problems == [] and outside == []
    images = page.evaluate("Array.from(document.images).map(i => "
                           "[i.src.slice(0, 60), i.alt, i.complete, i.naturalWidth])")
    for src, alt, complete, width in images:
        assert complete and width > 0, src
        assert alt.strip(), src


def walk_site(browser, base: str, open_reports: bool = True) -> list[str]:
    """Index -> every card's project page -> every report; returns the pages' titles. Without
    `open_reports`, a report link is only fetched (status 200, HTML), not rendered again."""
    titles = []
    page, problems, outside = visit(browser, base + "index.html", base)
    check_loaded(page, problems, outside)
    cards = page.locator("article.card")
    assert cards.count() == 2 and page.locator("article.card img").count() == 2
    projects = [a.get_attribute("href") for a in page.locator("article.card h3 a").all()]
    names = page.locator("article.card h3 a").all_inner_texts()
    titles.append(page.title())
    page.close()
    for href, name in zip(projects, names):
        project, problems, outside = visit(browser, base + href, base)
        check_loaded(project, problems, outside)
        assert project.inner_text("h1") == name and project.locator("table").first.locator("tbody tr").count() == 1
        reports = [a.get_attribute("href") for a in project.locator("a.report").all()]
        assert len(reports) == 1
        home = project.locator("a.home").get_attribute("href")
        titles.append(project.title())
        url = project.url
        project.close()
        for report_href in reports:
            report_url = re.sub(r"[^/]*$", "", url) + report_href
            if not open_reports:
                with urllib.request.urlopen(report_url) as response:
                    assert response.status == 200
                    assert response.headers["Content-Type"].startswith("text/html")
                    assert b'id="headline"' in response.read()
                continue
            report, problems, outside = visit(browser, report_url, base)
            check_loaded(report, problems, outside)
            assert report.locator("#headline").count() == 1
            titles.append(report.title())
            report.close()
        assert home == "../index.html"
    return titles


def test_site_from_file_urls(browser, site):
    titles = walk_site(browser, site.as_uri() + "/")
    assert titles[0] == "Deep-learning portfolio"
    assert sorted(titles[1::2]) == ["airline-passengers — Deep-learning portfolio",
                                    "digits — Deep-learning portfolio"]
    assert all(t.endswith("— deepstart report") for t in titles[2::2])


def test_cards_side_by_side_on_a_desktop_one_column_on_a_phone(browser, site):
    for viewport, columns in (({"width": 1200, "height": 900}, 2), ({"width": 390, "height": 844}, 1)):
        page, problems, outside = visit(browser, (site / "index.html").as_uri(), site.as_uri() + "/",
                                        viewport)
        boxes = [c.bounding_box() for c in page.locator("article.card").all()]
        assert len({round(b["x"]) for b in boxes}) == columns, viewport
        assert all(b["x"] + b["width"] <= viewport["width"] for b in boxes)  # nothing off screen
        page.close()


def test_site_through_portfolio_serve(browser, site, tmp_path):
    log = open(tmp_path / "serve.log", "w")
    server = subprocess.Popen([sys.executable, "-m", "deepstart", "portfolio", "serve",
                               "--dir", str(site), "--port", "0"],
                              stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        line = server.stdout.readline()  # printed once the socket listens
        found = re.search(r"at (http://127\.0\.0\.1:\d+/) ", line)
        assert found, line
        titles = walk_site(browser, found.group(1), open_reports=False)  # opened from file:// above
        assert titles[0] == "Deep-learning portfolio" and len(titles) == 3
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()
    requests = Path(tmp_path / "serve.log").read_text()
    assert '"GET /index.html HTTP/1.1" 200' in requests and '"GET /style.css HTTP/1.1" 200' in requests
