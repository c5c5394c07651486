"""The activation functions of seed article 004 ("Deep learning with Python", Edureka, Chinese
translation): identity, binary step, sigmoid, tanh, ReLU and softmax.

The article only lists them by name; this example draws each one (one panel per function on
[-5, 5], `deepstart.models.activations.plot_activations`) and prints their values at x = -2..2,
computed by the same modules the model zoo uses (`deepstart.models.activations.activation`).

Softmax maps a vector to probabilities, not a number to a number: the table applies it to the row
(-2, -1, 0, 1, 2) as one vector (its values sum to 1), while the plot shows the first entry of
softmax([x, 0, -x]) against x. The binary step is 1 at x = 0 (1 where x >= 0).

Runs in about 4 s on 2 shared CPU cores (importing torch and matplotlib, then one figure). Writes
`activations.png` to `--out` (default `example-output/` under the current directory).

    python examples/activations.py
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from deepstart.models.activations import activation, plot_activations

NAMES = ("identity", "step", "sigmoid", "tanh", "relu", "softmax")
POINTS = (-2.0, -1.0, 0.0, 1.0, 2.0)


def activation_table(points=POINTS, names=NAMES) -> dict[str, list[float]]:
    """{name: [value at each point]}; softmax over the points taken as one vector."""
    x = torch.tensor(points)
    with torch.no_grad():
        return {name: activation(name)(x).tolist() for name in names}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("example-output"))
    args = parser.parse_args(argv)

    table = activation_table()
    print(f"{'x':<10}" + "".join(f"{p:>9g}" for p in POINTS))
    for name, values in table.items():
        print(f"{name:<10}" + "".join(f"{v:9.4f}" for v in values))
    print("(softmax: of the row (-2, -1, 0, 1, 2) as one vector; its values sum to 1)")

    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "activations.png"
    plot_activations(path, NAMES)
    print(f"plot: {path}")
    return {"table": table, "plot": path}


if __name__ == "__main__":
    main()
