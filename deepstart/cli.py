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
import subprocess
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


def _model_option(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, e.g. depth=20; received {text!r}")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value  # a bare word, e.g. cell=gru


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
                   help="a built-in problem name (default: digits), a CSV file, or a folder of images")
    p.add_argument("--model", help="model family: perceptron, linear, logistic, mlp, convnet, resnet, googlenet, lstm, gru")
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
    p.add_argument("--seed", type=int, help="random seed (default 0): same seed, same result on CPU")
    p.add_argument("--data-dir", type=Path, help="a folder holding the problem's data files")
    p.add_argument("--no-download", action="store_true", help="never download data")
    own = p.add_argument_group("your own data (PROBLEM is a CSV file or a folder of images)")
    own.add_argument("--target", metavar="COLUMN",
                     help="CSV table: the column to predict from the other columns")
    own.add_argument("--task", choices=("binary", "multiclass", "regression"),
                     help="CSV table: the task, instead of inferring it from the target")
    own.add_argument("--forecast", metavar="COLUMN", help="CSV series: the numeric column to forecast")
    own.add_argument("--horizon", type=_positive_int, metavar="H",
                     help="series: predict the value H steps after each window (default 1)")
    own.add_argument("--season", type=_positive_int, metavar="M",
                     help="series: season length for the seasonal-naive baseline (default: from the "
                          "dates, e.g. 12 for monthly, or detected)")
    own.add_argument("--image-size", type=_positive_int, metavar="SIDE",
                     help="images: resize to SIDE x SIDE (default: the most common size)")
    own.add_argument("--color", choices=("grey", "rgb"),
                     help="images: colour mode (default: grey when every image is grey)")
    own.add_argument("--strict", action="store_true",
                     help="images: fail on unreadable files instead of listing and skipping them")


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
                         "FOLDER` (images, one sub-folder per class), `deepstart run series.csv "
                         "--forecast COLUMN --horizon H` (a series, beside the persistence and "
                         "seasonal-naive baselines). Unset options come from the problem's recipe "
                         "(see `deepstart problems NAME`).")
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
    run.add_argument("--compile", action="store_true",
                     help="torch.compile the model (compile time is reported separately)")
    run.add_argument("--nproc", type=_positive_int,
                     help="train on N processes with DistributedDataParallel (launches torchrun)")
    run.add_argument("--out", type=Path, default=Path("runs"), help="folder for run folders (runs/)")
    run.add_argument("--resume", type=Path, metavar="RUN",
                     help="continue an interrupted run folder from its checkpoint")
    run.add_argument("--quiet", action="store_true", help="no per-epoch lines")

    lr_find = sub.add_parser("lr-find", help="sweep the learning rate and suggest one",
                             description="The learning-rate range test: train a few batches with "
                             "the learning rate growing from --start-lr to --end-lr, plot the "
                             "loss against it, and suggest the rate at the loss minimum / 10.")
    _training_options(lr_find)
    lr_find.add_argument("--start-lr", type=_positive_float, default=1e-7)
    lr_find.add_argument("--end-lr", type=_positive_float, default=10.0)
    lr_find.add_argument("--steps", type=_positive_int, default=100)
    lr_find.add_argument("--out", type=Path, default=Path("runs"), help="folder for the plot (runs/)")

    show = sub.add_parser("show", help="show a model: summary table, and a drawing of small networks",
                          description="`deepstart show model NAME --problem P` builds a zoo model "
                          "for a problem's inputs; `deepstart show model RUN` shows a trained one. "
                          "Prints layer, output shape and parameters; --draw writes the course-style "
                          "picture of a small network (PNG, SVG or PDF).")
    show.add_argument("what", choices=("model",))
    show.add_argument("name", help="a zoo model name, or a run folder")
    show.add_argument("--problem", default="digits", help="whose inputs and outputs (default digits)")
    show.add_argument("--hidden", type=_sizes, help="MLP hidden layer sizes, e.g. 4,3")
    show.add_argument("--activation", help="activation: identity, step, sigmoid, tanh, relu")
    show.add_argument("--option", type=_model_option, action="append", default=[],
                      metavar="KEY=VALUE", help="another setting of the model's config (JSON value)")
    show.add_argument("--draw", type=Path, metavar="FILE", help="draw the network to FILE")

    problems = sub.add_parser("problems", help="list the built-in problems and their references",
                              description="List built-in problems: task, size, data source, "
                              "whether the data is on this machine now, published reference scores.")
    problems.add_argument("name", nargs="?", help="show one problem in full")

    evaluate = sub.add_parser(
        "evaluate", help="spot-check several algorithms on the same folds: leaderboard and box plot",
        description="Spot-check a sensible set of algorithms on one problem, every one on the same "
        "folds: tables (baseline, logistic or linear, knn, random-forest, gradient-boosting, "
        "sklearn-mlp, mlp), images (baseline, logistic, mlp, convnet), series (persistence, "
        "seasonal-naive, linear, mlp, lstm). Stratified 10-fold cross-validation under 5,000 rows, "
        "the canonical hold-out split above, walk-forward for series. Prints a leaderboard beside "
        "the best published score and writes runs/<date>-<problem>-evaluate-<n>/ (evaluation.json, "
        "leaderboard.csv, boxplot.png).")
    evaluate.add_argument("problem", help="a built-in problem name, a CSV file, or a folder of images")
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
    evaluate.add_argument("--seed", type=_number(int, lambda v: v >= 0, "an integer >= 0"),
                          default=0, help="shuffles the folds and seeds every algorithm (default 0)")
    evaluate.add_argument("--device", default="auto", help="for the networks: auto, cpu, cuda, mps")
    evaluate.add_argument("--out", type=Path, default=Path("runs"),
                          help="folder for the evaluation folder (runs/)")
    evaluate.add_argument("--data-dir", type=Path, help="a folder holding the problem's data files")
    evaluate.add_argument("--no-download", action="store_true", help="never download data")
    evaluate.add_argument("--quiet", action="store_true", help="no line per algorithm")
    _own_data_options(evaluate)
    return parser


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

    # In a torchrun launch every process would say the same thing: let rank 0 speak.
    speaks = os.environ.get("RANK", "0") == "0"
    try:
        return {"run": _cmd_run, "lr-find": _cmd_lr_find, "show": _cmd_show,
                "problems": _cmd_problems, "evaluate": _cmd_evaluate}[args.command](args)
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
        "augment")}
    given["warmup_epochs"] = getattr(args, "warmup", None)
    given["compile"] = getattr(args, "compile", None) or None
    data_options = {name: getattr(args, name, None) for name in (
        "target", "task", "forecast", "horizon", "season", "image_size", "color", "strict")}
    data_options = {k: v for k, v in data_options.items() if v is not None and v is not False}
    config = RunConfig.for_problem(args.problem or "digits", data_options=data_options,
                                   model_options=options or None, **given, **fixed)
    config.command = shlex.join(["deepstart", *args.argv])
    return config


