"""Crashes while a run saves its state: a real process killed at each step of a checkpoint's save,
a real SIGINT after the last epoch and while a checkpoint is written, damaged or foreign checkpoints,
and the modes of the files a run writes."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from deepstart.checkpoint import read_meta
from deepstart.cli import main

EPOCHS = 4
RUN = ["run", "digits", "--epochs", str(EPOCHS)]

# A child process that trains digits for EPOCHS epochs with a checkpoint after every epoch (each
# replacing the last) and kills itself with SIGKILL, or interrupts itself with SIGINT, at one step.
CHILD = r"""
import os, signal, sys
import torch
torch.set_num_threads(1)
import safetensors.torch
import deepstart.checkpoint, deepstart.learner, deepstart.run
from deepstart.cli import main

mode, at, args = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
deepstart.run.CHECKPOINT_SECONDS = 0
saves = 0
real_save_file, real_replace = safetensors.torch.save_file, os.replace
real_save_state, real_evaluate = deepstart.checkpoint.save_state, deepstart.learner.Learner.evaluate

def kill():
    os.kill(os.getpid(), signal.SIGKILL)

def save_file(tensors, filename, metadata=None):  # the tensors' write into the temp file
    global saves
    saves += 1
    if saves == at and mode == "before-write":
        kill()
    real_save_file(tensors, filename, metadata=metadata)
    if saves == at and mode == "half-written":
        os.truncate(filename, os.path.getsize(filename) // 2)
        kill()
    if saves == at and mode == "written":
        kill()

def replace(src, dst):  # the temp file's rename onto checkpoint.safetensors
    real_replace(src, dst)
    if saves == at and mode == "renamed" and str(dst).endswith("checkpoint.safetensors"):
        kill()

def save_state(*a, **k):  # Ctrl-C while the checkpoint callback writes
    global saves
    saves += 1
    if saves == at and mode == "sigint-in-save":
        os.kill(os.getpid(), signal.SIGINT)
    return real_save_state(*a, **k)

def evaluate(*a, **k):  # Ctrl-C while the trained model is scored
    if mode == "sigint-after-fit":
        os.kill(os.getpid(), signal.SIGINT)
    return real_evaluate(*a, **k)

if mode == "sigint-in-save":
    deepstart.checkpoint.save_state = save_state
else:
    safetensors.torch.save_file, os.replace = save_file, replace
deepstart.learner.Learner.evaluate = evaluate
sys.exit(main(args))
"""


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch, one_thread):
    monkeypatch.setenv("DEEPSTART_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "home"


def child(mode: str, at: int, out: str, *extra: str) -> tuple[subprocess.CompletedProcess, Path]:
    result = subprocess.run([sys.executable, "-c", CHILD, mode, str(at), *RUN, "--out", out, *extra],
                            capture_output=True, text=True, timeout=300,
                            env=os.environ | {"OMP_NUM_THREADS": "1"})
    return result, next(Path(out).iterdir())


@pytest.fixture(scope="module")
def one_thread():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the children: the same thread count, the same sums
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def straight(tmp_path_factory, one_thread) -> Path:
    """The uninterrupted run, in this process, once for the module."""
    out = tmp_path_factory.mktemp("straight")
    assert main([*RUN, "--quiet", "--out", str(out)]) == 0
    return next(out.iterdir())


def outcome(folder: Path) -> tuple:
    """What a run produced: its test and train scores, history (without timings) and weights."""
    from safetensors.torch import load_file

    metrics = json.loads((folder / "metrics.json").read_text())
    rows = [{k: v for k, v in row.items() if k != "seconds"}
            for row in csv.DictReader((folder / "history.csv").open())]
    weights = {k: v.tolist() for k, v in load_file(folder / "model.safetensors").items()}
    return metrics["status"], metrics["test"], metrics["train"], metrics["epochs"], rows, weights


def parts(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


@pytest.mark.parametrize("step, saved", [("before-write", 2), ("half-written", 2), ("written", 2),
                                         ("renamed", 3)])
def test_a_kill_at_each_step_of_a_save_resumes_to_the_uninterrupted_result(step, saved, straight):
    # killed while the third checkpoint (after epoch 3) replaces the second
    result, cut = child(step, 3, "cut", "--quiet")
    assert result.returncode == -9, result.stderr[-2000:]
    assert read_meta(cut / "checkpoint")["epoch"] == saved  # the old checkpoint, or the new one: whole
    assert len(parts(cut)) == (0 if step == "renamed" else 1)  # the kill really was mid-save
    assert not (cut / "metrics.json").exists()

    assert main(["run", "--resume", str(cut), "--quiet"]) == 0
    assert outcome(cut) == outcome(straight)
    assert parts(cut) == [] and not (cut / "checkpoint.safetensors").exists()  # the next write swept it


def test_a_kill_during_the_first_checkpoint_says_so(tmp_path, capsys):
    result, cut = child("half-written", 1, "cut", "--quiet")
    assert result.returncode == -9
    assert not (cut / "checkpoint.safetensors").exists() and len(parts(cut)) == 1
    assert main(["run", "--resume", str(cut)]) == 2
    err = capsys.readouterr().err
    assert "stopped while its first checkpoint was being written; start the run again" in err
    assert "before its first epoch" not in err and err.count("\n") == 1


def test_ctrl_c_after_the_last_epoch_keeps_the_trained_state_and_says_how_to_resume(straight):
    result, cut = child("sigint-after-fit", 0, "cut", "--quiet")
    assert result.returncode == 130, result.stderr[-2000:]
    assert f"resume with: deepstart run --resume {cut}" in result.stdout
    assert f"saved the state after epoch {EPOCHS}" in result.stdout
    assert "Traceback" not in result.stderr and not (cut / "metrics.json").exists()
    assert read_meta(cut / "checkpoint")["epoch"] == EPOCHS

    assert main(["run", "--resume", str(cut), "--quiet"]) == 0  # scores and writes, no training
    assert outcome(cut) == outcome(straight)


def test_ctrl_c_while_an_epoch_is_saved_keeps_the_epoch_last_printed(straight):
    # SIGINT while the checkpoint after epoch 2 is written, its line already printed
    result, cut = child("sigint-in-save", 2, "cut")
    assert result.returncode == 130, result.stderr[-2000:]
    printed = [int(n) for n in re.findall(r"^epoch +(\d+)", result.stdout, re.M)]
    said = re.search(r"saved the state after epoch (\d+)", result.stdout)
    assert printed[-1] == 2 and said and int(said.group(1)) == 2
    assert read_meta(cut / "checkpoint")["epoch"] == 2 == len(read_meta(cut / "checkpoint")["history"])
    assert main(["run", "--resume", str(cut), "--quiet"]) == 0
    assert outcome(cut) == outcome(straight)


# --- damaged and foreign checkpoints ------------------------------------------------------------------

@pytest.fixture(scope="module")
def interrupted(tmp_path_factory, one_thread) -> Path:
    """A run interrupted after epoch 2 of 4 (in this process, as test_cli does it), once."""
    import deepstart.learner as learner_module

    real_end = learner_module.Learner._end_epoch

    def end_epoch(self, *args):
        real_end(self, *args)
        if self.epoch == 2:
            raise KeyboardInterrupt
    out = tmp_path_factory.mktemp("cut")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(learner_module.Learner, "_end_epoch", end_epoch)
        assert main([*RUN, "--quiet", "--out", str(out)]) == 130
    return next(out.iterdir())


@pytest.fixture
def unfinished(interrupted, tmp_path) -> Path:
    """A copy of that run for one test to damage."""
    return shutil.copytree(interrupted, tmp_path / interrupted.name)


def rewrite_meta(file: Path, change) -> None:
    """The same tensors with the JSON part changed by `change(meta)`."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(file, "pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        meta = json.loads(f.metadata()["deepstart"])
    change(meta)
    save_file(tensors, file, metadata={"deepstart": json.dumps(meta)})


def flip_last_byte(file: Path) -> None:
    data = bytearray(file.read_bytes())
    data[-1] ^= 0xFF  # inside the last tensor's bytes
    file.write_bytes(bytes(data))


DAMAGES = {
    "empty": (lambda f: f.write_bytes(b""), "is damaged (its header claims"),
    "half": (lambda f: f.write_bytes(f.read_bytes()[: f.stat().st_size // 2]), "is damaged"),
    "junk": (lambda f: f.write_bytes(b"\x13\0\0\0\0\0\0\0not json at all, just junk"), "is damaged"),
    "flipped byte": (flip_last_byte, "its tensors do not match the SHA-256"),
    "epoch and history disagree": (lambda f: rewrite_meta(f, lambda m: m.update(epoch=3)),
                                   "its history has 2 rows for 3 epochs"),
    "wrong format": (lambda f: rewrite_meta(f, lambda m: m.update(format="x")),
                     "is not a deepstart checkpoint (format 'x'"),
    "history not rows": (lambda f: rewrite_meta(f, lambda m: m.update(history="abc")),
                         "its history is not a list of rows"),
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_checkpoint_is_one_line_naming_it_and_nothing_changes(damage, unfinished, capsys):
    apply, message = DAMAGES[damage]
    apply(unfinished / "checkpoint.safetensors")
    before = {p.name: p.read_bytes() for p in unfinished.iterdir()}
    capsys.readouterr()
    assert main(["run", "--resume", str(unfinished), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"deepstart: error: {unfinished / 'checkpoint.safetensors'} ")
    assert message in err and err.count("\n") == 1
    assert {p.name: p.read_bytes() for p in unfinished.iterdir()} == before


def test_another_runs_checkpoint_is_named_not_loaded(unfinished, tmp_path, capsys):
    # the same problem and family, a wider hidden layer: same tensor names, other shapes
    assert main([*RUN, "--quiet", "--hidden", "17", "--out", "other"]) == 0
    other = next((tmp_path / "other").iterdir())
    foreign = tmp_path / "foreign"
    shutil.copytree(other, foreign)
    (foreign / "metrics.json").unlink()
    shutil.copy(unfinished / "checkpoint.safetensors", foreign / "checkpoint.safetensors")
    capsys.readouterr()
    assert main(["run", "--resume", str(foreign), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{foreign / 'checkpoint.safetensors'} does not fit this model and optimizer" in err
    assert err.count("\n") == 1


def test_an_older_two_file_checkpoint_is_refused_with_the_reason(unfinished, capsys):
    (unfinished / "checkpoint.safetensors").unlink()
    (unfinished / "checkpoint.json").write_text(json.dumps({"format": "deepstart-checkpoint-1",
                                                            "epoch": 2, "history": []}))
    capsys.readouterr()
    assert main(["run", "--resume", str(unfinished), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "checkpoint.json is a checkpoint in the two-file format of an older deepstart" in err


# --- modes -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640)])
def test_run_folder_files_follow_the_umask(umask, mode, tmp_path):
    old = os.umask(umask)
    try:
        assert main(["run", "iris", "--epochs", "2", "--quiet", "--out", "out"]) == 0
        folder = next((tmp_path / "out").iterdir())
        assert main(["report", str(folder)]) == 0
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in folder.iterdir()}
    assert "report.html" in modes and "model.safetensors" in modes
    assert modes == dict.fromkeys(modes, mode)


def test_a_write_sweeps_only_the_temp_files_of_writers_that_are_gone(tmp_path):
    from deepstart.files import temp_name, write_text

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead_file = tmp_path / f".history.csv.{gone}-0123abcd.part"
        dead_dir = tmp_path / f".arrays-v1.{gone}-89abcdef.part"
        live = tmp_path / f".model.json.{alive.pid}-0123abcd.part"
        ours = temp_name(tmp_path / "x.json")
        others = [tmp_path / ".notes.part", tmp_path / ".site.abc12345.part"]  # not names deepstart makes
        for path in (dead_file, live, ours, *others):
            path.write_text("partial")
        dead_dir.mkdir()
        (dead_dir / "a.npy").write_bytes(b"partial")
        write_text(tmp_path / "config.json", "{}")
        left = sorted(p.name for p in tmp_path.iterdir())
        assert left == sorted([live.name, ours.name, *(p.name for p in others), "config.json"])
    finally:
        alive.kill()
        alive.wait()
