"""Pretrained backbones against training from scratch, on few labels and on all of them: every row a
`deepstart.run(RunConfig.for_problem(...))` as a user calls it, side by side, with test scores, the
difference from the from-scratch row in points, and CPU wall times.

    python benchmarks/transfer.py                      # images and text (hours on a 2-core CPU)
    python benchmarks/transfer.py --only images        # or --only text, or a problem name
    python benchmarks/transfer.py --quick              # a tiny smoke run of every row (minutes)
    python benchmarks/transfer.py --budget-minutes 60  # run fine-tunes projected up to an hour

Images: Fashion-MNIST with 100, 1,000 and 6,000 (all) labelled images per class, drawn per class
with seed 0, so every model of a size trains on the same images; each is scored on the full 10,000
test images. The subsets are problems of this script's own (the catalog's Fashion-MNIST with fewer
training images; registered in this process): a folder of images would be split into train and
test again, and the point is the same test set for every size. Rows: the `convnet` recipe from
scratch (and, below all 60,000, the same recipe with as many image-epochs as on all 60,000: its
7 epochs of 900 images are 56 steps, too few to judge training from scratch by), `efficientnet-lite0`
fine-tuned (the family's default schedule), the same at a
64-pixel input (about 12 times cheaper), and `--frozen` (features once, a head on them).

Text: `minilm --frozen` and `minilm` fine-tuned against the `bag` and `lstm` recipes on fine-foods,
spam-assassin and brown-genres, their own train/test splits.

A fine-tune projected over --budget-minutes (30) is not run: its row gives the projection and the
cheaper variants beside it are run. Projections are measured costs scaled, not guesses: an image
row's from the same row on the next smaller size (its training seconds per image times the images,
its scoring time times the images scored), a text fine-tune's from the frozen run on the same texts
(a forward pass over every text, measured; a training step is taken as 3 of them).

Each measurement goes into docs/transfer.json (keyed by row and machine) and the table into
docs/recipes.md ("Pretrained backbones") and docs/pretrained.md ("Benchmarks"). --quick writes
nothing there. Run it on a quiet machine: another busy process slows PyTorch many-fold.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from recipes import TRANSFER_SECTION, machine  # noqa: E402
from text_baselines import LOADERS  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
STORE = DOCS / "transfer.json"
BEGIN, END = "<!-- transfer.py: results -->", "<!-- /transfer.py -->"
TEXT_PROBLEMS = ("fine-foods", "spam-assassin", "brown-genres")
SCORED_TRAIN_ROWS = 10_000  # a run scores its train split on at most this many rows (run.py)


@dataclasses.dataclass
class Row:
    label: str  # what the table says
    model: str
    options: dict = dataclasses.field(default_factory=dict)  # model options (--option)
    settings: dict = dataclasses.field(default_factory=dict)  # RunConfig fields (frozen, epochs, ...)
    fine_tune: bool = False  # trains the whole net: subject to the time budget
    scratch: bool = False  # the from-scratch row the others are compared with
    # few images: as many epochs as give the recipe's image-epochs on all 60,000 (at most 100)
    as_long_as_all: bool = False


def image_rows(quick: bool, big: int | None = None) -> list[Row]:
    """The image rows; `big`: the input size of the main fine-tune and frozen rows (default 224, the
    weights' own; --input-size 64 on a slow CPU, where the 64-px row is then not repeated)."""
    big, small = (64, 32) if quick else (big or 224, 64)
    rows = [
        Row("convnet recipe, from scratch", "convnet", scratch=True),
        Row("convnet recipe, as many image-epochs as on all 60,000 (at most 100 epochs)", "convnet",
            as_long_as_all=True),
        Row(f"efficientnet-lite0 fine-tuned, {big} px", "efficientnet-lite0",
            {"input_size": big}, fine_tune=True),
        Row(f"efficientnet-lite0 fine-tuned, {small} px", "efficientnet-lite0",
            {"input_size": small}, fine_tune=True),
        Row(f"efficientnet-lite0 --frozen + head, {big} px", "efficientnet-lite0",
            {"input_size": big}, {"frozen": True}),
    ]
    return [r for i, r in enumerate(rows) if not (i == 3 and small == big)]


def text_rows() -> list[Row]:
    return [
        Row("bag recipe", "bag", scratch=True),
        Row("lstm recipe", "lstm"),
        Row("minilm --frozen + head", "minilm", settings={"frozen": True}),
        Row("minilm fine-tuned", "minilm", fine_tune=True),
    ]


# ---- the problems ---------------------------------------------------------------------------------

def balanced_subset(y: np.ndarray, per_class: int, seed: int = 0) -> np.ndarray:
    """`per_class` indices of each class, drawn with `seed`, in their original order."""
    rng = np.random.default_rng(seed)
    picked = [rng.permutation(np.flatnonzero(y == c))[:per_class] for c in np.unique(y)]
    return np.sort(np.concatenate(picked))


def _subset_loader(base, per_class: int, test_rows: int | None, **kwargs):
    data = base.load_raw(**kwargs)
    keep = balanced_subset(data.y_train, per_class)
    test = slice(None) if test_rows is None else slice(0, test_rows)
    return dataclasses.replace(data, x_train=data.x_train[keep], y_train=data.y_train[keep],
                               x_test=data.x_test[test], y_test=data.y_test[test])


def fashion_subset(per_class: int, test_rows: int | None = None) -> str:
    """The name of Fashion-MNIST with `per_class` training images per class (and the first
    `test_rows` test images, None: all 10,000), registered in this process's catalog."""
    from deepstart.problems.catalog import PROBLEMS

    base = PROBLEMS["fashion-mnist"]
    if per_class >= 6000 and test_rows is None:
        return base.name
    name = f"fashion-mnist-{per_class}-per-class" + (f"-test-{test_rows}" if test_rows else "")
    tests = "10,000" if test_rows is None else f"{test_rows:,}"
    PROBLEMS[name] = dataclasses.replace(
        base, name=name, title=f"{base.title}, {per_class} training images per class",
        split=f"{per_class} training images per class drawn with seed 0; the first {tests} of "
              "the dataset's test images",
        size=f"{10 * per_class:,} + {tests} images 28x28", references=(),
        load_raw=partial(_subset_loader, base, per_class, test_rows))
    return name


def text_csvs(folder: Path, n_texts: int = 80, chars: int = 400) -> dict[str, tuple[str, dict]]:
    """--quick: the first `n_texts` texts of each text problem (cut to `chars` characters) as a CSV
    of the user's own, `deepstart run reviews.csv --target label`: {problem: (path, options)}."""
    import pandas as pd

    out = {}
    for name in TEXT_PROBLEMS:
        load, column, target, _ = LOADERS[name]
        train, _ = load()
        frame = pd.DataFrame({"text": train[column].str.slice(0, chars),
                              "label": train[target].astype(str)}).head(n_texts)
        path = folder / f"{name}.csv"
        frame.to_csv(path, index=False)
        out[name] = (str(path), {"target": "label"})
    return out


# ---- running and projecting -----------------------------------------------------------------------

def measure(problem: str, data_options: dict, row: Row, out: Path, overrides: dict) -> dict:
    from deepstart.run import RunConfig, run

    config = RunConfig.for_problem(problem, data_options, model=row.model,
                                   model_options=row.options, **(row.settings | overrides))
    start = time.perf_counter()
    folder = run(config, out=out, verbose=0)
    wall = time.perf_counter() - start
    metrics = json.loads((folder / "metrics.json").read_text())
    return {"score": metrics["test"][metrics["metric"]], "metric": metrics["metric"],
            "wall_seconds": wall, "train_seconds": metrics["train_seconds"],
            "epochs": metrics["epochs"], "test_rows": metrics["test_rows"],
            # the train rows scored: all of them below 10,000 (every text problem here)
            "train_rows": metrics["train_rows"],
            "val_rows": metrics["val_rows"], "settings": _settings(config)}


def _settings(config) -> str:
    keep = ("epochs", "batch_size", "lr", "schedule", "frozen", "freeze", "unfreeze_after", "patience",
            "augment", "tta")
    parts = [f"{k}={getattr(config, k)}" for k in keep
             if getattr(config, k, None) not in (None, False, 0, 0.0, "constant")]
    parts += [f"{k}={v}" for k, v in config.model_options.items()]
    return " ".join(parts)


def project_image(smaller: dict, n_small: int, n_big: int, test_rows: int) -> float:
    """Wall seconds of a row on `n_big` labelled images from its measurement on `n_small`: training
    scales with the images, scoring with the rows scored (train split capped, val, test)."""
    train = smaller["train_seconds"] * n_big / n_small
    scored_small = min(n_small, SCORED_TRAIN_ROWS) + test_rows
    scored_big = min(n_big, SCORED_TRAIN_ROWS) + test_rows
    return train + (smaller["wall_seconds"] - smaller["train_seconds"]) * scored_big / scored_small


def project_text_fine_tune(frozen: dict, epochs: int, train_share: float,
                           head_epochs: int = 0) -> float:
    """Wall seconds of a fine-tune from the frozen run on the same texts, whose wall time is one
    forward pass over every text (train, val, test) plus a head's training (small): an epoch of
    the whole net costs about 3 forward passes over the train share (forward, and a backward of
    twice its cost), an epoch with the body frozen (`head_epochs`, fine_tune's first) one, and the
    scoring afterwards one pass over them all."""
    passes = 3 * (epochs - head_epochs) + head_epochs
    return frozen["wall_seconds"] * (passes * train_share + 1)


def quick_epochs(row: Row, overrides: dict) -> dict:
    """--quick's one epoch, two for a fine-tune: its one epoch alone would be the frozen one."""
    return overrides | {"epochs": 2} if overrides.get("epochs") and row.fine_tune else overrides


def long_epochs(n: int) -> int:
    """The convnet recipe's epochs on all 60,000 images times 60,000 / n, at most 100: on few images
    the recipe's 7 epochs are a few dozen steps, which would undersell training from scratch."""
    from deepstart.run import RunConfig

    recipe = RunConfig.for_problem("fashion-mnist", model="convnet")
    return min(100, round(recipe.epochs * 60_000 / n))


def fine_tune_epochs(problem: str, data_options: dict, row: Row, overrides: dict) -> tuple[int, int]:
    """(epochs, epochs with the body frozen) of the row's run, as its recipe sets them."""
    from deepstart.run import RunConfig

    config = RunConfig.for_problem(problem, data_options, model=row.model,
                                   model_options=row.options, **(row.settings | overrides))
    return config.epochs, min(config.epochs, getattr(config, "unfreeze_after", None) or 0)


# ---- the table ------------------------------------------------------------------------------------

HEADER = ["| problem | labelled (train + val) | model | test score | vs scratch (points) | wall s | "
          "× scratch time | epochs | settings | machine |",
          "|---|---|---|---|---|---|---|---|---|---|"]


def table_line(problem: str, n: str, row: Row, m: dict, scratch: dict | None) -> str:
    if m.get("projected_seconds") is not None:
        return (f"| {problem} | {n} | {row.label} | not run: projected "
                f"{m['projected_seconds'] / 60:.0f} min ({m['projected_from']}) | | | | | |")
    if m.get("failed"):
        return f"| {problem} | {n} | {row.label} | failed: {m['failed']} | | | | | |"
    diff = ratio = ""
    if scratch and not row.scratch and scratch.get("score") is not None:
        diff = f"{100 * (m['score'] - scratch['score']):+.1f}"
        ratio = f"{m['wall_seconds'] / scratch['wall_seconds']:.1f}"
    return (f"| {problem} | {n} | {row.label} | {m['metric']} {m['score']:.4f} | {diff} | "
            f"{m['wall_seconds']:.0f} | {ratio} | {m['epochs']} | {m['settings']} |")


def write_docs(store: dict) -> None:
    measured = sorted(((m["order"], machine_label, m) for key in store
                       for machine_label, m in store[key].items()), key=lambda t: t[:2])
    machines = "; ".join(sorted({f"{label}, {m['date']}" for _, label, m in measured}))
    block = [BEGIN, f"Written by `python benchmarks/transfer.py` (measured on: {machines}); wall "
             "time from `run()` to its result; a row not run says why.", "", *HEADER,
             *(m["line"] for _, _, m in measured), END]
    for path, heading in ((DOCS / "recipes.md", TRANSFER_SECTION),
                          (DOCS / "pretrained.md", None)):
        text = path.read_text() if path.exists() else ""
        if BEGIN in text:
            head, rest = text.split(BEGIN, 1)
            text = head + "\n".join(block) + rest.split(END, 1)[1]
        else:
            text = text.rstrip("\n") + f"\n\n{heading}\n\n" + "\n".join(block) + "\n"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)


