"""The `deepstart` command: one subcommand per user job. Nothing imports this module.

Only argparse is imported at start-up; torch, numpy and the catalog load inside the subcommand that
needs them, so `deepstart --help` answers at once. Bad input ends with one line on stderr and exit
code 2; Ctrl-C during training with exit code 130 and the command that resumes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
from pathlib import Path

EXIT_RUN_FAILED = 1  # the run folder is complete, but training diverged
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not usage + message
        sys.stderr.write(f"deepstart: error: {message} (see `{self.prog} --help`)\n")
        raise SystemExit(EXIT_BAD_INPUT)


def _number(cast, ok, expected: str):
    """An argparse type: `cast` the text, then check it; the error says what was expected."""
    def parse(text: str):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}; received {text!r}") from None
        if not (math.isfinite(value) and ok(value)):
            raise argparse.ArgumentTypeError(f"expected {expected}; received {text!r}")
        return value
    return parse


_positive_int = _number(int, lambda v: v > 0, "a positive integer")
_positive_float = _number(float, lambda v: v > 0, "a positive number")
_fraction = _number(float, lambda v: 0 <= v < 1, "a number in [0, 1)")
_nonnegative_float = _number(float, lambda v: v >= 0, "a number >= 0")
# numpy's seeds are 32-bit: a larger one fails deep inside scikit-learn
_seed = _number(int, lambda v: 0 <= v <= 2**32 - 1, "an integer from 0 to 4294967295")


def _model_option(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, e.g. depth=20; received {text!r}")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value  # a bare word, e.g. cell=gru


def _space(text: str) -> tuple[str, dict]:
    from deepstart.errors import DeepstartError
    from deepstart.tune import parse_space

    try:
        return parse_space(text, where=text)
    except DeepstartError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) <= 0:
        raise argparse.ArgumentTypeError(f"expected layer sizes like 256,256; received {text!r}")
    return sizes


def _training_options(p: argparse.ArgumentParser) -> None:
    """What `run` and `lr-find` share: the problem, the model, the optimizer, the hardware."""
    p.add_argument("problem", nargs="?", default=None,
                   help="a built-in problem name (default: digits), a CSV file, or a folder of "
                        "images or .txt files")
    p.add_argument("--model", help="model family: perceptron, linear, logistic, mlp, convnet, resnet, googlenet, transformer, lstm, gru, bag, pretrained: efficientnet-lite0/1/2, minilm (--model M uses the problem's recipe for M when it has one), or your own class: PATH.py:Class or package.module:Class (docs/own-model.md)")
    p.add_argument("--hidden", type=_sizes, help="MLP hidden layer sizes, e.g. 256,256")
    p.add_argument("--activation", help="activation: identity, step, sigmoid, tanh, relu")
    p.add_argument("--dropout", type=_fraction, help="dropout rate after each hidden layer")
    p.add_argument("--option", type=_model_option, action="append", default=[], metavar="KEY=VALUE",
                   help="any other setting of the model's config, e.g. depth=20, width=0.25, "
                        "widths=[16,32,64], hidden_size=8 (repeatable; values in JSON)")
    p.add_argument("--batch-size", type=_positive_int)
    p.add_argument("--optimizer", help="sgd, momentum, nesterov, adam, adamw, rmsprop")
    p.add_argument("--weight-decay", type=_nonnegative_float, help="L2 penalty (decoupled for adamw)")
    p.add_argument("--val-split", type=_fraction, help="fraction of training rows for validation")
    p.add_argument("--scale", choices=("unit", "standard"),
                   help="inputs: unit = divide by the pixel maximum, standard = per-feature z-score")
    p.add_argument("--lookback", type=_positive_int, help="series: values per input window")
    p.add_argument("--device", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N, mps")
    p.add_argument("--precision", help="auto (default: bf16 on GPUs that support it, else fp32), fp32, bf16, fp16 (GPU)")
    p.add_argument("--seed", type=_seed, help="random seed (default 0): same seed, same result on CPU")
    p.add_argument("--data-dir", type=Path, help="a folder holding the problem's data files")
    p.add_argument("--no-download", action="store_true", help="never download data")
    tune = p.add_argument_group("fine-tuning a pretrained model (docs/pretrained.md; default: the "
                                "head alone for 1 epoch, then everything, early layers at lower "
                                "learning rates)")
    tune.add_argument("--freeze", action="store_true", help="keep the pretrained body frozen: "
                      "train the head alone (normalisation layers still adapt)")
    tune.add_argument("--unfreeze-after", type=_number(int, lambda v: v >= 0, "a whole number >= 0"),
                      metavar="N", help="train the head alone for N epochs, then everything (0: "
                      "everything from the start)")
    tune.add_argument("--frozen", action="store_true", help="compute the body's features once "
                      "(cached in the run folder) and train the head on them: seconds")
    tune.add_argument("--weights", metavar="FILE.safetensors",
                      help="pretrained weights of your own instead of the installed package's")
    _own_data_options(p)


def _log_names(text: str) -> str:
    from deepstart.errors import DeepstartError
    from deepstart.tracking import parse_log

    try:
        return ",".join(parse_log(text))
    except DeepstartError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _tracking_options(p: argparse.ArgumentParser) -> None:
    """`run` and `tune`: log to TensorBoard and MLflow (deepstart/tracking, docs/tracking.md)."""
    # --log-to: the same, the spelling `--nproc` hands to torchrun (below)
    p.add_argument("--log", "--log-to", type=_log_names, action="append", metavar="TOOL",
                   help="also log to tensorboard (the run folder's tensorboard/: scalars per "
                        "epoch, the model graph, hparams) and/or mlflow (params, metrics per epoch, "
                        "the run folder as artifacts, the model registered with its signature): "
                        "--log tensorboard,mlflow or repeated; needs pip install "
                        "'deepstart[tracking]'. tune: a nested MLflow run and a TensorBoard "
                        "folder per trial")
    p.add_argument("--mlflow-uri", metavar="URI",
                   help="the MLflow tracking store for --log mlflow (default sqlite:///mlflow.db "
                        "in this folder, as `mlflow ui` reads it; or http://HOST:PORT of a server)")


def _log_for_torchrun(args) -> None:
    """A run that launches torchrun (--nproc or --nnodes above 1) hands its processes --log as
    --log-to: torchrun's parser fails on anything that starts like its own --log-dir and
    --logs-specs, even after the script's name."""
    from deepstart import distributed

    launches = (args.nproc or 1) > 1 or (getattr(args, "nnodes", None) or 1) > 1
    if launches and not distributed.launched_by_torchrun():
        args.argv = [f"--log-to{a[5:]}" if a == "--log" or a.startswith("--log=") else a
                     for a in args.argv]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="deepstart", description=(
        "Learn and do deep learning top-down: fit a real model on a real problem in one command, "
        "compare it with published scores, and keep a run folder to reproduce and present it."))
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = sub.add_parser("run", help="train a model on a problem or your own data, write a run folder",
                         description="Train a model on a built-in problem (default: digits) or on "
                         "your own data, print its test score beside the published references (or "
                         "the baselines, for your data), and write runs/<date>-<problem>-<model>-<n>/. "
                         "Your data: `deepstart run data.csv --target COLUMN` (a table: the task is "
                         "inferred from the target, columns are imputed, one-hot encoded and "
                         "standardised, and a report says what was done to each), `deepstart run "
                         "FOLDER` (images, or CSV series, one sub-folder per class), `deepstart run "
                         "table.csv --target COLUMN --sequence --model lstm` (each row a sequence), "
                         "`deepstart run series.csv "
                         "--forecast COLUMN --horizon H` (a series, beside the persistence and "
                         "seasonal-naive baselines). Unset options come from the problem's recipe "
                         "(see `deepstart problems NAME`). `--log tensorboard,mlflow` also "
                         "logs the run to TensorBoard and MLflow (docs/tracking.md).")
    _training_options(run)
    run.add_argument("--epochs", type=_positive_int)
    run.add_argument("--lr", type=_positive_float, help="learning rate (the peak, with a schedule)")
    run.add_argument("--schedule", help="constant, step, cosine, onecycle")
    run.add_argument("--warmup", type=_nonnegative_float, metavar="EPOCHS",
                     help="linear warm-up epochs before a constant, step or cosine schedule")
    run.add_argument("--clip-grad", type=_positive_float, metavar="NORM",
                     help="clip the gradients' global norm")
    run.add_argument("--label-smoothing", type=_fraction, help="for classes: e.g. 0.1")
    run.add_argument("--augment", metavar="LIST",
                     help="images, while training: crop, flip, erase (comma-separated) or none")
    run.add_argument("--tta", metavar="MODE",
                     help="image classes, when scoring: flip (mean over each image and its mirror "
                          "image; train with --augment flip) or none")
    run.add_argument("--compile", action="store_true",
                     help="torch.compile the model (compile time is reported separately)")
    run.add_argument("--nproc", type=_positive_int, metavar="N",
                     help="train on N processes with DistributedDataParallel (launches torchrun); "
                          "with --nnodes, N on each machine (default 1)")
    run.add_argument("--nnodes", type=_positive_int, metavar="N",
                     help="train on N machines, each running the same command with its "
                          "--node-rank (torchrun's static rendezvous at --master-addr)")
    run.add_argument("--node-rank", type=_number(int, lambda v: v >= 0, "an integer >= 0"),
                     metavar="R", help="with --nnodes: this machine's index, 0 to N - 1 (node 0 "
                     "writes the run folder)")
    run.add_argument("--master-addr", metavar="HOST",
                     help="with --nnodes: the address of node 0, reachable from every machine")
    run.add_argument("--master-port", type=_number(int, lambda v: 0 < v < 65536, "a port, 1 to "
                     "65535"), metavar="PORT", help="with --nnodes: a free port on node 0 (29500)")
    run.add_argument("--paper-score", type=_number(float, lambda v: True, "a number"),
                     metavar="SCORE", help="your model's published score, in the problem's metric "
                     "(e.g. 0.937 accuracy): recorded in config.json and shown beside yours")
    run.add_argument("--metric", help="what early stopping (--patience) and diagnose judge, one of "
                     "the task's: accuracy, roc_auc, f1 (two classes), macro_f1 (several), rmse, "
                     "mae (numbers); default: the problem's own, which is reported first")
    run.add_argument("--patience", type=_positive_int, metavar="N",
                     help="stop once the validation --metric has not improved for N epochs; the "
                          "best epoch's weights are kept and scored")
    run.add_argument("--out", type=Path, default=Path("runs"), help="folder for run folders (runs/)")
    run.add_argument("--resume", type=Path, metavar="RUN",
                     help="continue an interrupted run folder from its checkpoint")
    run.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    _tracking_options(run)

    lr_find = sub.add_parser("lr-find", help="sweep the learning rate and suggest one",
                             description="The learning-rate range test: train a few batches with "
                             "the learning rate growing from --start-lr to --end-lr, plot the "
                             "loss against it, and suggest the rate at the loss minimum / 10.")
    _training_options(lr_find)
    lr_find.add_argument("--start-lr", type=_positive_float, default=1e-7)
    lr_find.add_argument("--end-lr", type=_positive_float, default=10.0)
    lr_find.add_argument("--steps", type=_positive_int, default=100)
    lr_find.add_argument("--out", type=Path, default=Path("runs"), help="folder for the plot (runs/)")

    show = sub.add_parser("show", help="show a model: summary table, and a drawing of it",
                          description="`deepstart show model NAME --problem P` builds a zoo model "
                          "for a problem's inputs; `deepstart show model RUN` shows a trained one. "
                          "Prints layer, output shape and parameters; --draw FILE draws it (PNG, "
                          "SVG or PDF by the extension): a small dense network as the course's "
                          "neurons, any other as a layer graph with the tensor shapes on its edges "
                          "(laid out by Graphviz's dot; .dot writes the graph's text).")
    show.add_argument("what", choices=("model",))
    show.add_argument("name", help="a zoo model name, or a run folder")
    show.add_argument("--problem", default="digits", help="whose inputs and outputs (default digits)")
    show.add_argument("--hidden", type=_sizes, help="MLP hidden layer sizes, e.g. 4,3")
    show.add_argument("--activation", help="activation: identity, step, sigmoid, tanh, relu")
    show.add_argument("--option", type=_model_option, action="append", default=[],
                      metavar="KEY=VALUE", help="another setting of the model's config (JSON value)")
    show.add_argument("--draw", type=Path, metavar="FILE", help="draw the network to FILE")
    show.add_argument("--style", choices=("graph", "neurons"),
                      help="how to draw: neurons (small dense networks, the default for them) "
                      "or graph (any model, the default for the others)")
    show.add_argument("--depth", type=_positive_int, metavar="N",
                      help="in the graph, draw modules nested deeper than N levels as one box each")

    problems = sub.add_parser("problems", help="list the built-in problems and their references",
                              description="List the built-in problems by kind of input: task, "
                              "size, metric, the best reference and its source, whether the data "
                              "is on this machine now. A problem's name shows it in full (split, "
                              "references, recipes, the gap to the best published score); any "
                              "other word lists the problems whose name or description holds it.")
    problems.add_argument("name", nargs="?", metavar="NAME_OR_WORD",
                          help="a problem to show in full, or a word to search for")
    problems.add_argument("--kind", choices=("table", "image", "series", "text"),
                          help="only problems of this kind of input")
    problems.add_argument("--task", choices=("binary", "multiclass", "regression", "forecast"),
                          help="only problems of this task")

    models = sub.add_parser("models", help="list the model zoo: data, parameters, recipes and their scores",
                            description="List the zoo's families: what each is, the kinds of data "
                            "it takes, its parameter count at the defaults (on a stated problem's "
                            "inputs), and the problems where it has a recipe, with the recipe's "
                            "target and the scores benchmarks/recipes.py measured. `deepstart models "
                            "NAME` shows one family's options: its config fields, defaults and "
                            "meanings, and which fields the data fills in.")
    models.add_argument("name", nargs="?", help="show one family in full")

    evaluate = sub.add_parser(
        "evaluate", help="spot-check several algorithms on the same folds: leaderboard and box plot",
        description="Spot-check a sensible set of algorithms on one problem, every one on the same "
        "folds: tables (baseline, logistic or linear, knn, random-forest, gradient-boosting, "
        "sklearn-mlp, mlp), images (baseline, logistic, mlp, convnet), series (persistence, "
        "seasonal-naive, linear, mlp, lstm). Stratified 10-fold cross-validation under 5,000 rows, "
        "the canonical hold-out split above, walk-forward for series. Prints a leaderboard beside "
        "the best published score and writes runs/<date>-<problem>-evaluate-<n>/ (evaluation.json, "
        "leaderboard.csv, boxplot.png).")
    evaluate.add_argument("problem", help="a built-in problem name, a CSV file, or a folder of "
                          "images or .txt files")
    evaluate.add_argument("--algorithms", metavar="LIST",
                          help="comma-separated names, e.g. baseline,logistic,mlp (default: the "
                               "set for the problem's kind)")
    evaluate.add_argument("--folds", type=_positive_int, metavar="K",
                          help="k-fold with K folds (default 10 under 5,000 rows); series: K "
                               "walk-forward blocks of the test values (default 1)")
    evaluate.add_argument("--holdout", action="store_true",
                          help="one split: the canonical training part, scored on the test part")
    evaluate.add_argument("--limit", type=_positive_int, metavar="N",
                          help="use a stratified N rows (hold-out: N training rows) to keep it quick")
    evaluate.add_argument("--budget", type=_positive_float, metavar="SECONDS",
                          help="start no algorithm after SECONDS; the ones left are listed as skipped")
    evaluate.add_argument("--epochs", type=_positive_int,
                          help="epochs of the deepstart networks (default: the problem's recipe; "
                               "at most 5 on large data)")
    evaluate.add_argument("--lookback", type=_positive_int, help="series: values per input window")
    evaluate.add_argument("--seed", type=_seed, default=0, help="shuffles the folds and seeds every algorithm (default 0)")
    evaluate.add_argument("--device", default="auto", help="for the networks: auto, cpu, cuda, mps")
    evaluate.add_argument("--out", type=Path, default=Path("runs"),
                          help="folder for the evaluation folder (runs/)")
    evaluate.add_argument("--data-dir", type=Path, help="a folder holding the problem's data files")
    evaluate.add_argument("--no-download", action="store_true", help="never download data")
    evaluate.add_argument("--quiet", action="store_true", help="no line per algorithm")
    _own_data_options(evaluate)

    # --- improve: tune (deepstart/tune.py) and ensemble (deepstart/ensemble.py) ---
    tune = sub.add_parser("tune", help="search hyper-parameters with Optuna, retrain the best, score it once",
                          description="Search a model family's hyper-parameters on a problem with "
                          "Optuna (TPE, median pruning on the per-epoch validation score), in a "
                          "study kept in an RDB storage (a SQLite file under --out by default) that "
                          "the same command resumes and several workers or machines can share; then "
                          "retrain the best configuration on train + validation, score it on the test "
                          "split once, and write it as a run folder with a tuning/ record (trials.csv, "
                          "study.json, history.png, importances.png). Settings given on the command "
                          "line (e.g. --batch-size 64, --option depth=20) are fixed, not searched; the "
                          "search space per family is in `python -m pydoc deepstart.tune`.")
    _training_options(tune)
    tune.add_argument("--trials", type=_positive_int, default=20,
                      help="finished trials the study should hold (default 20; a resumed study "
                           "counts the ones it has)")
    tune.add_argument("--workers", type=_positive_int, default=1,
                      help="processes running trials of the study at once (default 1)")
    tune.add_argument("--timeout", type=_positive_float, metavar="SECONDS",
                      help="start no trial after SECONDS (running ones finish)")
    tune.add_argument("--storage", metavar="URL",
                      help="SQLAlchemy URL of the study storage, e.g. postgresql://user:pw@host/db "
                           "(psycopg 3, the postgres extra), which the commands of several machines "
                           "can share (default: sqlite:///OUT/tune-PROBLEM-MODEL.db)")
    tune.add_argument("--study", metavar="NAME", help="study name (default PROBLEM-MODEL)")
    tune.add_argument("--epochs", type=_positive_int, help="epochs per trial (default: the recipe's)")
    tune.add_argument("--lr", type=_positive_float, help="fix the learning rate (not searched)")
    tune.add_argument("--schedule", help="fix the schedule: constant, step, cosine, onecycle")
    tune.add_argument("--out", type=Path, default=Path("runs"),
                      help="folder for the best run folder and the default storage (runs/)")
    tune.add_argument("--space", type=_space, action="append", default=[], metavar="NAME=VALUES",
                      help="also search a model option: NAME=V1,V2,... (one of the values) or "
                           "NAME=LOW:HIGH[:log] (whole numbers: an integer range, else uniform); "
                           "repeatable; a model class's SEARCH_SPACE states the same")
    tune.add_argument("--metric", help="the validation metric the trials are judged by, in its "
                      "direction (default: the problem's); one of the task's")
    tune.add_argument("--quiet", action="store_true", help="no per-trial lines")
    _tracking_options(tune)

    ensemble = sub.add_parser("ensemble", help="average the predictions of several runs of a problem",
                              description="Load each run's model (safetensors + JSON), predict the "
                              "test split of their common problem, average the probabilities "
                              "(classes) or values (regression, forecasts), and print each member's "
                              "test score, the ensemble's, and the gain over the best member.")
    ensemble.add_argument("runs", nargs="+", type=Path, metavar="RUN", help="run folders (2 or more)")
    ensemble.add_argument("--out", type=Path, metavar="FILE", help="write the result as JSON to FILE")
    ensemble.add_argument("--data-dir", type=Path, help="a folder holding the problem's data files")
    ensemble.add_argument("--no-download", action="store_true", help="never download data")

    # --- present: diagnose, report, export (deepstart/diagnose.py, report.py, export.py) ---
    diagnose = sub.add_parser("diagnose", help="say what limits a run and what to try next",
                              description="Compare a run's train, validation and test scores with "
                              "the best published (or spot-checked) score and the trivial baseline, "
                              "name the situation (high bias, high variance, validation/test "
                              "mismatch, below baseline, diverged, still improving, short of the "
                              "target, good fit) with "
                              "the numbers that show it, and list next steps as commands. The rules "
                              "are documented in deepstart/diagnose.py.")
    diagnose.add_argument("run", type=Path, metavar="RUN", help="a run folder")
    diagnose.add_argument("--metric", help="judge by this metric of the task (default: the one "
                          "the run was judged by, else the problem's); references in another "
                          "metric are then no target")
    diagnose.add_argument("--learning-curve", action="store_true",
                          help="also retrain the run's settings on growing shares of the training "
                               "rows and plot train/validation scores against the size")
    diagnose.add_argument("--sizes", type=_sizes_fraction, metavar="LIST",
                          help="with --learning-curve: shares of the training rows, e.g. "
                               "0.1,0.25,0.5,1 (default 0.1,0.2,0.4,0.7,1)")
    diagnose.add_argument("--epochs", type=_positive_int,
                          help="with --learning-curve: each point trains for the optimizer steps "
                               "of this many epochs on all the rows (default: the run's, at most 20)")
    report = sub.add_parser("report", help="write a self-contained HTML report of a run",
                            description="One HTML file per run, viewable offline (images embedded, "
                            "no scripts): data summary, model summary, learning curves, confusion "
                            "matrix and per-class scores (or residuals), worst mistakes, leaderboard "
                            "of the problem's latest evaluation, benchmark comparison, tuning plots, "
                            "diagnosis and next steps, and the facts to reproduce it.")
    report.add_argument("run", type=Path, metavar="RUN", help="a run folder")
    report.add_argument("--out", type=Path, metavar="FILE", help="where to write (RUN/report.html)")
    export = sub.add_parser("export", help="export a run's model to ONNX and its predictions to CSV",
                            description="Write RUN/model.onnx, which takes raw inputs (image "
                            "pixels as stored, a series' values, a table's columns by name) and "
                            "holds the preprocessing (checked with onnxruntime on the raw test "
                            "inputs against PyTorch: the largest difference and the test score "
                            "are printed; docs/export.md shows how to use it) and "
                            "RUN/predictions.csv for the test set; with --input FILE also "
                            "RUN/predictions-FILE.csv for the rows of a CSV table (runs on tables).")
    export.add_argument("run", type=Path, metavar="RUN", help="a run folder")
    export.add_argument("--opset", type=_positive_int, metavar="N",
                        help="ONNX opset version (default: the exporter's, printed)")
    export.add_argument("--input", type=Path, metavar="FILE",
                        help="a CSV table of raw rows to predict (columns by name)")

    portfolio = sub.add_parser("portfolio", help="build a static website of your projects, or preview it",
                               description="`deepstart portfolio build` turns run folders into a "
                               "static website: one card per project (best model, test score beside "
                               "the best published score and the baseline, learning curve), a page "
                               "per project listing its runs with their reports, an about "
                               "section from portfolio.toml, and notebooks as pages (--notebook). "
                               "Relative links only: it works from "
                               "file:// and any static host (GitHub Pages). `deepstart portfolio "
                               "serve` previews it on 127.0.0.1.")
    actions = portfolio.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser,
                                       required=True)
    build = actions.add_parser("build", help="write the site from run folders",
                               description="Write the site from run folders (default: every "
                               "finished run under ./runs), evaluation folders and notebooks, "
                               "shown with the outputs they were saved with; built in a temp "
                               "folder and renamed into place, so a failed build leaves the old "
                               "site as it was; the same run folders give the same bytes.")
    build.add_argument("runs", nargs="*", type=Path, metavar="RUN_DIR",
                       help="run folders, and `deepstart evaluate` folders for the leaderboards "
                            "(default: every finished run under runs/)")
    build.add_argument("--out", type=Path, default=Path("site"), help="the site's folder (site/)")
    build.add_argument("--about", type=Path, metavar="TOML",
                       help="name, bio and links for the about section (default: ./portfolio.toml "
                            "when it exists)")
    build.add_argument("--notebook", action="append", type=Path, dest="notebooks", metavar="PATH.ipynb",
                       help="a Jupyter notebook as a page of the site, with the outputs it was "
                            "saved with (nothing is run); repeatable")
    preview = actions.add_parser("serve", help="preview the built site in a browser",
                                 description="Serve the built site's folder over HTTP for a "
                                 "preview, on 127.0.0.1 unless --host says otherwise.")
    preview.add_argument("--dir", type=Path, default=Path("site"), help="the site's folder (site/)")
    preview.add_argument("--host", default="127.0.0.1",
                         help="address to listen on (default 127.0.0.1: this machine only)")
    preview.add_argument("--port", type=_port, default=8000,
                         help="port (default 8000; 0: any free port)")

    # --- serve: a local prediction API and page (deepstart/serve.py) ---
    runs = sub.add_parser("runs", help="list the run folders as a table, or compare runs",
                          description="`deepstart runs [DIR]`: a table of every run under DIR "
                          "(default runs/). `deepstart runs compare RUN RUN [...]`: settings that "
                          "differ, scores side by side, overlaid curves, and a paired test of each "
                          "run against the first on the same test rows. See docs/runs.md.")
    runs.add_argument("paths", nargs="*", metavar="DIR | compare RUN RUN",
                      help="a folder of runs (default runs/), or `compare` and 2+ run folders")
    runs.add_argument("--problem", help="list only runs of this problem")
    runs.add_argument("--model", help="list only runs of this model")
    runs.add_argument("--sort", choices=("test", "date", "time", "model"), default="date",
                      help="test: best first in the metric's direction (default: date)")
    runs.add_argument("--out", type=Path, metavar="FILE",
                      help="with compare: write the curves as FILE.png or a page FILE.html")
    serve = sub.add_parser("serve", help="a local prediction API and page for a finished run",
                           description="Load a finished run's model (safetensors + JSON, no "
                           "pickle) and answer POST /predict with JSON features by column name, "
                           "a PNG (base64, upload or body) or pixels, or a series window; GET / is "
                           "a page to draw on or fill in, with the live prediction. Listens on "
                           "127.0.0.1 unless --host says otherwise. The API: docs/serve.md.")
    serve.add_argument("run", type=Path, metavar="RUN", help="a finished run folder")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1: this machine only; "
                            "0.0.0.0 lets anyone on the network call it)")
    serve.add_argument("--port", type=_port, default=8000, help="port (default 8000; 0: a free one)")
    serve.add_argument("--max-body-mb", default=2.0, metavar="MB",
                       type=_number(float, lambda v: v >= 0.001, "megabytes, at least 0.001 (1 KB, "
                                    "a small PNG or a row of features)"),
                       help="largest request body accepted, in megabytes (default 2)")
    return parser


