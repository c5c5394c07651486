"""Evaluate algorithms: spot-check several algorithms on the same folds of one problem, and keep the
leaderboard as a folder that the report and the portfolio read.

The protocol is chosen once and every algorithm gets exactly the same folds:

    k-fold        tables and images under 5,000 rows (or --folds K): stratified (classes) or plain
                  (numbers) K-fold cross-validation over all the rows, training and test part of the
                  canonical split together, as published cross-validation scores are; scikit-learn's
                  StratifiedKFold / KFold, shuffled with the seed
    hold-out      larger data (or --holdout): train on the canonical training part (--limit N: a
                  stratified N of its rows), score on the canonical test part, as published scores are;
                  the deepstart networks hold out 10 % of the training rows for early stopping
                  (spotcheck.py), where k-fold trains them for all the recipe's epochs
    walk-forward  series: fit on the values before the test targets and predict each from the true
                  values before it (the problem's test targets, so the baselines reproduce its
                  references); --folds K splits the targets into K consecutive blocks, each predicted
                  by a model refitted on every value before the block

Algorithms run cheapest first; with a budget (seconds, counted from the first algorithm's start)
an algorithm starts only while time is left, finishes all its folds once started, and the ones not
started are recorded as skipped. A failing algorithm is recorded as failed with its error; the rest
still run.

The folder, `runs/<date>-<problem>-evaluate-<n>/`, is claimed with an atomic mkdir once the
evaluation is done (so a refused or failed evaluation leaves nothing), and holds:

    leaderboard.csv   rank, algorithm, status, mean, std, fit_seconds, then one column per fold
    boxplot.png       the per-fold scores of each algorithm, the best published reference as a line
    evaluation.json   written last (a folder without it is unfinished), format "deepstart-evaluation-1":

    {"format": "deepstart-evaluation-1",
     "status": "finished" | "interrupted",
     "problem": built-in name or the data's absolute path, "title": str,
     "data_options": {"target": ..., ...} (empty for built-in problems),
     "data_sha256": files.data_sha256 of the CSV file or image folder (null for built-in problems),
     "task": "binary" | "multiclass" | "regression" | "forecast", "kind": "tabular" | "image" | "series",
     "metric": "accuracy" | "rmse", "greater_is_better": bool,
     "protocol": {"kind": "k-fold" | "hold-out" | "walk-forward", "folds": k, "seed": s,
                  "rows": rows evaluated on (series: values), "description": str,
                  "train_rows": [per fold], "test_rows": [per fold], "limit": N | null,
                  "splitter": str, "folds_sha256": hash of every fold's test rows,
                  "horizon": H (series only), "networks": how the deepstart networks trained
                  (early stopping or all the recipe's epochs; only when a network ran)},
     "results": [  # ranked: done by mean (best first), then failed, then skipped
        {"algorithm": str, "title": str, "settings": {...}, "rank": int | null,
         "status": "done" | "skipped" | "failed", "scores": [per fold], "mean": float | null,
         "std": float | null (over folds, ddof 0; null for one split), "fit_seconds": total over folds,
         "fit_times": [per fold], "error": str (failed, skipped only)}],
     "best": algorithm name | null,
     "reference": {"value", "model", "source"} | null  (the best published score, baselines computed
                  on the same rows left out; null for your data),
     "budget": seconds | null, "seconds": wall time of the evaluation, "started": ISO time,
     "command": the command line,
     "env": run.environment() + "threads": 1 (under 5,000 rows: see limit_threads) or "default"}
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import io
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from deepstart.errors import DeepstartError, unknown_name
from deepstart.files import atomic_path, data_sha256, write_json, write_text
from deepstart.problems.metrics import text as _fmt  # 4 decimals; RMSE and MAE 2
from deepstart.spotcheck import Algorithm, Context, Fold, available, defaults, missing_weights

EVALUATION_FORMAT = "deepstart-evaluation-1"
SMALL_ROWS = 5000  # below this many rows, k-fold; from here, hold-out
DEFAULT_FOLDS = 10
WINDOWED = ("linear", "mlp", "lstm")  # series algorithms that read look-back windows


class EvaluationInterrupted(Exception):
    """Ctrl-C during an evaluation: `record` holds the algorithms done so far, the rest skipped."""

    def __init__(self, record: dict):
        super().__init__("evaluation interrupted")
        self.record = record


@dataclass
class Protocol:
    kind: str
    folds: list[Fold]
    rows: int
    description: str
    splitter: str
    limit: int | None = None
    extra: dict = field(default_factory=dict)

    def record(self, seed: int) -> dict:
        digest = hashlib.sha256()
        for f in self.folds:
            digest.update(np.asarray(f.test, dtype=np.int64).tobytes() + b"|")
        return {"kind": self.kind, "folds": len(self.folds), "seed": seed, "rows": self.rows,
                "description": self.description, "train_rows": [len(f.train) for f in self.folds],
                "test_rows": [len(f.test) for f in self.folds], "limit": self.limit,
                "splitter": self.splitter, "folds_sha256": digest.hexdigest(), **self.extra}


# --- choosing the algorithms --------------------------------------------------------------------

def parse_algorithms(text: str) -> list[str]:
    """'a, b,,c,a' -> ['a', 'b', 'c']: names in order, blanks and repeats dropped; a model
    reference (`path/to/mynet.py:MyNet`) is kept as given, the names are read in lower case."""
    from deepstart.models.custom import is_reference

    names: list[str] = []
    for part in text.split(","):
        name = part.strip() if is_reference(part.strip()) else part.strip().lower()
        if name and name not in names:
            names.append(name)
    if not names:
        raise DeepstartError(f"--algorithms names no algorithm (received {text!r}); give names "
                             "separated by commas, e.g. --algorithms baseline,logistic,mlp.")
    return names


def choose(problem, names: Sequence[str | Algorithm] | None, season: int | None) -> list[Algorithm]:
    """The algorithms to run, cheapest first. Names must apply to the problem."""
    if names is None:
        chosen = defaults(problem, season)
    else:
        from deepstart.models.custom import is_reference
        from deepstart.spotcheck import user_algorithm

        known = available(problem)
        chosen = []
        for name in names:
            if isinstance(name, Algorithm):
                chosen.append(name)
                continue
            if is_reference(name):  # the user's own class, checked with the networks' settings
                chosen.append(user_algorithm(name, tuple(known) + tuple(a.name for a in chosen)))
                continue
            if name not in known:
                from deepstart.spotcheck import ALGORITHMS

                err = unknown_name("algorithm", name, known)
                elsewhere = {a.name for a in ALGORITHMS} - set(known)
                if name in elsewhere:  # a real algorithm, for another kind of problem
                    err = DeepstartError(f"algorithm '{name}' does not apply to {problem.name} "
                                         f"({problem.task}, {problem.kind}); use some of: "
                                         f"{', '.join(sorted(known))}.")
                raise err
            if name == "seasonal-naive" and not season:
                raise DeepstartError(f"seasonal-naive needs a season and {problem.name} has none "
                                     "detected; pass --season M, or leave seasonal-naive out.")
            chosen.append(known[name])
    return sorted(chosen, key=lambda a: a.cost)  # stable: equal costs keep the given order


# --- the protocol -------------------------------------------------------------------------------

def _check_positive_int(flag: str, value) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise DeepstartError(f"{flag} must be a positive whole number; received {value!r}.")


def make_protocol(problem, data, *, folds: int | None = None, holdout: bool = False,
                  limit: int | None = None, seed: int = 0) -> Protocol:
    """The folds every algorithm gets, from the problem's raw Dataset."""
    if folds is not None and holdout:
        raise DeepstartError("--folds asks for k-fold and --holdout for one split; give one of them.")
    _check_positive_int("--folds", folds)
    _check_positive_int("--limit", limit)
    if problem.task == "forecast":
        if holdout or limit is not None:
            flag = "--holdout" if holdout else "--limit"
            raise DeepstartError(f"{flag} is for tables and images; a series is evaluated "
                                 "walk-forward (--folds K splits its test values into K blocks).")
        return _walk_forward(problem, data, folds or 1)
    classify = problem.task in ("binary", "multiclass")
    x = np.concatenate([data.x_train, data.x_test])
    y = np.concatenate([data.y_train, data.y_test])
    n_train = len(data.x_train)
    if folds is None and not holdout:
        holdout = len(x) >= SMALL_ROWS
    common = {"pixel_max": data.pixel_max, "feature_names": tuple(data.feature_names)}
    if holdout:
        train = _subsample(data.y_train, limit, seed, classify)
        test = n_train + np.arange(len(data.x_test))
        fold = Fold(1, train, test, x[train], y[train], x[test], y[test], **common)
        limited = f" (a stratified {len(train):,} of them, --limit)" if len(train) < n_train else ""
        return Protocol("hold-out", [fold], len(train) + len(test),
                        f"hold-out: train on the canonical {n_train:,} training rows{limited}, score "
                        f"on the {len(test):,} test rows ({problem.split})",
                        "the problem's canonical train/test split", limit)
    k = DEFAULT_FOLDS if folds is None else folds
    rows = _subsample(y, limit, seed, classify)
    x, y = x[rows], y[rows]
    if k < 2:
        raise DeepstartError(f"--folds {k} leaves nothing to train on; k-fold needs 2 or more "
                             "folds (or --holdout for one split).")
    if classify:
        from sklearn.model_selection import StratifiedKFold

        counts = np.bincount(y, minlength=problem.n_classes)
        present = np.flatnonzero(counts)
        smallest = present[np.argmin(counts[present])]
        if k > counts[smallest]:
            name = problem.class_names[smallest] if smallest < len(problem.class_names) else smallest
            raise DeepstartError(
                f"--folds {k} is more than the {counts[smallest]} rows of the smallest class "
                f"'{name}' of {len(y)}; stratified folds need a row of every class in each, so use "
                f"--folds {max(2, counts[smallest])} or fewer (or --holdout).")
        splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
        described = f"StratifiedKFold(n_splits={k}, shuffle=True, random_state={seed})"
    else:
        from sklearn.model_selection import KFold

        if k > len(y):
            raise DeepstartError(f"--folds {k} is more than the {len(y)} rows; use --folds "
                                 f"{len(y)} or fewer.")
        splitter = KFold(n_splits=k, shuffle=True, random_state=seed)
        described = f"KFold(n_splits={k}, shuffle=True, random_state={seed})"
    fold_list = [Fold(i, rows[tr], rows[te], x[tr], y[tr], x[te], y[te], **common)
                 for i, (tr, te) in enumerate(splitter.split(x, y), 1)]
    what = "stratified " if classify else ""
    limited = f", a stratified {len(rows):,} of the {n_train + len(data.x_test):,} (--limit)" \
        if limit is not None and len(rows) < n_train + len(data.x_test) else ""
    return Protocol("k-fold", fold_list, len(rows),
                    f"{what}{k}-fold cross-validation over {len(rows):,} rows (training and test part "
                    f"together{limited}), shuffled with seed {seed}", "scikit-learn " + described,
                    limit)


