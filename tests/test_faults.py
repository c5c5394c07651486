"""Damaged run folders: every file a command reads, damaged every way it can be, gives one line that
names the file, exit code 2, no traceback and nothing new or changed on disk.

One finished run of each kind (table: iris, image: digits, series: airline-passengers) and one
interrupted run of each (a checkpoint, no metrics.json) are trained once. Then, for every file in the
folder and every damage that applies to it (empty, half, flipped bytes, random bytes, not UTF-8,
invalid JSON or CSV, JSON of the wrong type, a key of the wrong type, a missing or an extra key, a
tensor of the wrong shape, deleted), every subcommand that reads that file runs in this process
(`deepstart.cli.main`, as the command line calls it) on a fresh copy of the folder. A few cases run
as real subprocesses, and `serve` once as a real start, to prove the exit code end to end.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import shutil
import subprocess
import sys
import traceback
from pathlib import Path

import numpy as np
import pytest

from deepstart.cli import main

KINDS = {"table": ["iris", "--epochs", "2"], "image": ["digits", "--epochs", "2"],
         "series": ["airline-passengers", "--epochs", "2"]}


# --- the damages: name -> function(path) that damages the file in place ------------------------

def _rewrite_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _flip(path: Path) -> None:
    """XOR 16 bytes in the middle of the file: the damage a bad disk or a bad copy does."""
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    for i in range(mid, min(mid + 16, len(data))):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def _junk(path: Path) -> None:
    size = max(path.stat().st_size, 64)
    path.write_bytes(np.random.default_rng(0).integers(0, 256, size, dtype=np.uint8).tobytes())


def _wrong_shape(path: Path) -> None:
    """The largest tensor of a safetensors file with its rows twice over (its header metadata kept)."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(path), "pt") as f:
        metadata = f.metadata()
    tensors = load_file(str(path))
    name = max((k for k, v in tensors.items() if v.dim() >= 1 and v.is_floating_point()),
               key=lambda k: tensors[k].numel())
    tensors[name] = torch.cat([tensors[name], tensors[name]])
    save_file(tensors, str(path), metadata=metadata)