def _cmd_run(args) -> int:
    from deepstart import distributed
    from deepstart.console import console
    from deepstart.learner import TrainingInterrupted
    from deepstart.problems.user import looks_like_path
    from deepstart.run import resume, run

    if args.nproc and args.nproc > 1 and not distributed.launched_by_torchrun():
        # Start the same command in N processes under torchrun, which sets up the rendezvous.
        distributed.check_nproc(args.nproc, args.device or "auto")
        return subprocess.call(distributed.torchrun_command(args.nproc, args.argv))
    if distributed.launched_by_torchrun():
        if args.nproc and args.nproc != int(os.environ["WORLD_SIZE"]):
            from deepstart.errors import DeepstartError

            raise DeepstartError(f"--nproc {args.nproc} disagrees with torchrun's "
                                 f"{os.environ['WORLD_SIZE']} processes; drop --nproc under torchrun.")
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
            report = None
            if looks_like_path(config.problem, check_disk=False):  # the user's own data
                from deepstart.present import print_data_report

                standardised = (config.scale or "standard") == "standard"

                def report(problem):
                    print_data_report(problem, standardised=standardised)
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
        return 0
    from deepstart.present import print_result

    return 0 if print_result(folder) == "finished" else EXIT_RUN_FAILED


def _cmd_lr_find(args) -> int:
    from deepstart.console import console
    from deepstart.run import _learner, check_writable

    config = _config(args)
    config.validate()
    check_writable(args.out)
    learner = _learner(config, 0, args.data_dir, not args.no_download)
    result = learner.find_lr(start_lr=args.start_lr, end_lr=args.end_lr, steps=args.steps)
    args.out.mkdir(parents=True, exist_ok=True)
    name = learner.problem.name  # a path's problem is named after the file
    path = result.plot(args.out / f"lr-find-{name}-{config.model}.png",
                       title=f"learning-rate range test: {name}, {config.model}, "
                             f"{config.optimizer}, batch {config.batch_size}")
    console.print(f"suggested learning rate: [bold]{result.suggestion:.2g}[/bold] "
                  f"({result.rule}: the minimum is at {result.lr_at_minimum:.2g}); "
                  f"steepest descent at {result.steepest:.2g}", soft_wrap=True)
    console.print(f"swept {len(result.lrs)} batches from {result.lrs[0]:.2g} to {result.lrs[-1]:.2g}; "
                  f"plot: {path}")
    from deepstart.problems.user import FLAGS

    data_flags = [part for k, v in config.data_options.items()
                  for part in ([FLAGS[k]] if v is True else [FLAGS[k], str(v)])]
    again = ["deepstart", "run", args.problem or "digits", *data_flags, "--model", config.model,
             "--lr", f"{result.suggestion:.2g}"]
    console.print(f"try: {shlex.join(again)}", soft_wrap=True)
    return 0