def _subsample(y: np.ndarray, limit: int | None, seed: int, stratify: bool) -> np.ndarray:
    """Row indices: all, or a (stratified) `limit` of them, sorted."""
    from deepstart.problems.splits import split_indices

    if limit is None or limit >= len(y):
        return np.arange(len(y))
    _, chosen = split_indices(y, limit, seed, stratify=stratify)
    return chosen


def _walk_forward(problem, data, k: int) -> Protocol:
    s = np.asarray(data.series)
    targets = np.asarray(data.test_targets)
    n_train = len(data.x_train)
    if k > len(targets):
        raise DeepstartError(f"--folds {k} is more than the {len(targets)} test values of "
                             f"{problem.name}; use --folds {len(targets)} or fewer.")
    folds = []
    for i, block in enumerate(np.array_split(targets, k), 1):
        # The first block is the problem's own split; later ones refit on every value before them.
        end = n_train if i == 1 else int(block[0])
        folds.append(Fold(i, np.arange(end), block, s[:end, None], s[:end], s[block, None],
                          s[block], series=s, train_end=end, horizon=data.horizon,
                          feature_names=tuple(data.feature_names)))
    if k == 1:
        how = (f"walk-forward: fitted on the first {n_train} values, each of the {len(targets)} test "
               "values predicted from the true values before it (the problem's test targets)")
    else:
        how = (f"walk-forward over the {len(targets)} test values in {k} consecutive blocks, each "
               "predicted by a model refitted on every value before the block")
    return Protocol("walk-forward", folds, len(s), how, "consecutive blocks of the test targets",
                    extra={"horizon": int(data.horizon)})


