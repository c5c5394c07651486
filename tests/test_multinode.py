"""DistributedDataParallel across machines: two "nodes" as two `deepstart run --nnodes 2` commands on
127.0.0.1 (gloo, torchrun's static rendezvous, as a user types them) train to the same weights, bit
for bit, as one `--nproc 2` run with the same seed; only node 0 writes a run folder, and the
recorded command (config.json, the report's reproduce command) keeps the process flags."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from deepstart.cli import main

ONE_THREAD = os.environ | {"OMP_NUM_THREADS": "1"}
RUN = ["run", "digits", "--epochs", "2", "--seed", "7", "--device", "cpu", "--quiet"]


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPSTART_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _deepstart(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "deepstart", *args], cwd=cwd, text=True,
                            env=ONE_THREAD, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err[-3000:]
    return out


def test_two_nodes_train_what_nproc_2_trains_and_only_node_0_writes(tmp_path):
    port = str(_free_port())
    flags = ["--nnodes", "2", "--master-addr", "127.0.0.1", "--master-port", port]
    nodes = [_deepstart(*RUN, "--out", f"node{r}", *flags, "--node-rank", str(r), cwd=tmp_path)
             for r in (0, 1)]
    said = [_finish(p) for p in nodes]
    _finish(_deepstart(*RUN, "--out", "single", "--nproc", "2", cwd=tmp_path))

    assert not (tmp_path / "node1").exists()  # node 1 trained, node 0 wrote
    (multi,) = (tmp_path / "node0").iterdir()
    (one,) = (tmp_path / "single").iterdir()
    assert said[0].count("test accuracy") == 1 and "test accuracy" not in said[1]
    assert said[1].splitlines()[-1] == ("node 1 of 2: trained; node 0 (127.0.0.1) wrote the run "
                                        "folder and its scores")
    assert said[0].startswith(f"node 0 of 2: 1 process(es) here; meeting the other 1 node(s) at "
                              f"127.0.0.1:{port}")

    # the same processes (world size 2, the same ranks) with the same seed: the same training
    a, b = (json.loads((f / "metrics.json").read_text()) for f in (multi, one))
    assert a["processes"] == b["processes"] == 2
    assert a["test"] == b["test"] and a["val"] == b["val"]  # exact, every metric
    wa, wb = (load_file(f / "model.safetensors") for f in (multi, one))
    assert wa.keys() == wb.keys()
    assert all(wa[k].equal(wb[k]) for k in wa)  # bit for bit

    # the recorded commands repeat the runs: with their process flags
    config = json.loads((multi / "config.json").read_text())
    assert config["nproc"] == 2
    assert config["command"] == ("deepstart run digits --epochs 2 --seed 7 --device cpu --quiet "
                                 f"--out node0 --nnodes 2 --node-rank 0 --master-addr 127.0.0.1 "
                                 f"--master-port {port}")
    assert json.loads((one / "config.json").read_text())["command"] == (
        "deepstart run digits --epochs 2 --seed 7 --device cpu --quiet --out single --nproc 2")
    from deepstart.report import write_report

    page = write_report(multi).read_text()
    assert f"--master-addr 127.0.0.1 --master-port {port}" in page
    # diagnose's next steps repeat the machines' layout, not --nproc 2 (the world size) on one
    from deepstart.diagnose import diagnose_folder

    commands = [s.command for s in diagnose_folder(multi).steps if s.command and " run " in s.command]
    assert commands and all(f"--nnodes 2 --node-rank 0 --master-addr 127.0.0.1 --master-port {port}"
                            in c and "--nproc" not in c for c in commands), commands


@pytest.mark.parametrize("flags, says", [
    (["--nnodes", "2"], "--nnodes 2 needs --node-rank R (this machine's index, 0 to 1) and "
                        "--master-addr HOST"),
    (["--nnodes", "2", "--node-rank", "2", "--master-addr", "h"],
     "--node-rank 2 is out of range for --nnodes 2; use 0 to 1"),
    (["--master-addr", "h", "--node-rank", "1"],
     "--node-rank, --master-addr are for a run on several machines: add --nnodes N (N > 1)"),
    (["--nnodes", "2", "--node-rank", "0", "--master-addr", "h", "--master-port", "70000"],
     "argument --master-port: expected a port, 1 to 65535; received '70000'"),
])
def test_a_launch_that_could_not_meet_is_one_line_exit_2(tmp_path, capsys, flags, says):
    try:
        code = main(["run", "iris", *flags])
    except SystemExit as e:  # argparse's own refusals
        code = e.code
    assert code == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1, err
    assert not (tmp_path / "runs").exists()


def test_machines_given_different_settings_stop_in_one_line_before_training(tmp_path):
    port = str(_free_port())
    flags = ["--nnodes", "2", "--master-addr", "127.0.0.1", "--master-port", port]
    nodes = [_deepstart("run", "iris", "--epochs", str(2 + r), "--quiet", *flags, "--node-rank",
                        str(r), cwd=tmp_path) for r in (0, 1)]
    for proc in nodes:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 2, err[-3000:]
        assert err == ("deepstart: error: the processes of this run were given different settings "
                       "(rank 1: epochs differ from rank 0's); run the same command on every "
                       "machine (only --node-rank, --out and --data-dir may differ).\n")
    assert not (tmp_path / "runs").exists()
