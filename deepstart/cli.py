"""The `deepstart` command: one subcommand per user job. Nothing imports this module.

Only argparse is imported at start-up; torch, numpy and the catalog load inside the subcommand that
needs them, so `deepstart --help` answers at once. Bad input ends with one line on stderr and exit
code 2; Ctrl-C during training with exit code 130 and the command that resumes.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

EXIT_RUN_FAILED = 1  # the run folder is complete, but training diverged
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not usage + message
        sys.stderr.write(f"deepstart: error: {message} (see `{self.prog} --help`)\n")
        raise SystemExit(EXIT_BAD_INPUT)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer; received {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer; received {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number; received {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number; received {text}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1); received {text!r}")
    return value


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) <= 0:
        raise argparse.ArgumentTypeError(f"expected layer sizes like 256,256; received {text!r}")
    return sizes


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="deepstart", description=(
        "Learn and do deep learning top-down: fit a real model on a real problem in one command, "
        "compare it with published scores, and keep a run folder to reproduce and present it."))
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = sub.add_parser("run", help="train a model on a problem and write a run folder",
                         description="Train a model on a built-in problem (default: digits), "
                         "print its test score beside the published references, and write "
                         "runs/<date>-<problem>-<model>-<n>/. Unset options come from the "
                         "problem's recipe (see `deepstart problems NAME`).")
    run.add_argument("problem", nargs="?", default=None, help="problem name (default: digits)")
    run.add_argument("--model", help="model family: perceptron, linear, logistic, mlp")
    run.add_argument("--hidden", type=_sizes, help="MLP hidden layer sizes, e.g. 256,256")
    run.add_argument("--activation", help="activation: identity, step, sigmoid, tanh, relu")
    run.add_argument("--dropout", type=_fraction, help="dropout rate after each hidden layer")
    run.add_argument("--epochs", type=_positive_int)
    run.add_argument("--batch-size", type=_positive_int)
    run.add_argument("--lr", type=_positive_float, help="learning rate")
    run.add_argument("--optimizer", help="sgd, momentum, adam, adamw")
    run.add_argument("--val-split", type=_fraction, help="fraction of training rows for validation")
    run.add_argument("--scale", choices=("unit", "standard"),
                     help="inputs: unit = divide by the pixel maximum, standard = per-feature z-score")
    run.add_argument("--lookback", type=_positive_int, help="series: values per input window")
    run.add_argument("--seed", type=int, help="random seed (default 0): same seed, same result on CPU")
    run.add_argument("--out", type=Path, default=Path("runs"), help="folder for run folders (runs/)")
    run.add_argument("--data-dir", type=Path, help="a folder holding the problem's data files")
    run.add_argument("--no-download", action="store_true", help="never download data")
    run.add_argument("--resume", type=Path, metavar="RUN",
                     help="continue an interrupted run folder from its checkpoint")
    run.add_argument("--quiet", action="store_true", help="no per-epoch lines")

    problems = sub.add_parser("problems", help="list the built-in problems and their references",
                              description="List built-in problems: task, size, data source, "
                              "whether the data is on this machine now, published reference scores.")
    problems.add_argument("name", nargs="?", help="show one problem in full")
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

    try:
        return {"run": _cmd_run, "problems": _cmd_problems}[args.command](args)
    except DeepstartError as e:
        sys.stderr.write(f"deepstart: error: {e}\n")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:  # outside training (loading data, writing): nothing to resume
        sys.stderr.write("deepstart: interrupted\n")
        return EXIT_INTERRUPTED


def _cmd_run(args) -> int:
    from deepstart.console import console
    from deepstart.learner import TrainingInterrupted
    import shlex

    from deepstart.run import RunConfig, resume, run

    verbose = 0 if args.quiet else 1
    try:
        if args.resume is not None:
            if args.problem is not None:
                from deepstart.errors import DeepstartError

                raise DeepstartError("--resume continues the run's own problem; drop the problem "
                                     f"name '{args.problem}' or start a new run without --resume.")
            folder = resume(args.resume, epochs=args.epochs, data_dir=args.data_dir,
                            download=not args.no_download, verbose=verbose)
        else:
            options = {k: v for k, v in (("hidden", args.hidden), ("activation", args.activation),
                                         ("dropout", args.dropout)) if v is not None}
            config = RunConfig.for_problem(
                args.problem or "digits", model=args.model, epochs=args.epochs,
                batch_size=args.batch_size, lr=args.lr, optimizer=args.optimizer,
                val_split=args.val_split, lookback=args.lookback, scale=args.scale, seed=args.seed,
                model_options=options or None)
            config.command = shlex.join(["deepstart", *args.argv])
            folder = run(config, out=args.out, data_dir=args.data_dir,
                         download=not args.no_download, verbose=verbose)
    except TrainingInterrupted as e:
        where = f"; saved the state after epoch {e.epoch} to {e.checkpoint.parent}" if e.checkpoint else ""
        console.print(f"\ninterrupted{where}.")
        if e.checkpoint is not None:
            console.print(f"resume with: deepstart run --resume {e.checkpoint.parent}")
        return EXIT_INTERRUPTED
    from deepstart.present import print_result

    return 0 if print_result(folder) == "finished" else EXIT_RUN_FAILED


def _cmd_problems(args) -> int:
    from deepstart.present import print_problem, print_problems

    if args.name:
        from deepstart.problems import get_problem

        print_problem(get_problem(args.name))
    else:
        print_problems()
    return 0


if __name__ == "__main__":
    sys.exit(main())