def series_season(problem, data) -> int | None:
    """The season of a series: what the data options or the dates said, else the autocorrelation
    peak of the differenced training values (12 for the airline's months)."""
    info = problem.schema.get("series")
    if info is not None:
        return info.get("season")
    from deepstart.problems.series import _season_from_autocorrelation

    season, _ = _season_from_autocorrelation(np.asarray(data.series[:len(data.x_train)], float))
    return season


def _check_settings(problem, chosen, protocol, ctx, by_name: bool) -> None:
    """A bad network setting or a look-back that does not fit fails now, before anything runs."""
    networks = [a.family for a in chosen if a.family is not None]
    if networks:
        from deepstart.devices import resolve_device

        resolve_device(ctx.device)
        if by_name:  # a problem built in Python has no name to build it again from
            for family in networks:
                ctx.network_config(family).validate()
    if problem.task == "forecast" and any(a.name in WINDOWED for a in chosen):
        from deepstart.prepare import prepare

        prepare(protocol.folds[0].dataset(), problem, val_split=0.0, lookback=ctx.series_lookback())


# --- running ------------------------------------------------------------------------------------

def score(metric: str, y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """The problem's metric on one fold's test rows; `y_pred` is the probability of class 1 for
    ROC AUC (spotcheck's Predict), else predictions."""
    from deepstart.problems.metrics import compute

    y_pred = np.asarray(y_pred).reshape(-1)
    value = compute(metric, y_true, y_pred, score=y_pred)
    if value is None:
        raise DeepstartError(f"a fold's {len(y_pred)} test rows hold one class only, where ROC AUC "
                             "is undefined; use fewer --folds or --holdout.")
    return value


def evaluate(problem, *, algorithms: Sequence[str | Algorithm] | None = None,
             folds: int | None = None, holdout: bool = False, limit: int | None = None,
             budget: float | None = None, epochs: int | None = None, lookback: int | None = None,
             seed: int = 0, device: str = "auto", data_options: dict | None = None,
             data_dir: Path | None = None, download: bool = True, verbose: int = 1,
             command: str = "") -> dict:
    """Spot-check `algorithms` (names, or Algorithm objects; None: the default set for the
    problem's kind) on one problem (a name, a path with `data_options`, or a Problem); returns
    the record that `save` writes as evaluation.json. Raises DeepstartError for bad input before
    any algorithm runs, and EvaluationInterrupted (holding the partial record) on Ctrl-C."""
    from deepstart.problems import get_problem

    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, (int, float))
                               or not math.isfinite(budget) or budget <= 0):
        raise DeepstartError(f"--budget must be a positive number of seconds; received {budget!r}.")
    _check_positive_int("--epochs", epochs)
    _check_positive_int("--lookback", lookback)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise DeepstartError(f"--seed must be a non-negative whole number; received {seed!r}.")
    data_options = dict(data_options or {})
    problem_arg, problem = problem, get_problem(problem, data_options)
    started_at = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    wall = time.perf_counter()
    data = problem.load(data_dir=data_dir, download=download)
    season = series_season(problem, data) if problem.task == "forecast" else None
    chosen = choose(problem, algorithms, season)
    protocol = make_protocol(problem, data, folds=folds, holdout=holdout, limit=limit, seed=seed)
    ctx = Context(problem, seed=seed, epochs=epochs, device=device, lookback=lookback,
                  season=season, data_options=data_options,
                  early_stopping=protocol.kind == "hold-out")
    if any(a.family is not None for a in chosen):
        protocol.extra["networks"] = ctx.networks_protocol()
    _check_settings(problem, chosen, protocol, ctx, by_name=isinstance(problem_arg, str))
    settings = {a.name: a.settings(ctx) for a in chosen}

    from deepstart.problems.user import looks_like_path

    reference = None
    from deepstart.diagnose import is_baseline

    # the best *published* score: a baseline computed on the same rows (airline's seasonal naive)
    # is a row of the leaderboard, not a published reference
    published = [r for r in problem.references if not is_baseline(r.model, r.source)]
    pick = max if problem.greater_is_better else min
    best_ref = pick(published, key=lambda r: r.value) if published else None
    if best_ref is not None and not looks_like_path(problem.path or problem.name, check_disk=False):
        reference = {"value": best_ref.value, "model": best_ref.model, "source": best_ref.source}
    threads = 1 if protocol.rows < SMALL_ROWS else None
    ctx.threads = threads
    with limit_threads(threads):
        record = _new_record(problem, data_options, protocol, seed, reference, budget, started_at,
                             command, threads)
        if verbose:
            _print_header(problem, record, chosen)
        results = _run_all(chosen, protocol, ctx, budget, verbose, settings, record)
    record["seconds"] = time.perf_counter() - wall
    _rank(record, results)
    if record["status"] == "interrupted":
        raise EvaluationInterrupted(record)
    return record


