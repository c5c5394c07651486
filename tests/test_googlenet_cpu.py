"""benchmarks/googlenet_cpu.py: times real training steps of the zoo's googlenet (tiny settings here;
the figures themselves are taken on a quiet machine)."""

import importlib.util
import math
from pathlib import Path

import pytest

from deepstart.models import build_model

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "googlenet_cpu.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("googlenet_cpu", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_one_step_is_timed_and_the_epoch_is_422_of_them(bench):
    from conftest import require_path

    require_path("/usr/share/datasets/fashion-mnist", "install it with `apt-get install dataset-fashion-mnist`")
    x, y = bench.images(bench.BATCH)
    assert x.shape == (128, 1, 28, 28) and 0 <= float(x.min()) and float(x.max()) <= 1
    row = bench.time_width(0.0625, x, y, steps=1, warmup=0)
    model = build_model("googlenet", (1, 28, 28), 10, "multiclass", width=0.0625)
    assert row["params"] == sum(p.numel() for p in model.parameters())
    assert "4a" in model.aux and "4d" in model.aux  # timed with the auxiliary classifiers on
    assert row["step_s"] > 0
    assert row["epoch_s"] == pytest.approx(row["step_s"] * math.ceil(54_000 / 128))
    # the paper's width has about 4x the recipe's parameters (the figures the table prints)
    full = sum(p.numel() for p in build_model("googlenet", (1, 28, 28), 10, "multiclass",
                                              width=1.0).parameters())
    half = sum(p.numel() for p in build_model("googlenet", (1, 28, 28), 10, "multiclass",
                                              width=0.5).parameters())
    assert full == 10_218_942 and 3.5 < full / half < 4.5
