"""LSTM/GRU in the zoo and the airline-passengers example with its baselines."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch

from deepstart import Learner
from deepstart.errors import DeepstartError
from deepstart.models import build_model, load_model, save_model

EXAMPLE = Path(__file__).parent.parent / "examples" / "airline_lstm.py"


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_recurrent_shapes_and_round_trip(cell, tmp_path):
    model = build_model(cell, (12,), 1, "forecast", hidden_size=8)
    assert model(torch.zeros(5, 12)).shape == (5, 1)  # a univariate window gets a feature axis
    seq = build_model(cell, (20, 3), 4, "multiclass", hidden_size=8, num_layers=2)
    assert seq(torch.zeros(5, 20, 3)).shape == (5, 4)
    save_model(seq, tmp_path)
    loaded, spec = load_model(tmp_path)
    assert spec["family"] == cell
    x = torch.randn(2, 20, 3)
    torch.testing.assert_close(loaded(x), seq.eval()(x))


def test_recurrent_models_read_sequences_only():
    with pytest.raises(DeepstartError, match="'lstm' reads sequences"):
        build_model("lstm", (1, 28, 28), 10, "multiclass")


def test_gru_forecasts_airline_passengers():
    learner = Learner("gru", "airline-passengers", lookback=12, batch_size=8, lr=1e-2,
                      verbose=0, model_options={"hidden_size": 8})
    history = learner.fit(5)
    assert all(math.isfinite(v) for v in history["loss"])
    assert history["loss"][-1] < history["loss"][0]
    assert 0 < learner.evaluate()["rmse"] < 500


def test_airline_example_prints_the_model_beside_both_baselines(capsys):
    spec = importlib.util.spec_from_file_location("airline_lstm", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    result = example.main(["--epochs", "3", "--batch-size", "8"])
    out = capsys.readouterr().out
    assert "Test Score:" in out and "persistence (last month): 48.66" in out
    assert "seasonal naive (same month last year): 42.32" in out
    assert math.isfinite(result["test_rmse"]) and result["test_rmse"] > 0