@contextlib.contextmanager
def limit_threads(threads: int | None):
    """Run torch, BLAS and OpenMP (scikit-learn's boosting) on `threads` threads, then restore
    them; None leaves them alone. Small data gets one: its models are too small for a second
    thread to help, and on a busy machine threads that wait for each other made gradient boosting
    10x and the deepstart MLP 15-25x slower on breast-cancer (docs/benchmarks.md)."""
    if threads is None:
        yield
        return
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(threads):
            yield
    finally:
        torch.set_num_threads(before)


class Leaderboard(dict):
    """The evaluation record: a plain dict everywhere (json.dumps, ==), an HTML table in Jupyter."""

    def _repr_html_(self) -> str:
        from deepstart.notebook import leaderboard_html

        return leaderboard_html(self)


def _new_record(problem, data_options, protocol, seed, reference, budget, started_at, command,
                threads) -> dict:
    from deepstart.run import environment

    return Leaderboard({
        "format": EVALUATION_FORMAT, "status": "finished",
        "problem": problem.path or problem.name, "title": problem.title,
        "data_options": data_options, "task": problem.task, "kind": problem.kind,
        # your own data: which content was evaluated (diagnose matches runs by it, not by name)
        "data_sha256": data_sha256(problem.path) if problem.path else None,
        "metric": problem.metric, "greater_is_better": problem.greater_is_better,
        "protocol": protocol.record(seed), "results": [], "best": None, "reference": reference,
        "budget": budget, "seconds": None, "started": started_at, "command": command,
        "env": environment() | {"threads": threads or "default"},
    })


