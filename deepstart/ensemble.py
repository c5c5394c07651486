"""Ensembles: average the predictions of several finished runs of one problem on its test split.

    deepstart ensemble runs/2026-11-23-digits-mlp-1 runs/2026-11-23-digits-mlp-2 [--out ensemble.json]

Each member is rebuilt from its run folder alone (model.json + model.safetensors, no pickle) and
its test inputs are prepared exactly as its run prepared them (deepstart.run._learner: the same
validation split, seed, scaling and look-back from config.json), so every member sees the test
rows it was scored on, in its own scaling. Classification averages the predicted probabilities
(softmax, or the sigmoid of a binary output) and predicts the most probable class; regression and
forecasts average the predicted values in the target's units. The gain is the ensemble's score
minus the best member's, signed so that a positive gain is an improvement (for RMSE: the best
member's minus the ensemble's).

`ensemble.json` (with `--out`): problem, metric, test rows, each member (run, model, test score,
and the score its metrics.json recorded), the ensemble's score, the best member and the gain.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepstart.errors import DeepstartError

EVAL_BATCH = 4096


@dataclass
class Member:
    folder: Path
    model: str
    config: dict
    recorded: float | None  # the test score in the run's metrics.json
    outputs: np.ndarray | None = None  # probabilities (N, classes) or values (N,)
    score: float | None = None


def _member(folder: Path) -> Member:
    from deepstart.record import read_run
    from deepstart.run import is_run_dir

    if not is_run_dir(folder):
        raise DeepstartError(f"{folder} is not a run folder (no deepstart config.json); pass "
                             "folders under runs/ that `deepstart run` or `deepstart tune` wrote.")
    record = read_run(folder)  # every file checked: a damaged one is named
    if not record.finished:
        raise DeepstartError(f"{folder} is an unfinished run (no metrics.json or saved model); "
                             f"finish it with `deepstart run --resume {folder}` or leave it out.")
    config, metrics = record.config, record.metrics
    recorded = metrics["test"][metrics["metric"]]
    return Member(folder=folder, model=config.get("model", "?"), config=config, recorded=recorded)


def _probabilities(out, task: str, loss: str) -> np.ndarray:
    import torch

    if task == "multiclass":
        return torch.softmax(out, dim=1).numpy()
    p = torch.sigmoid(out) if loss == "bce" else out.clamp(0, 1)  # as Learner.predict_proba
    return torch.cat([1 - p, p], dim=1).numpy()


def _score(outputs: np.ndarray, truth: np.ndarray, classify: bool, metric: str) -> float | None:
    """The problem's metric of class probabilities (N, classes) or predicted values."""
    from deepstart.problems.metrics import compute

    if classify:
        return compute(metric, truth, outputs.argmax(1), score=outputs[:, -1])
    return compute(metric, truth, outputs)