_port = _number(int, lambda v: 0 <= v <= 65535, "a port number from 0 to 65535")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    if args.version:
        from deepstart import __version__

        print(f"deepstart {__version__}")
        return 0
    if args.command is None:
        build_parser().print_help()
        return 0
    from deepstart.errors import DeepstartError

    # In a torchrun launch every process would say the same thing: let each machine's first
    # process speak (on several machines an error may be one machine's: its data, its folder).
    speaks = os.environ.get("LOCAL_RANK", "0") == "0"
    try:
        return {"run": _cmd_run, "lr-find": _cmd_lr_find, "show": _cmd_show,
                "problems": _cmd_problems, "models": _cmd_models, "evaluate": _cmd_evaluate,
                "tune": _cmd_tune,
                "ensemble": _cmd_ensemble, "diagnose": _cmd_diagnose, "report": _cmd_report,
                "export": _cmd_export, "portfolio": _cmd_portfolio,
                "serve": _cmd_serve, "runs": _cmd_runs}[args.command](args)
    except DeepstartError as e:
        if speaks:
            sys.stderr.write(f"deepstart: error: {e}\n")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:  # outside training (loading data, writing): nothing to resume
        if speaks:
            sys.stderr.write("deepstart: interrupted\n")
        return EXIT_INTERRUPTED