def _run_all(chosen, protocol, ctx, budget, verbose, settings, record) -> list[dict]:
    from deepstart.console import console

    metric = ctx.problem.metric
    results = [{"algorithm": a.name, "title": a.title, "settings": settings[a.name], "rank": None,
                "status": "skipped", "scores": [], "mean": None, "std": None, "fit_seconds": 0.0,
                "fit_times": []} for a in chosen]
    progress = _progress(verbose)
    start = None  # the budget counts from the first algorithm's start: that one always runs
    n = len(protocol.folds)
    try:
        with progress:
            for algo, result in zip(chosen, results):
                now = time.perf_counter()
                start = now if start is None else start
                spent = now - start
                if budget is not None and spent >= budget:
                    result["error"] = f"budget of {budget:g} s spent ({spent:.1f} s) before it started"
                    continue
                missing = missing_weights(algo)
                if missing is not None:  # a pretrained row without its weights: said, not failed
                    result["error"] = missing
                    if verbose:
                        console.print(f"{algo.name}: {missing}", soft_wrap=True)
                    continue
                task = progress.add_task(f"{algo.name:<18}", total=n)
                try:
                    for fold in protocol.folds:
                        t0 = time.perf_counter()
                        predict = algo.fit(fold, ctx)
                        result["fit_times"].append(time.perf_counter() - t0)
                        result["scores"].append(score(metric, fold.y_test, predict()))
                        progress.update(task, advance=1)
                except KeyboardInterrupt:
                    raise
                except Exception as e:  # one algorithm failing must not lose the others' results
                    result["status"] = "failed"
                    result["error"] = _one_line(e)
                else:
                    result["status"] = "done"
                    result["mean"] = float(np.mean(result["scores"]))
                    # one split (hold-out, walk-forward) has no spread to report, not a zero one
                    result["std"] = float(np.std(result["scores"])) if n > 1 else None
                result["fit_seconds"] = float(sum(result["fit_times"]))
                progress.remove_task(task)
                if verbose:
                    console.print(_progress_line(result, metric), soft_wrap=True)
    except KeyboardInterrupt:
        record["status"] = "interrupted"
        for result in results:
            if result["status"] == "skipped" and "error" not in result:
                result["error"] = "interrupted (Ctrl-C) before it finished"
                result["scores"], result["fit_times"], result["fit_seconds"] = [], [], 0.0
    return results


