"""The serve page in a real browser: Chromium (Debian's /usr/bin/chromium, driven by Playwright)
against the real server (uvicorn in a thread, on a free loopback port). The page loads with no
console error and no request beyond the server; a stroke drawn with the mouse on the canvas yields
a prediction on the page, with its bars; the forms of a table and a series yield one too, and a
bad value shows the server's message."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time

import httpx
import pytest

from playwright.sync_api import expect
from serve_runs import trained_runs


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.getbasetemp() / "serve-runs"
    base.mkdir(exist_ok=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEEPSTART_HOME", str(base / "home"))
        yield trained_runs(base)


@contextlib.contextmanager
def running(folder):
    """The real server (the app `deepstart serve` runs) on a free loopback port; yields its URL."""
    import uvicorn

    from deepstart.serve import create_app

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(folder), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@contextlib.contextmanager
def page_of(browser, url: str):
    """The page at `url`, and the console errors and requests outside the server it causes."""
    page = browser.new_page()
    errors, outside, sent = [], [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: errors.append(f"failed: {r.url[:80]}"))
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(url + "/")
            and not r.url.startswith("data:") else None)
    page.on("request", lambda r: sent.append(r.post_data) if r.url == url + "/predict" else None)
    page.goto(url + "/", wait_until="networkidle")
    try:
        yield page, errors, outside, sent
    finally:
        page.close()


def shown_bars(page) -> dict[str, float]:
    """Class name -> the bar's width as a share of its track."""
    return page.evaluate("""Object.fromEntries(Array.from(document.querySelectorAll('#bars .bar'))
        .map(b => [b.dataset.class, b.querySelector('.fill').getBoundingClientRect().width /
                                    b.querySelector('.track').getBoundingClientRect().width]))""")


def test_drawing_a_digit_shows_its_prediction(browser, runs):
    with running(runs["digits"]) as url, page_of(browser, url) as (page, errors, outside, sent):
        assert page.title() == f"{runs['digits'].name} — deepstart serve"
        assert page.inner_text("#prediction") == "Draw to get a prediction."
        box = page.locator("#pad").bounding_box()
        x, top, height = box["x"] + box["width"] / 2, box["y"] + 0.2 * box["height"], box["height"]
        page.mouse.move(x, top)  # a "1": one stroke down the middle
        page.mouse.down()
        for step in range(1, 13):
            page.mouse.move(x + step, top + step * 0.05 * height)
        page.mouse.up()
        expect(page.locator("#bars .bar")).to_have_count(10)
        page.wait_for_load_state("networkidle")

        predicted = page.inner_text("#predicted")
        assert predicted in [str(i) for i in range(10)]
        bars = shown_bars(page)
        assert sum(bars.values()) == pytest.approx(1, abs=0.02)
        assert max(bars, key=bars.get) == predicted
        assert page.locator(".bar.top").get_attribute("data-class") == predicted
        # what the page sent: the stroke, downscaled to 8 x 8 in the digits' units (0..16); the
        # page shows the server's answer to it
        pixels = json.loads(sent[-1])["pixels"]
        assert len(pixels) == 8 and all(len(row) == 8 for row in pixels)
        assert max(max(row) for row in pixels) > 8 and min(min(row) for row in pixels) == 0
        answer = httpx.post(url + "/predict", json={"pixels": pixels}).json()
        assert answer["predicted"] == predicted

        page.click("#clear")
        assert page.locator("#bars .bar").count() == 0
        assert errors == [] and outside == []


def test_a_finger_tap_on_the_canvas_predicts_too(browser, runs):
    with running(runs["digits"]) as url:
        context = browser.new_context(has_touch=True)
        page = context.new_page()
        try:
            page.goto(url + "/", wait_until="networkidle")
            box = page.locator("#pad").bounding_box()
            page.touchscreen.tap(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            expect(page.locator("#bars .bar")).to_have_count(10)
            assert page.inner_text("#predicted") in [str(i) for i in range(10)]
        finally:
            context.close()


def test_the_form_of_a_table_shows_its_prediction(browser, runs):
    with running(runs["cancer"]) as url, page_of(browser, url) as (page, errors, outside, sent):
        options = page.locator("select[name=clinic] option").all_inner_texts()
        assert options == ["east", "north", "south", "(missing)"]
        assert page.locator("input[name='mean radius']").get_attribute("type") == "number"
        assert page.locator("[name=patient_id], [name=diagnosis]").count() == 0  # not read
        page.select_option("select[name=clinic]", "south")  # a change predicts
        expect(page.locator("#bars .bar")).to_have_count(2)
        assert page.inner_text("#predicted") in ("benign", "malignant")
        assert json.loads(sent[-1])["features"]["clinic"] == "south"
        page.fill("input[name='mean radius']", "")  # empty: missing, imputed by the model
        with page.expect_response(url + "/predict") as response:
            page.click("button[type=submit]")
        assert response.value.status == 200
        page.wait_for_load_state("networkidle")
        expect(page.locator("#bars .bar")).to_have_count(2)
        assert json.loads(sent[-1])["features"]["mean radius"] is None
        assert page.inner_text("#error") == ""
        assert errors == [] and outside == []


def test_a_bad_form_value_shows_the_servers_message(browser, runs):
    with running(runs["iris"]) as url, page_of(browser, url) as (page, errors, outside, _):
        page.click("button[type=submit]")  # filled with the training means
        expect(page.locator("#bars .bar")).to_have_count(3)
        assert page.inner_text("#predicted") in ("setosa", "versicolor", "virginica")
        page.fill("input[name='petal width (cm)']", "")
        page.click("button[type=submit]")
        expect(page.locator("#error")).to_have_text('features["petal width (cm)"]: expected a '
                                                    "number, got null")
        # the browser logs the 422 response itself; nothing else may fail
        assert [e for e in errors if "422" not in e] == [] and outside == []


def test_the_form_of_a_series_shows_the_forecast(browser, runs):
    with running(runs["airline"]) as url, page_of(browser, url) as (page, errors, outside, sent):
        assert page.locator("form input[type=number]").count() == 13
        page.click("button[type=submit]")
        expect(page.locator("#predicted")).to_be_visible()
        assert 50 < float(page.inner_text("#predicted")) < 1000
        assert len(json.loads(sent[-1])["window"]) == 13
        assert errors == [] and outside == []