def _config(args, **fixed):
    """The problem's recipe with the options given on the command line on top."""
    from deepstart.run import RunConfig

    options = {k: v for k, v in (("hidden", args.hidden), ("activation", args.activation),
                                 ("dropout", args.dropout)) if v is not None}
    options |= dict(args.option)
    given = {name: getattr(args, name, None) for name in (
        "model", "epochs", "batch_size", "lr", "optimizer", "val_split", "lookback", "scale",
        "seed", "weight_decay", "schedule", "clip_grad", "label_smoothing", "device", "precision",
        "augment", "tta")}
    given["warmup_epochs"] = getattr(args, "warmup", None)
    given["compile"] = getattr(args, "compile", None) or None
    given["paper_score"] = getattr(args, "paper_score", None)
    given["metric"] = getattr(args, "metric", None)
    given["patience"] = getattr(args, "patience", None)
    given["freeze"] = args.freeze or None
    given["frozen"] = args.frozen or None
    given["unfreeze_after"] = args.unfreeze_after
    # absolute, as a problem's path: the suggested commands work from any folder
    given["weights"] = str(Path(args.weights).absolute()) if args.weights else None
    # --log, --mlflow-uri (run, tune): a relative SQLite store made absolute, so --resume from
    # another folder logs to the same one
    from deepstart.tracking import absolute_uri, parse_log

    logs = parse_log(",".join(getattr(args, "log", None) or []))
    given["log"] = ",".join(logs) or None
    given["mlflow_uri"] = (absolute_uri(args.mlflow_uri) if "mlflow" in logs
                           else getattr(args, "mlflow_uri", None))
    data_options = {name: getattr(args, name, None) for name in (
        "target", "task", "forecast", "horizon", "season", "image_size", "color", "strict",
        "decimal", "sequence", "features_per_step", "length", "text")}
    data_options = {k: v for k, v in data_options.items() if v is not None and v is not False}
    config = RunConfig.for_problem(args.problem or "digits", data_options=data_options,
                                   model_options=options or None, **given, **fixed)
    config.command = shlex.join(["deepstart", *args.argv])
    return config