def _one_line(e: Exception) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if isinstance(e, DeepstartError) else f"{type(e).__name__}: {text}"


def _rank(record: dict, results: list[dict]) -> None:
    sign = -1 if record["greater_is_better"] else 1
    done = sorted((r for r in results if r["status"] == "done"), key=lambda r: sign * r["mean"])
    for i, r in enumerate(done, 1):
        r["rank"] = i
    order = {"done": 0, "failed": 1, "skipped": 2}
    rest = [r for r in results if r["status"] != "done"]
    rest.sort(key=lambda r: order[r["status"]])
    record["results"] = done + rest
    record["best"] = done[0]["algorithm"] if done else None


# --- writing ------------------------------------------------------------------------------------

def claim_folder(out: Path, problem_name: str) -> Path:
    from deepstart.run import claim_run_dir

    return claim_run_dir(Path(out), problem_name, "evaluate")


def save(record: dict, out: str | Path = "runs") -> Path:
    """Write the evaluation folder: leaderboard.csv, boxplot.png, then evaluation.json."""
    from deepstart.problems.user import looks_like_path, name_for

    problem = record["problem"]
    name = name_for(Path(problem)) if looks_like_path(problem, check_disk=False) else problem
    folder = claim_folder(Path(out), name)
    write_text(folder / "leaderboard.csv", leaderboard_csv(record))
    plot_scores(record, folder / "boxplot.png")
    write_json(folder / "evaluation.json", record)
    return folder