def _rewrite_checkpoint_meta(path: Path, change) -> None:
    """A checkpoint whose JSON part (in the safetensors header) is changed, its tensors kept."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from deepstart.checkpoint import _KEY

    with safe_open(str(path), "pt") as f:
        metadata = f.metadata()
    meta = json.loads(metadata[_KEY])
    change(meta)
    save_file(load_file(str(path)), str(path), metadata={**metadata, _KEY: json.dumps(meta)})


def _meta_key(name: str, value=None, delete: bool = False):
    def change(meta: dict) -> None:
        if delete:
            del meta[name]
        else:
            meta[name] = value
    return lambda p: _rewrite_checkpoint_meta(p, change)


COMMON = {
    "empty": lambda p: p.write_bytes(b""),
    "half": lambda p: p.write_bytes(p.read_bytes()[:p.stat().st_size // 2]),
    "flipped": _flip,
    "junk": _junk,
    "deleted": lambda p: p.unlink(),
}
TEXT = {
    "not-utf8": lambda p: p.write_bytes(p.read_text().encode("utf-16")),
}
JSON = {
    "invalid-json": lambda p: p.write_text(p.read_text().rstrip().rstrip("}") + ",\n"),
    "json-list": lambda p: p.write_text(json.dumps([json.loads(p.read_text())])),
    "json-string": lambda p: p.write_text('"a run"'),
}
CSV = {
    "text-in-number": lambda p: p.write_text(p.read_text().replace("\n1,", "\n1,high,", 1)),
    "no-header": lambda p: p.write_text("\n".join(p.read_text().splitlines()[1:]) + "\n"),
    "no-rows": lambda p: p.write_text(p.read_text().splitlines()[0] + "\n"),
}
SAFETENSORS = {"wrong-shape": _wrong_shape}


def _key(name: str, value=None, delete: bool = False, inner: str | None = None):
    """A damage that sets (or deletes) a key, optionally inside the object under `inner`."""
    def change(data: dict) -> None:
        target = data[inner] if inner else data
        if delete:
            del target[name]
        else:
            target[name] = value
    return lambda p: _rewrite_json(p, change)


# Keys whose type or presence the commands rely on, per file.
KEYS = {
    "config.json": {
        "missing-problem": _key("problem", delete=True),
        "problem-number": _key("problem", 7),
        "seed-text": _key("seed", "zero"),
        "val-split-list": _key("val_split", [0.1]),
        "extra-key": _key("learning_rate_typo", 0.1),
        "model-options-list": _key("model_options", [1, 2]),
    },
    "metrics.json": {
        "missing-test": _key("test", delete=True),
        "missing-metric": _key("metric", delete=True),
        "test-text": _key("test", "high"),
        "score-text": lambda p: _rewrite_json(p, lambda d: d["test"].update({d["metric"]: "high"})),
        "metric-unknown": _key("metric", "f1"),
        "references-dict": _key("references", {"a": 1}),
    },
    "model.json": {
        "missing-family": _key("family", delete=True),
        "missing-config": _key("config", delete=True),
        "missing-input-shape": _key("input_shape", delete=True),
        "family-unknown": _key("family", "mlpp"),
        "config-extra-key": _key("widthh", 3, inner="config"),
        "config-missing-key": lambda p: _rewrite_json(
            p, lambda d: d["config"].pop(next(iter(d["config"])))),
        "input-shape-wrong": _key("input_shape", [3]),
        "input-shape-text": _key("input_shape", "8x8"),
        "out-features-wrong": _key("out_features", 2, inner="config"),
        "task-unknown": _key("task", "ranking"),
        "scaling-text": lambda p: _rewrite_json(p, lambda d: d["scaling"]["x"].update(offset="high")),
        "scaling-short": lambda p: _rewrite_json(p, lambda d: d["scaling"]["x"].update(offset=[0, 1])),
    },
    # the checkpoint's JSON part lives in its safetensors header, beside the tensors' SHA-256
    "checkpoint.safetensors": {
        "missing-epoch": _meta_key("epoch", delete=True),
        "epoch-text": _meta_key("epoch", "two"),
        "epoch-ahead": _meta_key("epoch", 5),  # history and tensors of epoch 1
        "history-dict": _meta_key("history", {"a": 1}),
        "format-other": _meta_key("format", "deepstart-checkpoint-0"),
        "opt-values-list": _meta_key("opt_values", [1]),
        "sha256-other": _meta_key("sha256", "0" * 64),  # tensors of another save
    },
}


def damages_for(name: str) -> dict:
    suffix = Path(name).suffix
    found = dict(COMMON)
    if suffix in (".json", ".csv"):
        found |= TEXT
    found |= {".json": JSON, ".csv": CSV, ".safetensors": SAFETENSORS}.get(suffix, {})
    return found | KEYS.get(name, {})


# --- which subcommand reads which file ----------------------------------------------------------

# read_run (report, export, serve, diagnose, portfolio, learning curve, ensemble) reads every JSON
# file of the run and history.csv; the commands that load the model also read model.safetensors
# and build the model from model.json's config.
RECORD = ("config.json", "env.json", "metrics.json", "history.csv", "model.json")
WITH_MODEL = RECORD + ("model.safetensors",)
# model.json damages that only building the model notices (the file itself is well formed)
MODEL_DAMAGES = {"family-unknown", "config-extra-key", "config-missing-key", "input-shape-wrong",
                 "out-features-wrong"}
NO_MODEL = {("model.json", d) for d in MODEL_DAMAGES}
# (label, argv with RUN for the run folder, files it reads, (file, damage) pairs it does not notice
# by design)
FINISHED = [
    # a run without metrics.json is an unfinished run by design (metrics.json is written last),
    # which the report presents as such
    ("report", ["report", "RUN", "--out", "report.html"], WITH_MODEL, {("metrics.json", "deleted")}),
    ("export", ["export", "RUN"], WITH_MODEL, set()),
    ("serve", ["serve", "RUN", "--port", "0"], WITH_MODEL, set()),
    ("show", ["show", "model", "RUN"], ("model.json", "model.safetensors"), set()),
    ("ensemble", ["ensemble", "RUN", "PARTNER", "--out", "ensemble.json"], WITH_MODEL, set()),
    ("diagnose", ["diagnose", "RUN"], RECORD, NO_MODEL),
    ("portfolio", ["portfolio", "build", "RUN", "--out", "site"], RECORD, NO_MODEL),
    ("learning-curve", ["diagnose", "RUN", "--learning-curve", "--sizes", "0.5,1", "--epochs", "1"],
     RECORD, NO_MODEL),
]
# An interrupted run: no metrics.json, no model yet, the training state in checkpoint.*.
INTERRUPTED = [
    ("run --resume", ["run", "--resume", "RUN", "--quiet"], ("config.json", "checkpoint.*"), set()),
    # the report reads only the history so far from the checkpoint's header (not its tensors, so
    # damage past the header is not its concern); env.json is written after config.json, so a run
    # may lack it, and one may stop before its first checkpoint
    ("report", ["report", "RUN", "--out", "report.html"],
     ("config.json", "env.json", "checkpoint.safetensors"),
     {("env.json", "deleted"), ("checkpoint.safetensors", "deleted")}
     | {("checkpoint.safetensors", d) for d in ("half", "flipped", "wrong-shape", "sha256-other")}),
]
# Cases known to pass unnoticed today, printed rather than failed (none since the checkpoint holds
# a SHA-256 of its tensors).
KNOWN_GAPS: set[tuple[str, str, str]] = set()


class Started(Exception):
    """serve got past loading the model: it would bind a port now."""


def reads(files: tuple[str, ...], name: str) -> bool:
    return any(Path(name).match(pattern) for pattern in files)


# --- the runs, trained once ---------------------------------------------------------------------

def train_runs(base: Path) -> tuple[dict, Path]:
    """{kind: {"done": finished run, "partner": a copy of it (ensemble's second run), "cut": a run
    interrupted after its first epoch}}, and the DEEPSTART_HOME used."""
    import deepstart.learner as learner_module

    home = base / "home"
    built = {}
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(io.StringIO()):
        mp.setenv("DEEPSTART_HOME", str(home))
        mp.chdir(base)
        real_end = learner_module.Learner._end_epoch

        def end_epoch(self, *a):
            real_end(self, *a)
            raise KeyboardInterrupt  # Ctrl-C after the first epoch: a checkpoint, no metrics

        for kind, args in KINDS.items():
            assert main(["run", *args, "--quiet", "--out", f"{kind}/done"]) == 0
            done = next((base / kind / "done").iterdir())
            shutil.copytree(done, base / kind / "partner" / done.name)  # ensemble's second member
            mp.setattr(learner_module.Learner, "_end_epoch", end_epoch)
            assert main(["run", *args, "--quiet", "--out", f"{kind}/cut"]) == 130
            mp.setattr(learner_module.Learner, "_end_epoch", real_end)
            built[kind] = {part: next((base / kind / part).iterdir())
                           for part in ("done", "partner", "cut")}
            assert (built[kind]["cut"] / "checkpoint.safetensors").is_file()
    return built, home


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return train_runs(tmp_path_factory.mktemp("trained"))


def snapshot(root: Path) -> dict[str, str]:
    found = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        found[rel] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
    return found


def run_case(argv: list[str], monkeypatch) -> tuple[int | str, str, str]:
    """`deepstart ARGV` in this process: (exit code, stdout, stderr); a traceback counts as
    stderr, serve getting past its model check as 'started'."""
    import deepstart.serve

    def bind(*_):
        raise Started
    monkeypatch.setattr(deepstart.serve, "_bind", bind)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except Started:
            code = "started"
        except SystemExit as e:
            code = e.code
        except BaseException:  # noqa: BLE001 - the point: any exception is a failed case
            err.write(traceback.format_exc())
            code = "traceback"
    return code, out.getvalue(), err.getvalue()


def check_all(built: dict, home: Path, work: Path, only: str = "") -> tuple[int, list[str], list[str]]:
    """Every (file, damage, subcommand) case on fresh copies under `work`: (cases, failures, known
    gaps that showed)."""
    cases, failures, gaps = 0, [], []
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("DEEPSTART_HOME", str(home))
        for kind, folders in built.items():
            for part, commands in (("done", FINISHED), ("cut", INTERRUPTED)):
                pristine = folders[part]
                for name in sorted(p.name for p in pristine.iterdir()):
                    for damage, apply in damages_for(name).items():
                        for label, argv, files, unnoticed in commands:
                            if not reads(files, name) or (name, damage) in unnoticed:
                                continue
                            if only not in f"{kind} {part} {name} {damage} {label}":
                                continue
                            problems, err = one_case(folders, pristine, name, apply, argv, work,
                                                     monkeypatch)
                            if problems is None:
                                continue  # the damage does not apply to this file (no such key)
                            cases += 1
                            line = f"{kind} {part} {name} {damage} {label}"
                            if problems and (name, damage, label) in KNOWN_GAPS:
                                gaps.append(line)
                            elif problems:
                                failures.append(f"{line}: {'; '.join(problems)}: {err.strip()[-400:]}")
    return cases, failures, gaps


def one_case(folders, pristine, name, apply, argv, work, monkeypatch):
    shutil.rmtree(work, ignore_errors=True)
    run = work / "runs" / pristine.name
    shutil.copytree(pristine, run)
    if "PARTNER" in argv:
        shutil.copytree(folders["partner"], work / "partner")
    try:
        apply(run / name)
    except (KeyError, StopIteration):
        return None, ""
    monkeypatch.chdir(work)
    before = snapshot(work)
    args = [str(run) if a == "RUN" else str(work / "partner") if a == "PARTNER" else a for a in argv]
    code, out, err = run_case(args, monkeypatch)
    lines = err.strip().splitlines()
    problems = []
    if code != 2:
        problems.append(f"exit {code}")
    if len(lines) != 1 or "Traceback" in err:
        problems.append(f"{len(lines)} lines on stderr")
    elif name not in lines[0]:
        problems.append("the file is not named")
    after = snapshot(work)
    if after != before:
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        problems.append(f"changed on disk: {changed[:3]}")
    return problems, err


def test_every_damaged_file_is_one_line_exit_2(runs, tmp_path, capsys):
    built, home = runs
    cases, failures, gaps = check_all(built, home, tmp_path / "work")
    with capsys.disabled():
        print(f"\n{cases} damaged-file cases (file, damage, subcommand), {len(failures)} failed; "
              f"known gaps: {', '.join(gaps) or 'none'}")
    assert not failures, "\n".join(failures)
    assert cases >= 300


# --- end to end: real processes -------------------------------------------------------------------

def deepstart(*args: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "deepstart.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=timeout)


def damaged_copy(pristine: Path, work: Path, name: str, damage: str) -> Path:
    run = work / "runs" / pristine.name
    shutil.copytree(pristine, run)
    damages_for(name)[damage](run / name)
    return run


@pytest.mark.parametrize("kind, part, name, damage, argv", [
    ("table", "done", "model.safetensors", "half", ["report", "RUN", "--out", "r.html"]),
    ("image", "done", "metrics.json", "invalid-json", ["export", "RUN"]),
    ("series", "done", "model.json", "config-extra-key", ["show", "model", "RUN"]),
    ("image", "cut", "checkpoint.safetensors", "wrong-shape", ["run", "--resume", "RUN"]),
])
def test_a_real_process_exits_2_with_one_line(runs, tmp_path, monkeypatch, kind, part, name, damage,
                                              argv):
    built, home = runs
    monkeypatch.setenv("DEEPSTART_HOME", str(home))
    run = damaged_copy(built[kind][part], tmp_path, name, damage)
    before = snapshot(tmp_path)
    result = deepstart(*[str(run) if a == "RUN" else a for a in argv], cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("deepstart: error: ") and name in lines[0], lines[0]
    assert snapshot(tmp_path) == before


def test_serve_refuses_to_start_on_a_model_that_does_not_run(runs, tmp_path, monkeypatch):
    """A model.json whose input shape the weights cannot take: today's serve would start and answer
    500 to every request; it must exit 2 before binding a port."""
    built, home = runs
    monkeypatch.setenv("DEEPSTART_HOME", str(home))
    run = damaged_copy(built["table"]["done"], tmp_path, "model.json", "input-shape-wrong")
    result = deepstart("serve", str(run), "--port", "0", cwd=tmp_path, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "serving" not in result.stdout
    line, = result.stderr.strip().splitlines()
    assert "model.json" in line and "[3]" in line, line


def test_serve_start_runs_the_preprocessing_too(runs, tmp_path):
    """The forward pass at start-up goes through the same preprocessing as a request: a recorded
    scale of zero (numbers of the right shape, so model.json reads well and the model loads) makes
    every answer infinite, and is refused at start rather than at each request."""
    from deepstart.errors import DeepstartError
    from deepstart.serve import create_app

    built, _ = runs
    run = tmp_path / "run"
    shutil.copytree(built["table"]["done"], run)
    _rewrite_json(run / "model.json", lambda d: d["scaling"]["x"].update(scale=0.0))
    with pytest.raises(DeepstartError, match="model.json: the model and its preprocessing"):
        create_app(run)


def test_undamaged_runs_pass_every_cheap_command(runs, tmp_path, monkeypatch):
    """The same harness on the intact folders: exit 0 (serve: past its model check), so the exit
    code 2 of the damaged cases comes from the damage."""
    built, home = runs
    monkeypatch.setenv("DEEPSTART_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    for kind, folders in built.items():
        for label, argv, _, _ in FINISHED:
            if label in ("report", "export", "portfolio", "learning-curve"):
                continue  # slow; tests/test_report.py, test_export.py, ... cover the intact runs
            args = [str(folders["done"]) if a == "RUN" else str(folders["partner"])
                    if a == "PARTNER" else a for a in argv]
            code, out, err = run_case(args, monkeypatch)
            assert code == ("started" if label == "serve" else 0), (kind, label, err)


FASHION = Path("/usr/share/datasets/fashion-mnist")


def test_a_cached_array_missing_is_named(tmp_path, monkeypatch):
    """The decoded Fashion-MNIST arrays with y_test.npy deleted: the next command names that file
    (it used to end in a KeyError)."""
    from conftest import require_path
    from deepstart.problems import get_problem

    require_path(FASHION, "apt-get install dataset-fashion-mnist")
    monkeypatch.setenv("DEEPSTART_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    get_problem("fashion-mnist").load(download=False)
    missing, = (tmp_path / "home").rglob("y_test.npy")
    missing.unlink()
    before = snapshot(tmp_path)
    code, out, err = run_case(["evaluate", "fashion-mnist", "--holdout", "--limit", "100",
                               "--algorithms", "baseline", "--no-download", "--quiet"], monkeypatch)
    assert code == 2, err
    line, = err.strip().splitlines()
    assert str(missing) in line and "rebuild" in line, line
    assert snapshot(tmp_path) == before
