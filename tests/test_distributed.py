"""DistributedDataParallel on 2 CPU processes with gloo, launched by torchrun as a user would."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

WORKER = Path(__file__).with_name("ddp_worker.py")


def torchrun(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc-per-node=2", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300)


def test_two_gloo_processes_stay_identical_reduce_exactly_and_resume(tmp_path):
    result = torchrun(str(WORKER), str(tmp_path / "out.json"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads((tmp_path / "out.json").read_text())
    assert seen["world"] == 2
    # each rank takes half of every epoch's permutation: ceil(rows / 2 / batch) steps
    assert seen["steps"] == math.ceil(seen["train_rows"] // 2 / 32)
    assert seen["identical"] is True
    assert seen["reduced"]["accuracy"] == seen["single_accuracy"]
    assert seen["reduced"]["macro_f1"] == pytest.approx(seen["single_macro_f1"], abs=1e-12)
    assert seen["reduced"]["loss"] == pytest.approx(seen["single_loss"], rel=1e-5)
    assert seen["same_after_resume"] is True


def test_run_with_nproc_writes_one_run_folder(tmp_path):
    cmd = [sys.executable, "-m", "deepstart", "run", "digits", "--nproc", "2", "--epochs", "2",
           "--quiet", "--out", "out"]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=300,
                            env=os.environ | {"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    folders = list((tmp_path / "out").iterdir())
    assert len(folders) == 1
    metrics = json.loads((folders[0] / "metrics.json").read_text())
    config = json.loads((folders[0] / "config.json").read_text())
    assert metrics["processes"] == 2 and config["nproc"] == 2 and metrics["epochs"] == 2
    # the recorded command repeats the run (torchrun's processes were started without --nproc)
    assert config["command"] == "deepstart run digits --epochs 2 --quiet --out out --nproc 2"
    assert result.stdout.count("test accuracy") == 1  # rank 0 reports, rank 1 stays quiet

    # resuming with another process count is refused with the count to use
    (folders[0] / "metrics.json").unlink()
    (folders[0] / "checkpoint.json").write_text("{}")
    from deepstart.cli import main  # in this process: the refusal comes before any training

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["run", "--resume", str(folders[0])]) == 2
    assert "trained on 2 process(es); resume it with --nproc 2" in err.getvalue()


def test_nproc_beyond_the_cores_is_refused(tmp_path, monkeypatch, capsys):
    from deepstart.cli import main  # in this process: refused before torchrun would start

    monkeypatch.chdir(tmp_path)
    too_many = (os.cpu_count() or 1) + 1
    assert main(["run", "--nproc", str(too_many), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert f"--nproc {too_many} asks for more processes than the" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()


def test_the_recorded_command_says_what_the_user_typed(monkeypatch):
    """A launch hands --log to its processes as --log-to (torchrun's parser would take --log for
    its own --log-dir); the recorded command is the user's: --log, and the process flags."""
    from deepstart.distributed import with_process_flags

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setenv("GROUP_WORLD_SIZE", "1")
    recorded = with_process_flags("deepstart run iris --log-to tensorboard --log-to=mlflow --epochs 3")
    assert recorded == "deepstart run iris --log tensorboard --log=mlflow --epochs 3 --nproc 2"
