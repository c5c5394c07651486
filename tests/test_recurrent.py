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


# --- learning around a naive forecast (`difference`) --------------------------------------------

def test_difference_starts_from_seasonal_naive_on_the_airline_test_months():
    """With its output layer at zero, a network that learns around the lag-12 difference forecasts
    exactly the same month of last year: the seasonal-naive RMSE the catalog records (42.32)."""
    from deepstart.prepare import prepare
    from deepstart.problems import get_problem

    problem = get_problem("airline-passengers")
    data = prepare(problem.load(), problem, lookback=24)
    for cell in ("lstm", "gru"):
        model = build_model(cell, (24,), 1, "forecast", difference=12, hidden_size=4)
        torch.nn.init.zeros_(model.head.weight)
        torch.nn.init.zeros_(model.head.bias)
        rmse = Learner(model, data, verbose=0).evaluate("test")["rmse"]
        assert rmse == pytest.approx(42.32, abs=0.005)
    # and with lag 1, the persistence forecast (48.66 on the same 46 months)
    model = build_model("gru", (24,), 1, "forecast", difference=1, hidden_size=4)
    torch.nn.init.zeros_(model.head.weight)
    torch.nn.init.zeros_(model.head.bias)
    assert Learner(model, data, verbose=0).evaluate("test")["rmse"] == pytest.approx(48.66, abs=0.005)


def test_difference_reads_only_the_differences():
    """Two windows that differ by a constant level have the same lag-12 differences, so the
    forecasts differ by exactly that level."""
    model = build_model("lstm", (24,), 1, "forecast", difference=12, hidden_size=4).eval()
    x = torch.randn(3, 24)
    torch.testing.assert_close(model(x + 5.0), model(x) + 5.0)


def test_recurrent_recipe_tiny_run_records_and_exports_it(tmp_path, capsys):
    """`run airline-passengers --model gru`: the recipe's look-back 24 and difference 12 (3 epochs
    here, not the recipe's 100) are in config.json and model.json, the loaded model predicts the
    recorded test score, and the ONNX export matches it."""
    import json

    from deepstart.cli import main
    from deepstart.prepare import prepare
    from deepstart.problems import get_problem

    assert main(["run", "airline-passengers", "--model", "gru", "--epochs", "3", "--quiet",
                 "--out", str(tmp_path)]) == 0
    run = next(tmp_path.iterdir())
    config = json.loads((run / "config.json").read_text())
    assert config["lookback"] == 24 and config["model_options"] == {"difference": 12}
    spec = json.loads((run / "model.json").read_text())
    assert spec["config"]["difference"] == 12 and spec["lookback"] == 24
    recorded = json.loads((run / "metrics.json").read_text())["test"]["rmse"]
    # three epochs from seasonal naive already improve on it (42.32) on the 46 test months
    assert recorded < 42.32
    model, _ = load_model(run)
    problem = get_problem("airline-passengers")
    data = prepare(problem.load(), problem, lookback=24)
    assert Learner(model, data, verbose=0).evaluate("test")["rmse"] == pytest.approx(recorded, rel=1e-5)
    capsys.readouterr()
    assert main(["export", str(run)]) == 0
    out = capsys.readouterr().out
    assert float(out.split("max abs difference ")[1].split()[0]) < 1e-4
    # serve takes the last 24 months in thousands and answers the model's own test forecast
    from deepstart.serve import ServedModel

    series = problem.load().series
    answer = ServedModel(run).answer_json(json.dumps({"window": series[118:142].tolist()}).encode())
    last = model(data.x_test[-1:]).item() * data.scaling["y"]["scale"] + data.scaling["y"]["offset"]
    assert answer["value"] == pytest.approx(last, rel=1e-5)


@pytest.mark.parametrize("args, message", [
    (["--lookback", "12"], ("difference=12 needs windows longer than 12 values; these have 12: "
                            "use --lookback 24")),
    (["--option", "difference=0"], "difference must be a positive integer"),
])
def test_a_window_too_short_for_its_difference_fails_before_a_folder(args, message, tmp_path, capsys):
    from deepstart.cli import main

    assert main(["run", "airline-passengers", "--model", "lstm", *args, "--out",
                 str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()


def test_difference_is_for_one_series_only():
    with pytest.raises(DeepstartError, match="difference=1 is for forecasting one series"):
        build_model("lstm", (20, 3), 4, "multiclass", difference=1)
    model = build_model("gru", (6,), 1, "forecast", difference=12)
    with pytest.raises(DeepstartError, match="these have 6"):
        model(torch.zeros(2, 6))