def _cmd_run(args) -> int:
    _log_for_torchrun(args)
    from deepstart import distributed
    from deepstart.console import console
    from deepstart.learner import TrainingInterrupted
    from deepstart.problems.user import looks_like_path
    from deepstart.run import resume, run

    nnodes = args.nnodes or 1
    if not distributed.launched_by_torchrun():
        distributed.check_nodes(nnodes, args.node_rank, args.master_addr, args.master_port)
    if (nnodes > 1 or (args.nproc or 1) > 1) and not distributed.launched_by_torchrun():
        # Start the same command in N processes (on this machine) under torchrun, which sets up
        # the rendezvous.
        distributed.check_nproc(args.nproc or 1, args.device or "auto")
        if nnodes > 1:  # node 0 waits for the others in silence otherwise
            from deepstart.console import console

            console.print(f"node {args.node_rank} of {nnodes}: {args.nproc or 1} process(es) "
                          f"here; meeting the other {nnodes - 1} node(s) at {args.master_addr}:"
                          f"{args.master_port or distributed.MASTER_PORT} (each runs this command "
                          "with its own --node-rank)", soft_wrap=True, highlight=False)
        return distributed.launch(distributed.torchrun_command(
            args.nproc or 1, args.argv, nnodes, args.node_rank, args.master_addr, args.master_port))
    if distributed.launched_by_torchrun():
        here = os.environ.get("LOCAL_WORLD_SIZE", os.environ["WORLD_SIZE"])  # on this machine
        if args.nproc and args.nproc != int(here):
            from deepstart.errors import DeepstartError

            raise DeepstartError(f"--nproc {args.nproc} disagrees with torchrun's {here} "
                                 "processes on this machine; drop --nproc under torchrun.")
        distributed.init_from_env(args.device or "auto")
    verbose = 0 if args.quiet else 1
    finished = False
    try:
        if args.resume is not None:
            if args.problem is not None:
                from deepstart.errors import DeepstartError

                raise DeepstartError("--resume continues the run's own problem; drop the problem "
                                     f"name '{args.problem}' or start a new run without --resume.")
            folder = resume(args.resume, epochs=args.epochs, data_dir=args.data_dir,
                            download=not args.no_download, verbose=verbose)
        else:
            config = _config(args)
            if distributed.launched_by_torchrun():  # each machine types its own command
                import dataclasses

                distributed.check_same({k: v for k, v in dataclasses.asdict(config).items()
                                        if k not in ("command", "weights")})
            own_data = looks_like_path(config.problem, check_disk=False)
            standardised = (config.scale or "standard") == "standard"

            def report(problem):  # once the model is built, before training (rank 0 only)
                if own_data:
                    from deepstart.present import print_data_report

                    print_data_report(problem, standardised=standardised)
                _say_custom(config, problem.name, console)
            folder = run(config, out=args.out, data_dir=args.data_dir,
                         download=not args.no_download, verbose=verbose, on_data=report)
        finished = True
    except TrainingInterrupted as e:
        if e.checkpoint is not None:  # rank 0 of a multi-process run, or a single process
            console.print(f"\ninterrupted; saved the state after epoch {e.epoch} to "
                          f"{e.checkpoint.parent}.")
            console.print(f"resume with: deepstart run --resume {e.checkpoint.parent}")
        return EXIT_INTERRUPTED
    finally:
        distributed.shutdown(wait_for_all=finished)
    if folder is None:  # not rank 0: it trained, rank 0 writes and reports
        rank, nodes = distributed.node()
        if rank > 0 and os.environ.get("LOCAL_RANK") == "0":  # this machine's user hears of it
            console.print(f"node {rank} of {nodes}: trained; node 0 "
                          f"({os.environ.get('MASTER_ADDR')}) wrote the run folder and its scores",
                          highlight=False)
        return 0
    from deepstart.present import print_result

    return 0 if print_result(folder) == "finished" else EXIT_RUN_FAILED


