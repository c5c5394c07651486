"""Re-measure the claim of every recipe: run it as a user would, from a new process, and record the
score and the wall time (command start to result) beside the recipe's target.

    python benchmarks/recipes.py                           # every recipe whose data is here
    python benchmarks/recipes.py --only fashion-mnist/convnet --only airline
    python benchmarks/recipes.py --device cuda --only googlenet   # on a GPU machine
    python benchmarks/recipes.py --list                    # the commands, without running them

Each measurement is added to docs/recipes.json (keyed by recipe and machine, so CPU and GPU figures
live side by side and a later run replaces only its own rows) and docs/recipes.md is written again
from all of them. Run it on a quiet machine: another busy process slows PyTorch's threads many-fold.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
TRANSFER_SECTION = "## Pretrained backbones (benchmarks/transfer.py)"


@dataclass
class Entry:
    id: str  # "problem/model", or "problem/what" for an example script
    problem: str
    target: float | None
    greater_is_better: bool
    claim: str
    command: list[str]  # as a user types it (without --quiet/--out)
    example: str | None = None  # examples/<name>.py: run its main(argv), which returns a dict
    example_argv: list[str] = field(default_factory=list)
    result_key: tuple = ()  # where the score sits in the example's result (keys and indices)


def catalog_entries() -> list[Entry]:
    from deepstart.problems import all_problems

    entries = []
    for problem in all_problems():
        for recipe in problem.recipes:
            entries.append(Entry(
                id=f"{problem.name}/{recipe.model}", problem=problem.name, target=recipe.target,
                greater_is_better=problem.greater_is_better, claim=recipe.claim,
                command=["deepstart", "run", problem.name, "--model", recipe.model]))
    return entries


def example_entries() -> list[Entry]:
    """The recipes that are not one `deepstart run`: the tutorial reproduction and cross-validation."""
    return [
        Entry(id="airline-passengers/tutorial-lstm", problem="airline-passengers", target=None,
              greater_is_better=False, example="airline_lstm", result_key=("test_rmse",),
              claim="The tutorial's LSTM (look-back 1, 4 units, batch 1, 100 epochs, scaler fitted on "
                    "the whole series as it does) on its 67/33 split: the tutorial reports 47.5; it "
                    "is printed beside persistence (48.7) and seasonal naive (42.3), which it does "
                    "not beat.",
              command=["python", "examples/airline_lstm.py"]),
        Entry(id="pima-diabetes/tutorial-mlp-10-fold", problem="pima-diabetes", target=None,
              greater_is_better=True, example="uci_mlp", result_key=("summary", "MLP 12-8-1", 0),
              example_argv=["--out", "{tmp}"],
              claim="The Keras tutorial's MLP 12-8-1 on Pima Indians diabetes with its settings (Adam "
                    "1e-3, 150 epochs, batch 10), stratified 10-fold cross-validation, scaling fitted "
                    "in each fold: 150 epochs overfit 691 rows, so it scores below logistic regression "
                    "(0.773) on the same folds.",
              command=["python", "examples/uci_mlp.py"]),
        Entry(id="pima-diabetes/mlp-10-fold", problem="pima-diabetes", target=0.77,
              greater_is_better=True, example="uci_mlp", result_key=("summary", "MLP 12-8-1", 0),
              example_argv=["--epochs", "10", "--out", "{tmp}"],
              claim="The same MLP stopped after 10 epochs instead of 150: mean accuracy >= 0.77 "
                    "under the same 10-fold cross-validation, level with logistic regression (20 "
                    "epochs gave 0.763, 50 epochs of batches of 32 0.764).",
              command=["python", "examples/uci_mlp.py", "--epochs", "10"]),
    ]


def machine(env: dict | None = None) -> str:
    if env is None:
        import torch

        from deepstart.run import environment

        env = environment() | {"torch_threads": torch.get_num_threads()}
    if env.get("gpu") and env.get("device", "cuda") != "cpu":
        return f"GPU {env['gpu']}"
    return f"CPU {env['cpu']}, {env['torch_threads']} threads"


def run_catalog(entry: Entry, device: str | None) -> dict:
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "deepstart", *entry.command[1:], "--quiet", "--out", out]
        if device:
            command += ["--device", device]
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()[-500:]}")
        folder = next(Path(out).iterdir())
        metrics = json.loads((folder / "metrics.json").read_text())
        env = json.loads((folder / "env.json").read_text())
        config = json.loads((folder / "config.json").read_text())
    env["device"] = "cpu" if device == "cpu" or not env.get("gpu") else "cuda"
    return {"score": metrics["test"][metrics["metric"]], "metric": metrics["metric"],
            "wall_seconds": wall, "train_seconds": metrics["train_seconds"],
            "epochs": metrics["epochs"], "machine": machine(env), "torch": env["torch"],
            "commit": env.get("git_commit"), "settings": _settings(config)}


def _settings(config: dict) -> str:
    keep = ("epochs", "batch_size", "lr", "optimizer", "weight_decay", "schedule", "augment",
            "tta", "lookback", "label_smoothing")
    parts = [f"{k}={config[k]}" for k in keep if config.get(k) not in (None, 0, 0.0, "constant")]
    parts += [f"{k}={v}" for k, v in config["model_options"].items()]
    return " ".join(parts)


def run_example(entry: Entry) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        argv = [a.replace("{tmp}", tmp) for a in entry.example_argv]
        code = (f"import json, sys; sys.path.insert(0, {str(ROOT / 'examples')!r}); "
                f"import {entry.example} as m; "
                f"print('RESULT ' + json.dumps(m.main({argv!r}), default=str))")
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp)
        wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{entry.example} failed: {done.stderr.strip()[-500:]}")
    line = next(l for l in done.stdout.splitlines() if l.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    score = result
    for key in entry.result_key:
        score = score[key]
    import torch

    return {"score": score, "metric": str(entry.result_key[0]), "wall_seconds": wall,
            "train_seconds": None, "epochs": result.get("epochs"), "machine": machine(),
            "torch": torch.__version__, "commit": None, "details": result,
            "settings": " ".join(entry.example_argv)}


def meets(entry: Entry, score: float) -> bool | None:
    if entry.target is None:
        return None
    return score >= entry.target if entry.greater_is_better else score <= entry.target


def write_docs(entries: list[Entry], store: dict) -> None:
    lines = ["# Recipes and their measured claims", "",
             "Written by `python benchmarks/recipes.py` (do not edit by hand): each recipe run as a "
             "user runs it, in a new process; wall time from command start to result. The settings are "
             "the recipe's (`deepstart problems NAME` lists them). CPU rows: this project's 2-core "
             "machine; GPU rows say which GPU. A score repeats exactly for the same seed, settings "
             "and machine; wall times measured while other work loaded the machine say so beside "
             "the machine, and are provisional. Each claim below names the machines its figures "
             "were measured on (the GPU rows came from the H100 recipe sweep, docs/recipe-sweep.md); "
             "a figure a claim gives for another machine says so in words. GoogLeNet's CPU time per "
             "epoch at the paper's width and the recipe's: `python benchmarks/googlenet_cpu.py`.", "",
             "| recipe | command | target | measured | meets | wall s | epochs | machine | date |",
             "|---|---|---|---|---|---|---|---|---|"]
    for entry in entries:
        for m in store.get(entry.id, {}).values():
            ok = {True: "yes", False: "**no**", None: "-"}[m["meets"]]
            target = "-" if entry.target is None else (
                f"{'≥' if entry.greater_is_better else '≤'} {entry.target}")
            lines.append(f"| {entry.id} | `{' '.join(entry.command)}` | {target} | {m['score']:.4f} | "
                         f"{ok} | {m['wall_seconds']:.0f} | {m['epochs'] or '-'} | {m['machine']} | "
                         f"{m['date']} |")
    lines += ["", "## Claims and settings", ""]
    for entry in entries:
        where = "; ".join(store.get(entry.id, {})) or "not measured yet"
        lines.append(f"- **{entry.id}** (measured on: {where}): {entry.claim}")
        for m in store.get(entry.id, {}).values():
            if m.get("settings"):
                # the training time an epoch (validation included): the text goals are per epoch
                per_epoch = (f"; {m['train_seconds'] / m['epochs']:.2f} s an epoch of training"
                             if m.get("train_seconds") and m.get("epochs") else "")
                lines.append(f"  - {m['machine']}: {m['settings']}{per_epoch}")
    lines.append("")
    # benchmarks/transfer.py's section (the pretrained backbones) is its own: kept as it is
    path = DOCS / "recipes.md"
    old = path.read_text() if path.exists() else ""
    kept = old[old.index(TRANSFER_SECTION):] if TRANSFER_SECTION in old else ""
    path.write_text("\n".join(lines) + ("\n" + kept if kept else ""))


SCORES = ROOT / "deepstart" / "problems" / "data" / "recipe_scores.json"


def write_scores(entries: list[Entry], store: dict) -> None:
    """The latest CPU score of each catalog recipe, shipped with the package for `deepstart problems
    NAME` (the best network here against the best published score)."""
    catalog = {e.id for e in entries if e.example is None}
    scores = {}
    for rid, machines in sorted(store.items()):
        cpu = [m for name, m in machines.items() if name.startswith("CPU")]
        if rid in catalog and cpu:
            latest = max(cpu, key=lambda m: m["date"])
            scores[rid] = {k: latest[k] for k in ("score", "machine", "date")}
    tmp = SCORES.with_suffix(".tmp")
    tmp.write_text(json.dumps(scores, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, SCORES)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", default=[],
                        help="recipes whose id contains this text (repeatable)")
    parser.add_argument("--device", help="passed to deepstart run (e.g. cuda); examples run on the CPU")
    parser.add_argument("--list", action="store_true", help="print the recipes and their commands")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/")
    parser.add_argument("--note", help="said beside the machine, e.g. 'loaded machine: wall times "
                        "provisional' (a row of its own, apart from the machine's quiet rows)")
    parser.add_argument("--render", action="store_true",
                        help="only write docs/recipes.md again from docs/recipes.json")
    args = parser.parse_args(argv)

    from deepstart.problems import get_problem

    entries = catalog_entries() + example_entries()
    chosen = [e for e in entries if not args.only or any(o in e.id for o in args.only)]
    if args.list:
        for e in chosen:
            print(f"{e.id:38s} {' '.join(e.command)}")
        return 0
    store_path = DOCS / "recipes.json"
    store = json.loads(store_path.read_text()) if store_path.exists() else {}
    if args.render:
        write_docs(entries, store)
        write_scores(entries, store)
        return 0
    print("| recipe | target | measured | meets | wall s | epochs | machine |")
    print("|---|---|---|---|---|---|---|")
    for entry in chosen:
        if not get_problem(entry.problem).available_offline() and not entry.example:
            print(f"| {entry.id} | skipped: data not on this machine | | | | | |", flush=True)
            continue
        try:
            m = run_example(entry) if entry.example else run_catalog(entry, args.device)
        except RuntimeError as e:
            print(f"| {entry.id} | failed: {e} | | | | | |", flush=True)
            continue
        if args.note:
            m["machine"] += f" ({args.note})"
        m["meets"] = meets(entry, m["score"])
        m["date"] = dt.date.today().isoformat()
        store.setdefault(entry.id, {})[m["machine"]] = m
        target = "-" if entry.target is None else entry.target
        print(f"| {entry.id} | {target} | {m['score']:.4f} | {m['meets']} | {m['wall_seconds']:.1f} | "
              f"{m['epochs']} | {m['machine']} |", flush=True)
        if not args.no_write:
            DOCS.mkdir(exist_ok=True)
            tmp = store_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(store, indent=1, sort_keys=True) + "\n")
            os.replace(tmp, store_path)
            write_docs(entries, store)
            write_scores(entries, store)
    return 0


if __name__ == "__main__":
    sys.exit(main())
