"""deepstart tune on a real PostgreSQL server (Debian's binaries, started here for the session, no
mock): two commands, as on two machines, share one study and finish exactly --trials between them,
none lost and none beyond; a bad password, server or database is one line with exit code 2."""

from __future__ import annotations

import glob
import os
import json
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pytest
from sqlalchemy.engine import make_url

from conftest import require_path
from deepstart.cli import main
from deepstart.tune import advisory_key, storage_url

# One torch thread in the commands: their models are tiny (see tests/test_tune.py).
ONE_THREAD = os.environ | {"OMP_NUM_THREADS": "1"}


def _postgres_bin() -> Path:
    """The newest PostgreSQL's bin folder; skipped without one (failed in CI, where .ci/run
    installs Debian's postgresql)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    initdb = found[-1] if found else "/usr/lib/postgresql/*/bin/initdb"
    return require_path(initdb, "apt-get install postgresql (Debian's server binaries)").parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL server of its own on 127.0.0.1 (a free port, the unix socket in its temporary
    folder), with password authentication over TCP and a database `studies`; yields its URL
    (postgresql://, no driver: deepstart's psycopg 3 default) and stops the server at the end.
    PostgreSQL refuses to run as root: as root it runs as nobody."""
    bin_dir = _postgres_bin()
    root = Path(tempfile.mkdtemp(prefix="deepstart-pg-"))  # not under pytest's root-only tmp
    password = secrets.token_hex(8)
    (root / "pw").write_text(password + "\n")
    as_user = []
    if os.geteuid() == 0:
        shutil.chown(root, "nobody")
        shutil.chown(root / "pw", "nobody")
        as_user = ["runuser", "-u", "nobody", "--"]

    def pg(tool: str, *args: str) -> None:
        done = subprocess.run([*as_user, str(bin_dir / tool), *args], capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, f"{tool}: {done.stdout}{done.stderr}"

    data, port = root / "data", _free_port()
    pg("initdb", "-D", str(data), "-U", "deepstart", "--pwfile", str(root / "pw"),
       "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync", "-E", "UTF8")
    pg("pg_ctl", "-D", str(data), "-l", str(root / "server.log"), "-w", "start", "-o",
       f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off")
    try:
        pg("createdb", "-h", str(root), "-p", str(port), "-U", "deepstart", "studies")
        yield f"postgresql://deepstart:{password}@127.0.0.1:{port}/studies"
    finally:
        pg("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")  # its data is thrown away
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPSTART_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)


def test_postgresql_without_a_driver_means_psycopg_3():
    assert storage_url("postgresql://me:pw@db/studies") == "postgresql+psycopg://me:pw@db/studies"
    assert storage_url("postgres://me@db:5433/s") == "postgresql+psycopg://me@db:5433/s"
    assert storage_url("postgresql+psycopg2://me@db/s") == "postgresql+psycopg2://me@db/s"
    assert storage_url("sqlite:///runs/tune.db") == "sqlite:///runs/tune.db"


def test_two_commands_on_one_study_run_exactly_the_trials_asked(postgres, tmp_path):
    trials, name = 6, "iris-mlp"
    args = ["tune", "iris", "--trials", str(trials), "--epochs", "5", "--storage", postgres]
    # Hold the study's budget lock until both commands are at their first trial, so that they
    # compete from the same moment (neither may start a trial meanwhile).
    held = optuna.storages.RDBStorage(storage_url(postgres))  # creates the tables
    from deepstart.tune import _pg_connection, _sql

    lock = _pg_connection(postgres)
    lock.execute(_sql("SELECT pg_advisory_lock(:key)"), {"key": advisory_key(f"study {name}")})
    procs = [subprocess.Popen([sys.executable, "-m", "deepstart", *args, "--out", out], text=True,
                              env=ONE_THREAD, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for out in ("machine-a", "machine-b")]
    try:
        firsts = [p.stdout.readline() for p in procs]
        for line in firsts:
            assert line.startswith(f"study {name} in postgresql://deepstart:***@127.0.0.1:"), line
        time.sleep(1.0)  # both load the study and wait on the lock
        study = optuna.load_study(study_name=name, storage=held)
        assert study.trials == []  # no trial starts without the lock
    finally:
        lock.close()  # frees the lock
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-3000:]
        outs.append(out)

    finished = optuna.load_study(study_name=name, storage=held).trials
    assert [t.number for t in finished] == list(range(trials))  # none beyond --trials
    assert {t.state.name for t in finished} <= {"COMPLETE", "PRUNED"}  # none lost
    pids = {t.user_attrs["worker"]["pid"] for t in finished}
    assert pids == {p.pid for p in procs}  # both commands ran trials
    assert len({t.params["lr"] for t in finished}) == trials  # and sampled points of their own
    for out in outs:
        assert sum(line.startswith("trial ") for line in out.splitlines()) < trials
        assert f"({trials} finished trials in {name}, postgresql://deepstart:***@" in out
        assert make_url(postgres).password not in out
    # each command retrained the same best in its own --out
    scores = [next(line for line in out.splitlines() if line.startswith("test accuracy"))
              for out in outs]
    assert scores[0].split(" (")[0] == scores[1].split(" (")[0]
    for out in ("machine-a", "machine-b"):
        (folder,) = [p for p in (tmp_path / out).iterdir() if p.is_dir()]
        # the retrained run records the tune command, --storage included, without its password
        recorded = json.loads((folder / "config.json").read_text())["command"]
        assert "--storage postgresql://deepstart:***@127.0.0.1:" in recorded
        assert make_url(postgres).password not in (folder / "config.json").read_text()
        rows = (folder / "tuning" / "trials.csv").read_text().splitlines()
        assert len(rows) == 1 + trials


@pytest.mark.parametrize("change, says", [
    ({"password": "not-the-password"}, 'password authentication failed for user "deepstart"'),
    ({"database": "nosuch"}, 'database "nosuch" does not exist'),
    ({"port": "free"}, "Connection refused"),  # no server there
])
def test_a_bad_password_database_or_server_is_one_line_exit_2(postgres, capsys, change, says):
    url = make_url(postgres)
    url = url.set(**{k: _free_port() if v == "free" else v for k, v in change.items()})
    assert main(["tune", "iris", "--trials", "2", "--epochs", "2", "--out", "out",
                 "--storage", url.render_as_string(hide_password=False)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert says in err and "cannot open the study storage postgresql://deepstart:***@" in err
    assert url.password not in err and "Traceback" not in err


def test_a_command_killed_mid_trial_loses_nothing_the_other_runs_it_again(postgres, tmp_path):
    trials, name = 3, "killed"
    held = optuna.storages.RDBStorage(storage_url(postgres))
    args = ["tune", "iris", "--trials", str(trials), "--epochs", "30", "--study", name,
            "--storage", postgres]
    survivor, victim = (subprocess.Popen([sys.executable, "-m", "deepstart", *args, "--out", out],
                                         text=True, env=ONE_THREAD, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE) for out in ("a", "b"))
    try:
        deadline, running = time.time() + 60, []
        while not running and time.time() < deadline and victim.poll() is None:
            time.sleep(0.05)
            try:
                study = optuna.load_study(study_name=name, storage=held)
            except KeyError:  # not created yet
                continue
            running = [t for t in study.get_trials(states=(optuna.trial.TrialState.RUNNING,))
                       if t.user_attrs.get("worker", {}).get("pid") == victim.pid
                       and t.intermediate_values]  # inside its epochs
        assert running, "no trial of the second command was seen running"
    finally:
        victim.kill()
        victim.wait()
    out, err = survivor.communicate(timeout=120)
    assert survivor.returncode == 0, err[-3000:]
    lost = running[0].number
    assert f"failed trial(s) {lost} left running by a stopped worker" in out
    states = [t.state.name for t in optuna.load_study(study_name=name, storage=held).trials]
    assert states.count("FAIL") == 1 and states[lost] == "FAIL"
    assert sum(s in ("COMPLETE", "PRUNED") for s in states) == trials  # run again, not lost
    assert f"({trials} finished trials in {name}," in out