def _say_custom(config, problem: str, console) -> None:
    """For the user's own class: where its training settings come from, and that loading the run
    runs the class's file (the one place the run's output says so)."""
    from deepstart.models.custom import is_reference, parse

    if not is_reference(config.model):
        return
    path, module, cls = parse(config.model)
    settings = ", ".join(f"{k} {getattr(config, k)}" for k in (
        "epochs", "batch_size", "lr", "optimizer", "schedule", "weight_decay") if getattr(config, k))
    console.print(f"{cls} has no recipe of its own: it trains with the training settings of "
                  f"{problem}'s default recipe, your flags on top: {settings}.",
                  highlight=False, soft_wrap=True)
    console.print(f"note: this run imports {path or module}, and so will every command that loads "
                  "it (report, export, serve, ...): that runs your own code.", highlight=False,
                  soft_wrap=True)


def _cmd_lr_find(args) -> int:
    from deepstart.console import console
    from deepstart.run import _learner, check_writable, model_label

    config = _config(args)
    config.validate()
    check_writable(args.out)
    learner = _learner(config, 0, args.data_dir, not args.no_download)
    result = learner.find_lr(start_lr=args.start_lr, end_lr=args.end_lr, steps=args.steps)
    args.out.mkdir(parents=True, exist_ok=True)
    name = learner.problem.name  # a path's problem is named after the file
    path = result.plot(args.out / f"lr-find-{name}-{model_label(config.model)}.png",
                       title=f"learning-rate range test: {name}, {config.model}, "
                             f"{config.optimizer}, batch {config.batch_size}")
    console.print(f"suggested learning rate: [bold]{result.suggestion:.2g}[/bold] "
                  f"({result.rule}: the minimum is at {result.lr_at_minimum:.2g}); "
                  f"steepest descent at {result.steepest:.2g}", soft_wrap=True)
    console.print(f"swept {len(result.lrs)} batches from {result.lrs[0]:.2g} to {result.lrs[-1]:.2g}, "
                  f"training {result.part}; plot: {path}", soft_wrap=True)
    if learner.pretrained and learner.body_frozen(0) and not (config.freeze or config.frozen):
        console.print("the run trains the whole net after its frozen epochs: sweep that with "
                      "--unfreeze-after 0", soft_wrap=True)
    from dataclasses import asdict

    from deepstart.diagnose import RunFacts

    # the run with the suggested rate and every other setting of this command
    facts = RunFacts(metric="", greater_is_better=True, train=None, val=None, test=None,
                     problem=args.problem or config.problem,  # the path as the user typed it
                     data_options=config.data_options, model=config.model,
                     config=asdict(config), out=str(args.out))
    console.print(f"try: {facts.command(lr=float(f'{result.suggestion:.2g}'))}", soft_wrap=True)
    return 0


