"""deepstart's NetClassifier against scikit-learn's MLPClassifier: fit time and test accuracy.

The same network and training on both sides: hidden layers of ReLU units (the articles' 256-256, and
one layer of 64, where a step is small enough for per-step overhead to show), a softmax output,
cross-entropy, Adam (lr 1e-3, betas 0.9/0.999, eps 1e-8) on shuffled mini-batches of 100, no L2
penalty (MLPClassifier alpha=0, NetClassifier weight_decay=0), and exactly `epochs` passes over the
training rows: MLPClassifier's max_iter=epochs with early_stopping=False, tol=0 and
n_iter_no_change above max_iter, so it never stops sooner (its ConvergenceWarning is expected and
silenced here). Both read the same float32 pixels scaled to [0, 1] (NetClassifier scale=None); the
accuracy is on each dataset's test rows.

- digits: scikit-learn's 1,797 8x8 images, a stratified 75/25 split (seed 0), 30 epochs;
- fashion-mnist: the full 60,000 training and 10,000 test images, 10 epochs.

The tools alternate (`--rounds` each) so that the shared machine's noise hits both alike; the table
shows the median fit time and the last round's accuracy. Both use the machine's default threads.

    .venv/bin/python benchmarks/sklearn_mlp.py [--datasets digits,fashion-mnist] [--rounds 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import cpu_name  # noqa: E402

EPOCHS = {"digits": 30, "fashion-mnist": 10}


def load(name: str, limit: int | None):
    """(x_train, y_train, x_test, y_test), float32 pixels in [0, 1], flattened."""
    if name == "digits":
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        x, y = load_digits(return_X_y=True)
        x_tr, x_te, y_tr, y_te = train_test_split((x / 16).astype(np.float32), y, test_size=0.25,
                                                  stratify=y, random_state=0)
    else:
        from deepstart import get_problem

        data = get_problem(name).load()
        scale = np.float32(data.pixel_max)
        x_tr = data.x_train.reshape(len(data.x_train), -1).astype(np.float32) / scale
        x_te = data.x_test.reshape(len(data.x_test), -1).astype(np.float32) / scale
        y_tr, y_te = data.y_train, data.y_test
    if limit:
        x_tr, y_tr = x_tr[:limit], y_tr[:limit]
    return x_tr, y_tr, x_te, y_te


def estimators(hidden: tuple[int, ...], epochs: int, batch_size: int, lr: float, seed: int) -> dict:
    from sklearn.neural_network import MLPClassifier

    from deepstart.sklearn import NetClassifier

    return {
        "scikit-learn MLPClassifier": lambda: MLPClassifier(
            hidden_layer_sizes=hidden, activation="relu", solver="adam", alpha=0.0,
            batch_size=batch_size, learning_rate_init=lr, max_iter=epochs, shuffle=True,
            tol=0.0, n_iter_no_change=epochs + 1, early_stopping=False, random_state=seed),
        "deepstart NetClassifier": lambda: NetClassifier(
            hidden=hidden, activation="relu", optimizer="adam", weight_decay=0.0,
            batch_size=batch_size, lr=lr, epochs=epochs, scale=None, random_state=seed,
            device="cpu", verbose=0),
    }


def compare(dataset, hidden, x_tr, y_tr, x_te, y_te, epochs, args) -> list[dict]:
    """Both tools on one dataset and network, alternating for `args.rounds` rounds."""
    from sklearn.exceptions import ConvergenceWarning

    makers = estimators(hidden, epochs, args.batch_size, args.lr, args.seed)
    times: dict[str, list[float]] = {name: [] for name in makers}
    result: dict[str, dict] = {}
    for _ in range(args.rounds):
        for name, make in makers.items():
            est = make()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter reached: as asked
                started = time.perf_counter()
                est.fit(x_tr, y_tr)
                times[name].append(time.perf_counter() - started)
            started = time.perf_counter()
            accuracy = float(est.score(x_te, y_te))
            result[name] = {"accuracy": accuracy, "predict": time.perf_counter() - started,
                            "epochs": int(est.n_iter_)}
    rows = []
    for name in makers:
        fit = statistics.median(times[name])
        rows.append({"dataset": dataset, "hidden": "-".join(map(str, hidden)), "tool": name,
                     "train": len(x_tr), "test": len(x_te), "epochs": result[name]["epochs"],
                     "fit_s": fit, "s_per_epoch": fit / result[name]["epochs"],
                     "predict_s": result[name]["predict"], "accuracy": result[name]["accuracy"]})
    for row in rows:
        row["ratio"] = row["fit_s"] / rows[0]["fit_s"]  # to scikit-learn's
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="digits,fashion-mnist")
    parser.add_argument("--hidden", default="256,256 64", help="hidden sizes, one network per "
                        "space-separated entry (default: the articles' 256-256, and one layer of 64)")
    parser.add_argument("--epochs", type=int, help="for every dataset (default: digits 30, "
                        "fashion-mnist 10)")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--limit", type=int, help="first N training rows only (a quick look)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    configs = [tuple(int(h) for h in entry.split(",")) for entry in args.hidden.split()]

    print(f"{cpu_name()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}")
    rows = []
    for dataset in args.datasets.split(","):
        x_tr, y_tr, x_te, y_te = load(dataset, args.limit)
        epochs = args.epochs or EPOCHS[dataset]
        if not rows:  # warm-up, untimed: the first fit in a process pays imports and allocations
            for make in estimators((8,), 1, args.batch_size, args.lr, args.seed).values():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    make().fit(x_tr[:500], y_tr[:500])
        for hidden in configs:
            rows += compare(dataset, hidden, x_tr, y_tr, x_te, y_te, epochs, args)

    print(f"Adam lr {args.lr:g}, batch {args.batch_size}, {args.rounds} rounds (median fit time)")
    print("| dataset (train/test rows) | hidden | tool | epochs | fit s | s/epoch | fit time ratio | "
          "predict s | test accuracy |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['dataset']} ({r['train']}/{r['test']}) | {r['hidden']} | {r['tool']} | "
              f"{r['epochs']} | {r['fit_s']:.2f} | {r['s_per_epoch']:.3f} | {r['ratio']:.2f} | "
              f"{r['predict_s']:.3f} | {r['accuracy']:.4f} |")
    return rows


if __name__ == "__main__":
    main()