def ensemble(folders: list[str | Path], data_dir: Path | None = None, download: bool = True) -> dict:
    """Score each run and the average of their predictions on the test split; see the module
    docstring. Returns what ensemble.json holds."""
    import torch

    from deepstart.models import load_model
    from deepstart.prepare import prepare
    from deepstart.problems import get_problem

    folders = [Path(f) for f in folders]
    if len(folders) < 2:
        raise DeepstartError(f"an ensemble needs at least 2 runs; received {len(folders)}.")
    seen = set()
    for f in folders:
        key = f.resolve()
        if key in seen:
            raise DeepstartError(f"{f} is given twice; pass each run once.")
        seen.add(key)
    members = [_member(f) for f in folders]
    first = members[0]
    for m in members[1:]:
        if (m.config["problem"], m.config.get("data_options")) != (first.config["problem"],
                                                                    first.config.get("data_options")):
            raise DeepstartError(
                f"{m.folder} is a run of '{Path(m.config['problem']).name}' and {first.folder} of "
                f"'{Path(first.config['problem']).name}' (or of other data options); an ensemble "
                "averages runs of the same problem.")
    problem = get_problem(first.config["problem"], first.config.get("data_options") or {})
    raw = problem.load(data_dir=data_dir, download=download)
    classify = problem.task in ("binary", "multiclass")
    truth = None
    for m in members:
        cfg = m.config
        # the test split exactly as the run prepared it (deepstart.run._learner)
        data = prepare(raw, problem, val_split=cfg["val_split"], seed=cfg["seed"],
                       lookback=cfg.get("lookback"), scale=cfg.get("scale"))
        model, spec = load_model(m.folder)
        if tuple(spec["input_shape"]) != tuple(data.input_shape):
            raise DeepstartError(f"{m.folder}'s model takes inputs of shape "
                                 f"{tuple(spec['input_shape'])}, but its problem now gives "
                                 f"{tuple(data.input_shape)}; was the data changed since the run?")
        with torch.inference_mode():
            out = torch.cat([model(data.x_test[i:i + EVAL_BATCH]).float()
                             for i in range(0, len(data.x_test), EVAL_BATCH)])
        y = data.target_values(data.y_test)
        if classify:
            m.outputs = _probabilities(out, data.task, spec.get("loss", "bce"))
        else:
            m.outputs = data.target_values(out)
        if truth is None:
            truth = y
        elif len(y) != len(truth) or not np.allclose(y, truth):
            raise DeepstartError(f"{m.folder} was scored on other test rows than {first.folder} "
                                 "(another look-back or horizon?); an ensemble averages predictions "
                                 "of the same rows.")
        m.score = _score(m.outputs, truth, classify, problem.metric)
    averaged = np.mean([m.outputs for m in members], axis=0)
    score = _score(averaged, truth, classify, problem.metric)
    if score is None:
        raise DeepstartError(f"the {len(truth)} test rows hold one class only, where ROC AUC is "
                             "undefined; an ensemble has nothing to be scored on.")
    greater = problem.greater_is_better
    best = (max if greater else min)(members, key=lambda m: m.score)
    gain = score - best.score if greater else best.score - score
    metric = problem.metric
    return {
        "problem": problem.name,
        "metric": metric,
        "greater_is_better": greater,
        "test_rows": int(len(truth)),
        "members": [{"run": str(m.folder), "model": m.model, "test": m.score,
                     "recorded_test": m.recorded} for m in members],
        "ensemble": {"test": score, "method": "mean of probabilities" if classify
                     else "mean of predicted values"},
        "best_member": str(best.folder),
        "gain": gain,
    }


def print_ensemble(result: dict) -> None:
    from rich.table import Table

    from deepstart.console import console

    from deepstart.problems.metrics import text

    metric = result["metric"]

    def fmt(v: float) -> str:
        return text(v, metric)

    table = Table(title=f"ensemble of {len(result['members'])} runs on {result['problem']} "
                        f"({result['test_rows']} test rows)", title_justify="left")
    for column in ("member", "model", f"test {metric}"):
        table.add_column(column, overflow="fold", justify="right" if column != "member" else "left")
    for m in result["members"]:
        mark = " (best)" if m["run"] == result["best_member"] else ""
        table.add_row(m["run"] + mark, m["model"], fmt(m["test"]))
    table.add_row("[bold]ensemble[/bold] (" + result["ensemble"]["method"] + ")", "",
                  f"[bold]{fmt(result['ensemble']['test'])}[/bold]")
    console.print(table)
    gain = result["gain"]
    colour = "green" if gain > 0 else "red" if gain < 0 else "yellow"
    if result["greater_is_better"]:
        change = f"{gain:+.4f} {metric}"
    else:  # a positive gain is a lower error
        change = f"{metric.upper()} {abs(gain):.4g} {'lower' if gain >= 0 else 'higher'}"
    verdict = "better than" if gain > 0 else "worse than" if gain < 0 else "the same as"
    console.print(f"gain over the best member: [{colour}]{change}[/{colour}] (the ensemble is "
                  f"{verdict} its best member alone)", soft_wrap=True)