def _cmd_show(args) -> int:
    from deepstart.console import console
    from deepstart.summary import draw_graph, draw_network, print_summary, why_not_neurons

    if args.draw:  # before the work: a drawing that cannot be written fails first
        from deepstart.run import check_writable

        check_writable(args.draw.parent, what=f"the drawing {args.draw}", flag="--draw",
                       create=False)
    folder = Path(args.name)
    if any((folder / n).exists() for n in ("model.json", "model.safetensors", "config.json")):
        # a run folder: the trained weights (a file of them missing is named by the reader)
        from deepstart.models import load_model
        from deepstart.record import read_spec

        read_spec(folder / "model.json")  # with what the summary needs: the input shape
        model, spec = load_model(folder)
        shape, names, title = tuple(spec["input_shape"]), spec.get("feature_names", ()), str(folder)
    else:
        from deepstart.models import build_model
        from deepstart.prepare import prepare
        from deepstart.problems import get_problem
        from deepstart.run import RunConfig

        problem = get_problem(args.problem)
        # the model `run PROBLEM --model NAME` trains: the recipe's options, then the flags
        config = RunConfig.for_problem(args.problem, model=args.name)
        data = prepare(problem.load(), problem, val_split=0.0, lookback=config.lookback,
                       scale=config.scale)
        options = config.model_options | {k: v for k, v in (
            ("hidden", args.hidden), ("activation", args.activation)) if v is not None} | dict(args.option)
        model = build_model(args.name, data.input_shape, data.n_outputs, data.task, text=data.text,
                            **options)
        shape, names = data.input_shape, data.feature_names
        shown = " ".join(f"{k}={v}" for k, v in options.items())
        title = f"{args.name} for {problem.name}" + (f" ({shown})" if shown else "")
    print_summary(model, shape, title=title)
    if args.draw and (args.style or ("graph" if why_not_neurons(model) else "neurons")) == "neurons":
        console.print(f"drawing: {draw_network(model, args.draw, tuple(names))}")
    elif args.draw:
        graph, sizing = draw_graph(model, shape, args.draw, title, depth=args.depth)
        console.print(f"drawing: {args.draw} ({len(graph.nodes)} boxes, traced by "
                      f"{graph.traced_by}; {sizing})", soft_wrap=True)
    return 0