def _cmd_show(args) -> int:
    from deepstart.console import console
    from deepstart.summary import draw_network, print_summary

    folder = Path(args.name)
    if (folder / "model.json").is_file():  # a run folder: the trained weights
        from deepstart.models import load_model

        model, spec = load_model(folder)
        shape, names, title = tuple(spec["input_shape"]), spec.get("feature_names", ()), str(folder)
    else:
        from deepstart.models import build_model
        from deepstart.prepare import prepare
        from deepstart.problems import get_problem

        problem = get_problem(args.problem)
        data = prepare(problem.load(), problem, val_split=0.0, lookback=problem.recipe.get("lookback"))
        options = {k: v for k, v in (("hidden", args.hidden), ("activation", args.activation))
                   if v is not None} | dict(args.option)
        model = build_model(args.name, data.input_shape, data.n_outputs, data.task, **options)
        shape, names = data.input_shape, data.feature_names
        title = f"{args.name} for {problem.name}"
    print_summary(model, shape, title=title)
    if args.draw:
        console.print(f"drawing: {draw_network(model, args.draw, tuple(names))}")
    return 0


def _cmd_problems(args) -> int:
    from deepstart.present import print_problem, print_problems

    if args.name:
        from deepstart.problems import get_problem

        print_problem(get_problem(args.name))
    else:
        print_problems()
    return 0


def _own_data_options(p: argparse.ArgumentParser) -> None:
    """The data options of `run` for your own data (same flags, same meaning)."""
    own = p.add_argument_group("your own data (PROBLEM is a CSV file or a folder of images)")
    own.add_argument("--target", metavar="COLUMN",
                     help="CSV table: the column to predict from the other columns")
    own.add_argument("--task", choices=("binary", "multiclass", "regression"),
                     help="CSV table: the task, instead of inferring it from the target")
    own.add_argument("--forecast", metavar="COLUMN", help="CSV series: the numeric column to forecast")
    own.add_argument("--horizon", type=_positive_int, metavar="H",
                     help="series: predict the value H steps after each window (default 1)")
    own.add_argument("--season", type=_positive_int, metavar="M",
                     help="series: season length for the seasonal-naive baseline")
    own.add_argument("--image-size", type=_positive_int, metavar="SIDE",
                     help="images: resize to SIDE x SIDE (default: the most common size)")
    own.add_argument("--color", choices=("grey", "rgb"), help="images: colour mode")
    own.add_argument("--strict", action="store_true",
                     help="images: fail on unreadable files instead of skipping them")


def _cmd_evaluate(args) -> int:
    from deepstart.console import console
    from deepstart.evaluate import (EvaluationInterrupted, evaluate, parse_algorithms,
                                    print_leaderboard, save)
    from deepstart.run import check_writable

    names = parse_algorithms(args.algorithms) if args.algorithms is not None else None
    check_writable(args.out)
    data_options = {name: getattr(args, name) for name in (
        "target", "task", "forecast", "horizon", "season", "image_size", "color", "strict")}
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


if __name__ == "__main__":
    sys.exit(main())
