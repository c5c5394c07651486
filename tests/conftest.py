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


@pytest.fixture
def one_torch_thread():
    """Small models on a shared 2-core machine: one torch thread is faster and its timing
    predictable (two threads wait on a core another process holds at every step)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