def leaderboard_csv(record: dict) -> str:
    k = record["protocol"]["folds"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["rank", "algorithm", "status", "mean", "std", "fit_seconds",
                *[f"fold_{i}" for i in range(1, k + 1)]])
    for r in record["results"]:
        scores = [repr(s) for s in r["scores"]] + [""] * (k - len(r["scores"]))
        w.writerow([r["rank"] or "", r["algorithm"], r["status"],
                    "" if r["mean"] is None else repr(r["mean"]),
                    "" if r["std"] is None else repr(r["std"]), f"{r['fit_seconds']:.3f}", *scores])
    return buf.getvalue()


def plot_scores(record: dict, path: Path) -> None:
    """Box plot of the per-fold scores (points on top: hold-out and walk-forward have few)."""
    from deepstart.console import offscreen_figures

    offscreen_figures()
    import matplotlib.pyplot as plt

    done = [r for r in record["results"] if r["status"] == "done"]
    metric = record["metric"]
    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(done) + 2), 4.2), constrained_layout=True)
    if done:
        data = [r["scores"] for r in done]
        ax.boxplot(data, tick_labels=[r["algorithm"] for r in done], showmeans=True)
        for i, scores in enumerate(data, 1):
            jitter = np.linspace(-0.08, 0.08, len(scores)) if len(scores) > 1 else [0.0]
            ax.plot(np.full(len(scores), i) + jitter, scores, ".", color="tab:blue", alpha=0.6)
        ax.tick_params(axis="x", labelrotation=30)
    else:
        ax.text(0.5, 0.5, "no algorithm finished", ha="center", va="center", transform=ax.transAxes)
    ref = record.get("reference")
    if ref:
        ax.axhline(ref["value"], color="tab:red", ls="--", lw=1,
                   label=f"best published {_fmt(ref['value'], metric)}: {ref['model'][:50]}")
        ax.legend(loc="best", fontsize="small")
    better = "higher" if record["greater_is_better"] else "lower"
    ax.set_ylabel(f"{metric} per fold ({better} is better)")
    p = record["protocol"]
    folds = f"{p['folds']} fold{'s' if p['folds'] != 1 else ''}"
    ax.set_title(f"{Path(record['problem']).name}: {p['kind']}, {folds}, {p['rows']:,} rows "
                 "(triangles: means)", fontsize="medium")
    ax.grid(axis="y", alpha=0.3)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


# --- printing -----------------------------------------------------------------------------------

def _signed(value: float, metric: str) -> str:
    return f"{value:+.2f}" if metric in ("rmse", "mae") else f"{value:+.4f}"


def _mean_std(r: dict, metric: str) -> str:
    if r.get("std") is None or len(r.get("scores") or []) < 2:
        return f"{_fmt(r['mean'], metric)} (one split)"
    from deepstart.report import spread_text

    mean = _fmt(r["mean"], metric)
    return f"{mean} ± {spread_text(r['std'], mean)}"  # the spread in the mean's digits: 3.81 ± 0.59


def _progress(verbose: int):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from deepstart.console import console

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("folds"), TimeElapsedColumn(), console=console, transient=True,
                    disable=not verbose or not console.is_terminal)


def _progress_line(r: dict, metric: str) -> str:
    if r["status"] == "done":
        return (f"  {r['algorithm']:<18} {metric} {_mean_std(r, metric)}  "
                f"fit {r['fit_seconds']:.1f} s")
    return f"  {r['algorithm']:<18} [red]failed[/red]: {r['error']}"


def _print_header(problem, record: dict, chosen: list[Algorithm]) -> None:
    from deepstart.console import console

    budget = f"; budget {record['budget']:g} s" if record["budget"] else ""
    console.print(f"[bold]evaluate {problem.name}[/bold]: {problem.task}, {problem.metric}; "
                  f"{record['protocol']['description']}", soft_wrap=True)
    console.print(f"{len(chosen)} algorithms, cheapest first: "
                  f"{', '.join(a.name for a in chosen)}{budget}", soft_wrap=True)