def _cmd_problems(args) -> int:
    from deepstart.errors import DataError, DeepstartError
    from deepstart.present import KIND_TITLES, print_problem, print_problems
    from deepstart.problems.catalog import PROBLEMS

    kind = {"table": "tabular"}.get(args.kind, args.kind)
    if args.name in PROBLEMS and not (args.kind or args.task):
        from deepstart.problems import materialized

        try:  # built from its data where it is here: the sizes of its encoded features
            problem = materialized(PROBLEMS[args.name])
        except DataError:  # not on this machine: the entry says how to get it
            problem = PROBLEMS[args.name]
        print_problem(problem)
        return 0
    if print_problems(kind, args.task, args.name) == 0:
        asked = " and ".join(f"{flag} {value}" for flag, value in (
            ("--kind", args.kind), ("--task", args.task)) if value)
        word = f" matching {args.name!r}" if args.name else ""
        raise DeepstartError(f"no built-in problem{word}{' with ' + asked if asked else ''}; "
                             f"`deepstart problems` lists all {len(PROBLEMS)} "
                             f"({', '.join(KIND_TITLES.values())}).")
    return 0


def _cmd_models(args) -> int:
    from deepstart.models.listing import print_model, print_models

    print_model(args.name) if args.name else print_models()
    return 0


def _own_data_options(p: argparse.ArgumentParser) -> None:
    """The data options of `run` for your own data (same flags, same meaning)."""
    own = p.add_argument_group("your own data (PROBLEM is a CSV file or a folder of images or "
                               ".txt files)")
    own.add_argument("--target", metavar="COLUMN",
                     help="CSV table: the column to predict from the other columns")
    own.add_argument("--task", choices=("binary", "multiclass", "regression"),
                     help="CSV table: the task, instead of inferring it from the target")
    own.add_argument("--decimal", choices=(",", "."), metavar="MARK",
                     help="CSV: the decimal mark, ',' or '.'; ',' reads 6,0 as 6.0 (default: decimal "
                          "commas are read as numbers in files separated by ; tab or |)")
    own.add_argument("--text", metavar="COLUMN[,COLUMN]",
                     help="CSV table: read these columns as text (tokenized), whatever the rule says "
                          "(by default a column is text when its median value has >= 4 words and "
                          ">= 50%% of its values are distinct)")
    own.add_argument("--forecast", metavar="COLUMN", help="CSV series: the numeric column to forecast")
    own.add_argument("--horizon", type=_positive_int, metavar="H",
                     help="series: predict the value H steps after each window (default 1)")
    own.add_argument("--season", type=_positive_int, metavar="M",
                     help="series: season length for the seasonal-naive baseline (default: from the "
                          "dates, e.g. 12 for monthly, or detected)")
    own.add_argument("--sequence", action="store_true",
                     help="CSV table with --target: each row is one sequence, every other column a "
                          "time step in file order (a folder of CSV series, one file per example, "
                          "is read as sequences without it)")
    own.add_argument("--features-per-step", type=_positive_int, metavar="K",
                     help="--sequence: K consecutive columns make one step (default 1)")
    own.add_argument("--length", type=_positive_int, metavar="STEPS",
                     help="sequences: pad (at the start, repeating the first step) or cut (keeping "
                          "the last steps) to STEPS (default: the longest)")
    own.add_argument("--image-size", type=_positive_int, metavar="SIDE",
                     help="images: resize to SIDE x SIDE (default: the most common size)")
    own.add_argument("--color", choices=("grey", "rgb"),
                     help="images: colour mode (default: grey when every image is grey)")
    own.add_argument("--strict", action="store_true",
                     help="images: fail on unreadable files instead of listing and skipping them")


def _cmd_evaluate(args) -> int:
    from deepstart.console import console
    from deepstart.evaluate import (EvaluationInterrupted, evaluate, parse_algorithms,
                                    print_leaderboard, save)
    from deepstart.run import check_writable

    names = parse_algorithms(args.algorithms) if args.algorithms is not None else None
    check_writable(args.out)
    data_options = {name: getattr(args, name) for name in (
        "target", "task", "forecast", "horizon", "season", "image_size", "color", "strict",
        "decimal", "sequence", "features_per_step", "length", "text")}
    data_options = {k: v for k, v in data_options.items() if v is not None and v is not False}
    try:
        record = evaluate(args.problem, algorithms=names, folds=args.folds, holdout=args.holdout,
                          limit=args.limit, budget=args.budget, epochs=args.epochs,
                          lookback=args.lookback, seed=args.seed, device=args.device,
                          data_options=data_options, data_dir=args.data_dir,
                          download=not args.no_download, verbose=0 if args.quiet else 1,
                          command=shlex.join(["deepstart", *args.argv]))
    except EvaluationInterrupted as e:  # keep what finished: the rest is listed as skipped
        folder = save(e.record, args.out)
        print_leaderboard(e.record, folder)
        console.print("interrupted: the algorithms that had not finished are listed as skipped.")
        return EXIT_INTERRUPTED
    folder = save(record, args.out)
    print_leaderboard(record, folder)
    return 0


# --- improve: tune and ensemble ---
# A searched parameter is left out of the search when one of these settings is given.
_TUNE_FIXABLE = ("lr", "batch_size", "weight_decay", "schedule", "dropout", "hidden")


def _cmd_tune(args) -> int:
    from deepstart.console import console
    from deepstart.present import print_result
    from deepstart.tune import tune

    config = _config(args)
    fixed = {name for name in _TUNE_FIXABLE if getattr(args, name, None) is not None}
    fixed |= {key for key, _ in args.option}
    try:
        result = tune(config, trials=args.trials, workers=args.workers, timeout=args.timeout,
                      storage=args.storage, study_name=args.study, fixed=fixed, out=args.out,
                      data_dir=args.data_dir, download=not args.no_download,
                      verbose=0 if args.quiet else 1, space=dict(args.space))
    except KeyboardInterrupt:
        console.print("\ninterrupted; the study keeps its finished trials (the running ones are "
                      "marked failed): run the same command again to resume it.")
        return EXIT_INTERRUPTED
    if result.folder is None:
        stopped = [c for c in result.worker_codes if c != 0]
        why = (f"{result.complete} complete of {result.finished} finished trials"
               + (f"; worker exit codes {', '.join(map(str, stopped))}" if stopped else ""))
        console.print(f"study {result.study_name} in {result.storage}: {why}, short of "
                      f"--trials {args.trials}; nothing retrained. Run the same command again to "
                      "resume it.", soft_wrap=True)
        return EXIT_RUN_FAILED
    status = print_result(result.folder)
    console.print(f"tuning record: {result.folder / 'tuning'} ({result.finished} finished trials "
                  f"in {result.study_name}, {result.storage})", soft_wrap=True)
    console.print(f"the best trial as a run: {result.best_command}", soft_wrap=True, markup=False)
    return 0 if status == "finished" else EXIT_RUN_FAILED


