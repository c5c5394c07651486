"""deepstart against Lightning and Keras: seconds per training epoch, side by side in one process.

Fashion-MNIST (60,000 training images in memory, pixels in [0, 1]), the models of
../shared/BENCHMARKS.md: the MLP 256-256 at batch 100 and the small CNN at batch 128, each trained
with Adam lr 1e-3 on cross-entropy. In one process the tools alternate blocks of epochs within each
round, so that machine noise hits all of them alike; the figure is the median over all timed epochs.
One warm-up epoch per tool is not counted. Tools, each written the way its own user would write it:

  deepstart   Learner(model, prepared, lr=1e-3, batch_size=B, verbose=0), then .fit(1) per timed
              epoch (in-memory index slices, its fused Adam)
  lightning   a LightningModule around the same nn.Module, default torch.optim.Adam(lr=1e-3),
              DataLoader(TensorDataset(x, y), batch_size=B, shuffle=True), Trainer(accelerator="cpu",
              devices=1, no logger, checkpoints, progress bar or summary); each epoch is timed by a
              Callback from on_train_epoch_start to on_train_epoch_end, so Trainer start-up and
              teardown are not epoch time
  keras       Keras 3 on its torch backend, the same architecture from keras layers, compiled with
              keras.optimizers.Adam(1e-3), SparseCategoricalCrossentropy(from_logits=True) and
              metrics=["accuracy"]; model.fit(x, y, batch_size=B, epochs=1, verbose=0) on NumPy
              arrays, timing each call

Then the test accuracy of each tool's model on the 10,000 test images.

Same data, architecture, batch size, learning rate and loss for all. Differences that cannot be
avoided, or that are part of what a tool is:
  - Initial weights: deepstart and Lightning start from the identical nn.Module (torch.manual_seed(0)
    then the constructor: PyTorch's Kaiming-uniform layers); Keras uses its own defaults (Glorot-uniform
    kernels, zero biases), seeded with keras.utils.set_random_seed(0). Accuracies differ a little.
  - Adam: deepstart uses torch's fused Adam (its design choice); Lightning the default torch.optim.Adam
    (eps 1e-8); Keras its own Adam, whose default epsilon is 1e-7. Same lr and betas everywhere.
  - Layout: Keras conv layers are channels-last, so Keras is fed x as (N, 28, 28, 1) (also for the MLP,
    whose Flatten then orders pixels differently, which changes nothing); on the torch backend Keras
    converts to channels-first around each convolution, which is part of its cost.
  - Per-step work: deepstart and Keras also count training accuracy each step; the LightningModule
    returns the loss only and logs nothing (the least a Lightning user writes).
  - Lightning runs one Trainer(max_epochs=E) per block of E timed epochs; its optimizer is created
    once and kept, so Adam's moments carry across blocks as in one long fit, as they do for the
    others. DataLoader num_workers is the default 0 (Lightning warns about it; the warning is hidden).

    .venv/bin/python benchmarks/peers.py [--models mlp,cnn] [--epochs N] [--rounds 2] [--threads 2]
                                         [--limit N]

--epochs defaults to 3 for the MLP and 1 for the CNN; --limit trains on the first N images only
(a smoke test). Needs the `bench` extra: pip install -e .[bench] -c constraints.txt
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # before keras is imported anywhere
os.environ.setdefault("KERAS_TORCH_DEVICE", "cpu")  # all tools on the CPU, even where a GPU exists

# deepstart first, as a user's script imports it: it turns on huge pages for torch's large buffers
# (deepstart/__init__.py), for every tool in this process. THP_MEM_ALLOC_ENABLE=0 measures without.
import deepstart  # noqa: E402, F401

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import logging  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from deepstart import Learner  # noqa: E402

if __package__:
    from .common import accuracy, cpu_name, fashion_mnist, huge_pages, mlp, small_cnn
else:
    from common import accuracy, cpu_name, fashion_mnist, huge_pages, mlp, small_cnn

LR = 1e-3
SEED = 0
MODELS = {  # name: (label, torch constructor, batch size, default timed epochs per tool per round)
    "mlp": ("MLP 256-256", mlp, 100, 3),
    "cnn": ("small CNN", small_cnn, 128, 1),
}
TOOLS = ("deepstart", "lightning", "keras")


# --- deepstart ------------------------------------------------------------------------------------
class DeepstartTool:
    def __init__(self, model_name: str, prepared, batch_size: int):
        torch.manual_seed(SEED)
        self.learner = Learner(MODELS[model_name][1](), prepared, lr=LR, batch_size=batch_size,
                               seed=SEED, verbose=0)

    def run(self, epochs: int) -> list[float]:
        times = []
        for _ in range(epochs):
            start = time.perf_counter()
            self.learner.fit(1)
            times.append(time.perf_counter() - start)
        return times

    def test_accuracy(self, prepared) -> float:
        return self.learner.evaluate("test")["accuracy"]


# --- Lightning ------------------------------------------------------------------------------------
class LightningTool:
    def __init__(self, model_name: str, prepared, batch_size: int):
        import lightning as L
        from torch.utils.data import DataLoader, TensorDataset

        self.L = L

        class Classifier(L.LightningModule):
            def __init__(self, net: nn.Module):
                super().__init__()
                self.net = net
                self.optimizer = None

            def forward(self, x):
                return self.net(x)

            def training_step(self, batch, batch_idx):
                x, y = batch
                return F.cross_entropy(self.net(x), y)

            def configure_optimizers(self):
                # Created once and kept: every Trainer.fit call continues with the same Adam state.
                if self.optimizer is None:
                    self.optimizer = torch.optim.Adam(self.parameters(), lr=LR)
                return self.optimizer

        class EpochTimer(L.Callback):
            def __init__(self):
                self.times: list[float] = []

            def on_train_epoch_start(self, trainer, pl_module):
                self._start = time.perf_counter()

            def on_train_epoch_end(self, trainer, pl_module):
                self.times.append(time.perf_counter() - self._start)

        torch.manual_seed(SEED)
        self.module = Classifier(MODELS[model_name][1]())
        self.loader = DataLoader(TensorDataset(prepared.x_train, prepared.y_train),
                                 batch_size=batch_size, shuffle=True)
        self.timer_cls = EpochTimer

    def run(self, epochs: int) -> list[float]:
        timer = self.timer_cls()
        trainer = self.L.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False,
                                 enable_checkpointing=False, enable_progress_bar=False,
                                 enable_model_summary=False, callbacks=[timer])
        trainer.fit(self.module, self.loader)
        if len(timer.times) != epochs:
            raise RuntimeError(f"Lightning ran {len(timer.times)} epochs, expected {epochs}")
        return timer.times

    def test_accuracy(self, prepared) -> float:
        return accuracy(self.module.net, prepared.x_test, prepared.y_test)


# --- Keras 3 (torch backend) ----------------------------------------------------------------------
def keras_model(model_name: str):
    import keras
    from keras import layers

    if model_name == "mlp":
        body = [layers.Flatten(), layers.Dense(256, activation="relu"),
                layers.Dense(256, activation="relu"), layers.Dense(10)]
    else:
        body = [layers.Conv2D(32, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
                layers.Conv2D(64, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
                layers.Flatten(), layers.Dense(128, activation="relu"), layers.Dense(10)]
    return keras.Sequential([keras.Input(shape=(28, 28, 1)), *body])


def nhwc(x: torch.Tensor) -> np.ndarray:
    """(N, 1, 28, 28) tensor -> contiguous (N, 28, 28, 1) float32 array, as Keras wants it."""
    return np.ascontiguousarray(x.numpy().transpose(0, 2, 3, 1))


class KerasTool:
    def __init__(self, model_name: str, prepared, batch_size: int):
        import keras

        keras.utils.set_random_seed(SEED)
        self.model = keras_model(model_name)
        self.model.compile(optimizer=keras.optimizers.Adam(LR),
                           loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                           metrics=["accuracy"])
        self.x, self.y = nhwc(prepared.x_train), prepared.y_train.numpy()
        self.batch_size = batch_size

    def run(self, epochs: int) -> list[float]:
        times = []
        for _ in range(epochs):
            start = time.perf_counter()
            self.model.fit(self.x, self.y, batch_size=self.batch_size, epochs=1, verbose=0)
            times.append(time.perf_counter() - start)
        return times

    def test_accuracy(self, prepared) -> float:
        logits = self.model.predict(nhwc(prepared.x_test), batch_size=1000, verbose=0)
        return float((np.asarray(logits).argmax(1) == prepared.y_test.numpy()).mean())


TOOL_CLASSES = {"deepstart": DeepstartTool, "lightning": LightningTool, "keras": KerasTool}


# --- main -----------------------------------------------------------------------------------------
def quiet_lightning() -> None:
    """Hide Lightning's start-up banner ("GPU available: ...", tips) and its num_workers advice."""
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "lightning.pytorch.utilities.rank_zero",
                 "lightning.fabric.utilities.rank_zero"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*`max_epochs` was not set.*")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="mlp,cnn", help="comma-separated: mlp, cnn")
    parser.add_argument("--epochs", type=int, default=None,
                        help="timed epochs per tool per round (default: 3 for mlp, 1 for cnn)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None,
                        help="train on the first N images only (smoke test)")
    args = parser.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in MODELS]
    if unknown or not models:
        parser.error(f"unknown model(s) {unknown}; choose from {', '.join(MODELS)}")
    if args.epochs is not None and args.epochs < 1 or args.rounds < 1 or args.threads < 1:
        parser.error("--epochs, --rounds and --threads must be positive")

    torch.set_num_threads(args.threads)
    import keras
    import lightning

    quiet_lightning()  # after the import: lightning sets its loggers to INFO when imported

    prepared = fashion_mnist()
    if args.limit is not None:
        prepared = dataclasses.replace(prepared, x_train=prepared.x_train[:args.limit],
                                       y_train=prepared.y_train[:args.limit])
    n_train = len(prepared.x_train)

    rows = []
    for name in models:
        label, _, batch_size, default_epochs = MODELS[name]
        epochs = args.epochs or default_epochs
        tools = {tool: TOOL_CLASSES[tool](name, prepared, batch_size) for tool in TOOLS}
        times: dict[str, list[float]] = {tool: [] for tool in TOOLS}
        for tool in TOOLS:  # warm-up: first-call costs are not per-epoch costs
            tools[tool].run(1)
        for _ in range(args.rounds):
            for tool in TOOLS:
                times[tool].extend(tools[tool].run(epochs))
                if torch.get_num_threads() != args.threads:  # no tool may change the thread count
                    raise RuntimeError(f"{tool} changed torch's threads to {torch.get_num_threads()}")
        base = statistics.median(times["deepstart"])
        for tool in TOOLS:
            med = statistics.median(times[tool])
            rows.append((label, batch_size, tool, med, med / base,
                         tools[tool].test_accuracy(prepared), len(times[tool]) + 1))
        print(f"{label} done", file=sys.stderr)

    print(f"\nmachine: {cpu_name()}, {os.cpu_count()} logical CPUs, huge pages for torch buffers: "
          f"{huge_pages()}")
    print(f"torch {torch.__version__}, keras {keras.__version__} (backend {keras.backend.backend()}), "
          f"lightning {lightning.__version__}; {torch.get_num_threads()} threads")
    print(f"command: {' '.join(['benchmarks/peers.py', *(argv if argv is not None else sys.argv[1:])])}")
    print(f"training images: {n_train}, rounds: {args.rounds}\n")
    print("| model | batch | tool | s/epoch (median) | speed-up of deepstart (tool / deepstart) "
          "| test acc. after all epochs | epochs (incl. warm-up) |")
    print("|---|---|---|---|---|---|---|")
    for label, bs, tool, med, ratio, acc, n in rows:
        print(f"| {label} | {bs} | {tool} | {med:.3f} | {ratio:.2f} | {acc:.4f} | {n} |")


if __name__ == "__main__":
    main()
