from __future__ import annotations

import os
from pathlib import Path

import pytest


def require_path(path: str | Path, install_hint: str) -> Path:
    """`path`, or skip the test when it is missing; in CI (CI=true) fail instead, so that a missing
    package is noticed rather than silently testing less."""
    path = Path(path)
    if not path.exists():
        message = f"{path} is missing; {install_hint}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, driven by Playwright (no browser download): the browser tests'
    one browser per test module."""
    require_path(CHROMIUM, "apt-get install chromium (Playwright drives Debian's build)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def one_torch_thread():
    """Small models on a shared 2-core machine: one torch thread is faster and its timing
    predictable (two threads wait on a core another process holds at every step)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True, scope="session")
def one_cli_parser():
    """`deepstart.cli.main` builds its argparse parser at every call (about 12 ms on a quiet
    2-core machine, 100 ms on a loaded one): half the time of test_faults' 1,731 in-process
    commands. The tests reuse one parser, built once. The parser is static (nothing in it depends
    on what a test changes) and parse_args leaves it as it was (append defaults are copied), so
    every command parses exactly as it does from the command line."""
    import functools

    from deepstart import cli

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cli, "build_parser", functools.cache(cli.build_parser))
        yield