def _reference_note(result: dict) -> str:
    """A user's own model is named by its class; the note says which file or module it is."""
    from rich.markup import escape

    from deepstart.models.custom import is_reference

    model = (result.get("settings") or {}).get("model")
    return f"[dim]{escape(model)}[/dim]" if is_reference(model) else ""


def print_leaderboard(record: dict, folder: Path | None = None) -> None:
    """The leaderboard: rank, algorithm, mean ± std, fit seconds; the best marked; the best
    published reference in its place among them; skipped and failed algorithms with why."""
    from rich.table import Table

    from deepstart.console import console

    metric = record["metric"]
    p = record["protocol"]
    table = Table(title=f"leaderboard: {Path(record['problem']).name}, {p['kind']} "
                        f"({p['folds']} fold{'s' if p['folds'] != 1 else ''}, seed {p['seed']})",
                  title_justify="left")
    table.add_column("rank", justify="right")
    table.add_column("algorithm", no_wrap=True)
    table.add_column(f"{metric} mean ± std" if p["folds"] > 1 else f"{metric}, one split",
                     justify="right", no_wrap=True)
    table.add_column("fit s", justify="right")
    table.add_column("", overflow="fold")
    ref = record.get("reference")
    ref_row = (["", "[dim]published[/dim]", f"[dim]{_fmt(ref['value'], metric)}[/dim]", "",
                f"[dim]{ref['model']}[/dim]"] if ref else None)

    def beats(r):  # is this result at least as good as the reference?
        return r["mean"] >= ref["value"] if record["greater_is_better"] else r["mean"] <= ref["value"]

    for r in record["results"]:
        if ref_row and r["status"] == "done" and not beats(r):
            table.add_row(*ref_row)
            ref_row = None
        if r["status"] == "done":
            best = r["algorithm"] == record["best"]
            name = f"[bold green]{r['algorithm']}[/bold green]" if best else r["algorithm"]
            shown = _mean_std(r, metric) if p["folds"] > 1 else _fmt(r["mean"], metric)
            note = " ".join(filter(None, ("[bold green]★ best[/bold green]" if best else "",
                                          _reference_note(r))))
            table.add_row(str(r["rank"]), name, shown, f"{r['fit_seconds']:.1f}", note)
        else:
            if ref_row:
                table.add_row(*ref_row)
                ref_row = None
            colour = "red" if r["status"] == "failed" else "yellow"
            table.add_row("-", r["algorithm"], "-", f"{r['fit_seconds']:.1f}" if r["fit_times"] else "-",
                          f"[{colour}]{r['status']}[/{colour}]: {r.get('error', '')}")
    if ref_row:
        table.add_row(*ref_row)
    console.print(table)
    if record["best"]:
        best = next(r for r in record["results"] if r["algorithm"] == record["best"])
        line = f"best: [bold]{best['algorithm']}[/bold] {metric} {_mean_std(best, metric)}"
        if ref:
            line += (f"; best published {_fmt(ref['value'], metric)} ({ref['model']}; "
                     f"{ref['source']}), difference {_signed(best['mean'] - ref['value'], metric)} "
                     f"({'higher' if record['greater_is_better'] else 'lower'} is better)")
        console.print(line, soft_wrap=True)
    console.print(f"scored: {p['description']}", soft_wrap=True)
    if p.get("networks"):
        console.print(f"trained: {p['networks']}", soft_wrap=True)
    skipped = [r["algorithm"] for r in record["results"] if r["status"] == "skipped"]
    if skipped:
        why = "interrupted" if record["status"] == "interrupted" else "the budget was spent"
        console.print(f"[yellow]skipped[/yellow] ({why}): {', '.join(skipped)}", soft_wrap=True)
    console.print(f"evaluated in {record['seconds']:.1f} s", soft_wrap=True)
    if folder is not None:
        console.print(f"evaluation folder: {folder}")