def _cmd_ensemble(args) -> int:
    from deepstart.console import console
    from deepstart.ensemble import ensemble, print_ensemble

    if args.out is not None:
        from deepstart.run import check_writable

        check_writable(args.out if args.out.is_dir() else args.out.parent)
    result = ensemble(args.runs, data_dir=args.data_dir, download=not args.no_download)
    print_ensemble(result)
    if args.out is not None:
        from deepstart.files import write_json

        out = args.out / "ensemble.json" if args.out.is_dir() else args.out
        out.parent.mkdir(parents=True, exist_ok=True)
        write_json(out, result)
        console.print(f"written: {out}")
    return 0


def _cmd_diagnose(args) -> int:
    from deepstart.diagnose import diagnose_folder
    from deepstart.present import print_diagnosis

    if (args.sizes or args.epochs) and not args.learning_curve:
        from deepstart.errors import DeepstartError

        raise DeepstartError("--sizes and --epochs shape the learning curve; add --learning-curve.")
    print_diagnosis(diagnose_folder(args.run, metric=args.metric))
    if args.learning_curve:
        from deepstart.learning_curve import print_learning_curve, learning_curve

        print_learning_curve(learning_curve(args.run, shares=args.sizes, epochs=args.epochs))
    return 0


def _cmd_report(args) -> int:
    from deepstart.console import console
    from deepstart.report import write_report

    path = write_report(args.run, args.out)
    unfinished = not (args.run / "metrics.json").is_file()
    console.print(f"report: {path} ({path.stat().st_size / 1024:.0f} KB, self-contained: open it "
                  "in any browser, offline)" + ("; the run has not finished, and the report says so"
                                                if unfinished else ""), soft_wrap=True)
    return 0


def _cmd_export(args) -> int:
    from deepstart.console import console
    from deepstart.export import ExportCheckFailed, export_run

    try:
        r = export_run(args.run, opset=args.opset, input_csv=args.input)
    except ExportCheckFailed as e:
        sys.stderr.write(f"deepstart: export check failed: {e}\n")
        return EXIT_RUN_FAILED
    inputs = ", ".join(r.inputs[:8]) + (f" and {len(r.inputs) - 8} more" if len(r.inputs) > 8 else "")
    console.print(f"{r.onnx_path}: ONNX opset {r.opset}, dynamic batch axis, raw inputs {inputs}; "
                  f"onnxruntime on the {r.checked_rows} raw test inputs against PyTorch on the "
                  f"prepared ones: max abs difference {r.max_abs_diff:.2g} (output scale "
                  f"{r.output_scale:.3g}), {r.metric} from onnxruntime's outputs {r.onnx_score:.4f} "
                  f"(metrics.json: {r.recorded:.4f})",
                  soft_wrap=True, highlight=False)
    if r.tokenizer_path is not None:
        console.print(f"{r.tokenizer_path}: the tokenizer that turns texts into the input_ids "
                      "(tokenizers.Tokenizer.from_file; docs/export.md)", soft_wrap=True,
                      highlight=False)
    console.print(f"{r.predictions_path}: {r.rows} test rows; {r.metric} from them {r.recomputed:.4f} "
                  f"(metrics.json: {r.recorded:.4f})", soft_wrap=True, highlight=False)
    if r.input_predictions is not None:
        console.print(f"{r.input_predictions}: {r.input_rows} rows of {args.input}", soft_wrap=True,
                      highlight=False)
    return 0


def _cmd_portfolio(args) -> int:
    if args.action == "serve":
        return _serve_portfolio(args)
    from deepstart.console import console
    from deepstart.portfolio import build

    result = build(args.runs, out=args.out, about=args.about, notebooks=args.notebooks or ())
    reports = f"{result.copied} copied, {result.rendered} rendered"
    notebooks = f", {_count(result.notebooks, 'notebook')}" if result.notebooks else ""
    console.print(f"portfolio: {result.out}/index.html ({_count(result.projects, 'project')}, "
                  f"{_count(result.runs, 'run')}{notebooks}; reports: {reports}, "
                  f"{len(result.without_report)} without)", soft_wrap=True)
    for name, why in result.without_report + result.notebook_notes:
        console.print(f"  {name}: {why}", soft_wrap=True)
    console.print(f"preview: deepstart portfolio serve --dir {shlex.quote(str(result.out))}",
                  soft_wrap=True)
    return 0


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _serve_portfolio(args) -> int:
    from deepstart.portfolio import make_server
    from deepstart.serve import is_loopback

    server = make_server(args.dir, args.host, args.port)
    host, port = server.server_address[:2]
    if not is_loopback(args.host):
        sys.stderr.write(f"deepstart: warning: listening on {args.host}: other machines on the "
                         "network can read the site; --host 127.0.0.1 keeps it on this one.\n")
    url_host = f"[{host}]" if ":" in host else host
    print(f"serving {args.dir} at http://{url_host}:{port}/ (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:  # the way a preview ends: not an error
        pass
    finally:
        server.server_close()
    return 0


def _cmd_runs(args) -> int:
    from deepstart.compare import compare, list_runs, print_compare, print_runs

    if args.paths[:1] == ["compare"]:
        print_compare(compare([Path(p) for p in args.paths[1:]]), args.out)
        return 0
    if len(args.paths) > 1:
        from deepstart.errors import DeepstartError

        raise DeepstartError("pass one folder of runs, or `compare` followed by run folders.")
    folder = Path(args.paths[0] if args.paths else "runs")
    print_runs(folder, list_runs(folder, problem=args.problem, model=args.model, sort=args.sort))
    return 0


def _cmd_serve(args) -> int:
    from deepstart.serve import serve

    return serve(args.run, host=args.host, port=args.port,
                 max_body_bytes=int(args.max_body_mb * 1_000_000))


def _sizes_fraction(text: str) -> list[float]:
    try:
        shares = [float(s) for s in text.split(",") if s.strip()]
    except ValueError:
        shares = []
    if len(shares) < 2 or not all(0 < v <= 1 for v in shares):
        raise argparse.ArgumentTypeError(f"expected two or more shares in (0, 1] like 0.1,0.5,1; "
                                         f"received {text!r}")
    return sorted(set(shares))


if __name__ == "__main__":
    sys.exit(main())
