"""Test-time augmentation (`--tta flip`): the mean of the class probabilities over each image and its
mirror image, the same in training-time scoring, in a saved model, in the ONNX export and in the
reported test score."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from deepstart import Learner
from deepstart.cli import main
from deepstart.models import load_model
from deepstart.models.tta import FlipAverage, average, mirrored
from deepstart.record import load_data, model_outputs, read_run


def test_average_is_the_mean_of_the_probabilities_in_the_nets_units():
    torch.manual_seed(0)
    a, b = torch.randn(5, 4) * 3, torch.randn(5, 4) * 3
    out = average(a, b, "cross_entropy")
    want = (a.softmax(1) + b.softmax(1)) / 2
    torch.testing.assert_close(out.softmax(1), want)
    torch.testing.assert_close(out.log_softmax(1), out)  # already log-probabilities
    torch.testing.assert_close(out.exp(), want)
    a, b = torch.randn(6, 1), torch.randn(6, 1)
    torch.testing.assert_close(torch.sigmoid(average(a, b, "bce")),
                               (torch.sigmoid(a) + torch.sigmoid(b)) / 2)


def test_mirrored_flips_the_width_axis_only():
    x = torch.arange(2 * 1 * 2 * 3.0).reshape(2, 1, 2, 3)
    assert mirrored(x)[0, 0, 0].tolist() == [2.0, 1.0, 0.0]
    assert mirrored(x)[0, 0, 1].tolist() == [5.0, 4.0, 3.0]


def test_learner_scores_with_the_mean_over_image_and_mirror(one_torch_thread):
    learner = Learner("mlp", "digits", lr=1e-3, batch_size=64, augment="flip", tta="flip",
                      verbose=0)
    learner.fit(2)
    x, y = learner.data.x_test, learner.data.y_test
    learner.model.eval()
    with torch.inference_mode():
        want = (learner.model(x).softmax(1) + learner.model(mirrored(x)).softmax(1)) / 2
    proba = learner.predict_proba("test")
    np.testing.assert_allclose(proba, want.numpy(), rtol=1e-5, atol=1e-6)
    accuracy = float((want.argmax(1) == y).float().mean())
    assert learner.evaluate("test")["accuracy"] == pytest.approx(accuracy)
    plain = float((learner.model(x).argmax(1) == y).float().mean())
    assert learner.history.rows[-1]["val_accuracy"] == learner.evaluate("val")["accuracy"]
    assert 0 < plain <= 1  # the plain net exists beside the averaged one


def test_run_saves_tta_and_every_reader_predicts_the_same(tmp_path, one_torch_thread):
    assert main(["run", "digits", "--epochs", "2", "--augment", "flip", "--tta", "flip",
                 "--quiet", "--out", str(tmp_path)]) == 0
    run = next(tmp_path.iterdir())
    spec = json.loads((run / "model.json").read_text())
    assert spec["tta"] == "flip"
    assert json.loads((run / "config.json").read_text())["tta"] == "flip"
    model, _ = load_model(run)
    assert isinstance(model, FlipAverage)
    record = read_run(run)
    _, data = load_data(record)
    outputs = model_outputs(model, spec, data.x_test, data.y_test)
    metrics = json.loads((run / "metrics.json").read_text())
    assert float(np.mean(outputs.predicted == outputs.true)) == pytest.approx(
        metrics["test"]["accuracy"])
    plain = model_outputs(model.net, spec, data.x_test, data.y_test)
    assert not np.allclose(plain.proba, outputs.proba)  # the mirror pass changed the probabilities

    from deepstart.export import export_run

    result = export_run(run)  # the ONNX graph holds both passes and their mean
    assert result.max_abs_diff < 1e-4
    assert result.recomputed == pytest.approx(result.recorded)

    from deepstart.summary import summary

    names = [r.name for r in summary(model, tuple(spec["input_shape"]))]
    assert names == [r.name for r in summary(model.net, tuple(spec["input_shape"]))]
    assert len(names) == len(set(names))  # each layer once, not once per pass


@pytest.mark.parametrize("argv, message", [
    (["run", "iris", "--tta", "flip"], "--tta flip mirrors images"),
    (["run", "digits", "--tta", "spin"], "unknown test-time augmentation 'spin'"),
])
def test_bad_tta_is_one_line_and_writes_nothing(argv, message, tmp_path, capsys):
    assert main(argv + ["--epochs", "1", "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()