def all_keys() -> list[str]:
    """Every row's key in the table's order (images by size, then text by problem)."""
    labels = list(dict.fromkeys(row.label for big in (None, 64) for row in image_rows(False, big)))
    keys = [f"fashion-mnist/{k}-per-class/{label}" for k in (100, 1000, 6000) for label in labels]
    return keys + [f"{name}/{row.label}" for name in TEXT_PROBLEMS for row in text_rows()]


# ---- main -----------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", default=[],
                        help="'images', 'text', or a problem name (repeatable)")
    parser.add_argument("--quick", action="store_true",
                        help="a tiny smoke run of every row (few images and texts, small inputs, "
                             "1 epoch); its figures are not measurements and are not written")
    parser.add_argument("--budget-minutes", type=float, default=30.0,
                        help="fine-tunes projected over this are not run (default 30)")
    parser.add_argument("--per-class", type=int, action="append", default=[],
                        help="labelled images per class (repeatable; default 100, 1000 and 6000)")
    parser.add_argument("--input-size", type=int, default=None,
                        help="input size of the main efficientnet rows (default 224)")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/")
    parser.add_argument("--note", help="said beside the machine, e.g. 'loaded machine'")
    args = parser.parse_args(argv)
    write = not (args.quick or args.no_write)
    budget = args.budget_minutes * 60

    def chosen(*names: str) -> bool:
        return not args.only or any(o in names for o in args.only)

    label = machine() + (f" ({args.note})" if args.note else "")
    store = json.loads(STORE.read_text()) if STORE.exists() else {}
    print("\n".join(HEADER), flush=True)

    def record(key: str, problem: str, n: str, row: Row, m: dict, scratch: dict | None) -> None:
        line = table_line(problem, n, row, m, scratch) + f" {label} |"
        print(line, flush=True)
        if write:
            # a later run replaces only its own rows; the table keeps every row measured so far
            store.setdefault(key, {})[label] = m | {"date": dt.date.today().isoformat(),
                                                    "line": line, "order": order.index(key)}
            tmp = STORE.with_suffix(".tmp")
            tmp.write_text(json.dumps(store, indent=1, sort_keys=True) + "\n")
            os.replace(tmp, STORE)
            write_docs(store)

    overrides = {"epochs": 1} if args.quick else {}
    order = all_keys()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "runs"
        if chosen("images", "fashion-mnist"):
            tiers = (5, 10) if args.quick else tuple(args.per_class) or (100, 1000, 6000)
            test_rows = 200 if args.quick else None
            previous: dict[str, tuple[int, dict]] = {}
            for per_class in tiers:
                problem = fashion_subset(per_class, test_rows)
                n, scratch = 10 * per_class, None
                for row in image_rows(args.quick, args.input_size):
                    if row.as_long_as_all:
                        if per_class >= 6000:
                            continue  # all 60,000: the recipe itself
                        row = dataclasses.replace(row, settings={"epochs": long_epochs(n)})
                    m = None
                    if row.fine_tune and row.label in previous:
                        n_small, smaller = previous[row.label]
                        seconds = project_image(smaller, n_small, n, smaller["test_rows"])
                        if seconds > budget:
                            m = {"projected_seconds": seconds, "projected_from": (
                                f"its {smaller['wall_seconds']:.0f} s on {n_small:,} images")}
                    if m is None:
                        try:
                            m = measure(problem, {}, row, out, quick_epochs(row, overrides))
                        except Exception as e:  # noqa: BLE001 - one failed row must not end the table
                            m = {"failed": f"{type(e).__name__}: {str(e)[:200]}"}
                        if "score" in m:
                            previous[row.label] = (n, m)
                    if row.scratch and "score" in m:
                        scratch = m
                    record(f"fashion-mnist/{per_class}-per-class/{row.label}", "fashion-mnist",
                           f"{n:,}", row, m, scratch)
        texts = ({} if not chosen("text", *TEXT_PROBLEMS) else
                 text_csvs(Path(tmp)) if args.quick else
                 {name: (name, {}) for name in TEXT_PROBLEMS})
        for name, (problem, options) in texts.items():
            if not chosen("text", name):
                continue
            scratch = frozen = None
            for row in text_rows():
                m = None
                if row.fine_tune and frozen is not None:
                    epochs, head_epochs = fine_tune_epochs(problem, options, row,
                                                           quick_epochs(row, overrides))
                    rows = frozen["train_rows"] + frozen["val_rows"] + frozen["test_rows"]
                    seconds = project_text_fine_tune(frozen, epochs, frozen["train_rows"] / rows,
                                                     head_epochs)
                    if seconds > budget:
                        m = {"projected_seconds": seconds, "projected_from": (
                            f"{epochs} epochs, from the frozen run's {frozen['wall_seconds']:.0f} s")}
                if m is None:
                    try:
                        m = measure(problem, options, row, out, quick_epochs(row, overrides))
                    except Exception as e:  # noqa: BLE001
                        m = {"failed": f"{type(e).__name__}: {str(e)[:200]}"}
                if row.scratch and "score" in m:
                    scratch = m
                if row.settings.get("frozen") and "score" in m:
                    frozen = m
                record(f"{name}/{row.label}", name, "the problem's split" if not args.quick else
                       "first 80 texts", row, m, scratch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
