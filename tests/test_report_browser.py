"""Real reports opened in a real browser: Chromium (Debian's /usr/bin/chromium, driven by
Playwright) loads the file:// page of a digits run and of a convnet run on a folder of Fashion-MNIST
images; no console error, no request beyond the file itself, every image decoded, and the headline
metric on the page."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import require_path
from deepstart.cli import main

FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:  # decoded data sets are cached here, not in ~/.cache
        mp.setenv("DEEPSTART_HOME", str(tmp_path_factory.mktemp("home")))
        yield


def open_report(browser, path: Path):
    """Load the page; return (page, console errors, requests other than the page itself)."""
    page = browser.new_page()
    errors, requests = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: errors.append(f"failed: {r.url[:80]}"))
    page.on("request", lambda r: requests.append(r.url) if r.url != path.as_uri()
            and not r.url.startswith("data:") else None)
    page.goto(path.as_uri(), wait_until="load")
    return page, errors, requests


def check_page(browser, report: Path, run: Path, min_images: int) -> None:
    page, errors, requests = open_report(browser, report)
    try:
        assert errors == [] and requests == []
        images = page.evaluate("Array.from(document.images).map(i => "
                               "[i.src.slice(0, 22), i.complete, i.naturalWidth, i.naturalHeight])")
        assert len(images) >= min_images
        for src, complete, width, height in images:
            assert src == "data:image/png;base64,"
            assert complete and width > 0 and height > 0
        metrics = json.loads((run / "metrics.json").read_text())
        headline = page.inner_text("#headline")
        assert f"test accuracy {metrics['test']['accuracy']:.4f}" in headline
        assert page.inner_text("h2#diagnosis").startswith("Diagnosis: ")
        assert page.locator("#mistakes ~ .grid figure").count() == 12
        assert page.title() == f"{run.name} — deepstart report"
    finally:
        page.close()


def test_digits_report_in_chromium(browser, home, tmp_path):
    assert main(["run", "digits", "--epochs", "2", "--quiet", "--out", str(tmp_path)]) == 0
    run = next(tmp_path.iterdir())
    assert main(["report", str(run)]) == 0
    check_page(browser, run / "report.html", run, min_images=10 + 12 + 4)


def test_convnet_on_fashion_mnist_images_report_in_chromium(browser, home, tmp_path):
    require_path(FASHION, "apt-get install dataset-fashion-mnist")
    from PIL import Image

    from deepstart.problems import get_problem

    raw = get_problem("fashion-mnist").load(download=False)
    folder = tmp_path / "clothes"
    for label, name in ((1, "trouser"), (7, "sneaker"), (8, "bag")):
        (folder / name).mkdir(parents=True)
        for i in np.flatnonzero(raw.y_train == label)[:40]:
            Image.fromarray(raw.x_train[i, 0]).save(folder / name / f"{i}.png")
    assert main(["run", str(folder), "--model", "convnet", "--option", "widths=[8,16]",
                 "--epochs", "2", "--quiet", "--out", str(tmp_path / "runs")]) == 0
    run = next((tmp_path / "runs").iterdir())
    assert main(["report", str(run)]) == 0
    check_page(browser, run / "report.html", run, min_images=3 + 12 + 4)
