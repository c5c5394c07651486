"""Writes the notebooks of this folder from their cells (stored without outputs); run it after an edit."""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).parent


def notebook(name: str, parameters: str, cells: list[tuple[str, str]]) -> None:
    nb = new_notebook(cells=[new_markdown_cell(cells[0][1]),
                             new_code_cell(parameters, metadata={"tags": ["parameters"]})]
                      + [new_markdown_cell(t) if k == "md" else new_code_cell(t) for k, t in cells[1:]])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.validate(nb)
    nbformat.write(nb, HERE / name)


notebook("01_perceptron_or_gate.ipynb", "epochs = 100  # full batch: one update per epoch\nlr = 0.1\nseed = 62", [
    ("md", "# 1. A perceptron learns the OR gate\n\nOne neuron, output = ReLU(x · w), trained on the "
           "four rows of the OR truth table. The third input is a constant 1: it plays the bias. "
           "The settings are in the next cell."),
    ("md", "## The four rows"),
    ("code", "import torch\nfrom deepstart import Learner\nfrom deepstart.models.linear import Perceptron, "
             "PerceptronConfig\nfrom deepstart.prepare import Prepared\n\n"
             "rows = [[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]]  # x1, x2, constant 1\n\n"
             "def gate(targets):\n"
             "    x = torch.tensor(rows, dtype=torch.float32)\n"
             "    y = torch.tensor([[t] for t in targets], dtype=torch.float32)\n"
             "    # the four rows are both what is learned and what is scored\n"
             "    return Prepared(task='binary', input_shape=(3,), n_outputs=1, x_train=x, y_train=y,\n"
             "                    x_val=x[:0], y_val=y[:0], x_test=x, y_test=y, class_names=('0', '1'),\n"
             "                    feature_names=('x1', 'x2', 'bias'), scaling={'x': {'offset': 0.0, 'scale': 1.0}})\n\n"
             "def perceptron():\n"
             "    model = Perceptron(PerceptronConfig(in_features=3, activation='relu', bias=False))\n"
             "    with torch.no_grad():  # weights from N(0, 1), as the article draws them\n"
             "        model.linear.weight.normal_(generator=torch.Generator().manual_seed(seed))\n"
             "    return model"),
    ("md", "## Train on OR\n\nThe loss is the sum of squared errors over the four rows; plain gradient "
           "descent. In a notebook the progress bar and one curve plot update as the epochs end."),
    ("code", "learner = Learner(perceptron(), gate([0, 1, 1, 1]), optimizer='sgd', lr=lr, batch_size=4,\n"
             "                  loss='sse', seed=seed, verbose=1)\nlearner.fit(epochs)\n"
             "or_accuracy = learner.evaluate('test')['accuracy']\n"
             "print('OR accuracy on its four rows:', or_accuracy)"),
    ("md", "The learner shows what it is and how far it got:"),
    ("code", "learner"),
    ("md", "## XOR fails\n\nXOR (0, 1, 1, 0) is not separable by one line: a single neuron cannot "
           "get all four rows right, however long it trains."),
    ("code", "xor = Learner(perceptron(), gate([0, 1, 1, 0]), optimizer='sgd', lr=lr, batch_size=4,\n"
             "              loss='sse', seed=seed, verbose=0)\nxor.fit(epochs)\n"
             "xor_accuracy = xor.evaluate('test')['accuracy']\n"
             "print('XOR accuracy on its four rows:', xor_accuracy, '(at most 0.75 for one neuron)')"),
    ("code", "xor.history"),
])

notebook("02_mlp_fashion_mnist.ipynb",
         "problem_name = 'fashion-mnist'  # or 'digits' (8x8, bundled with scikit-learn)\nepochs = 15\nlimit = None  # train on the first N images only (None: all 60,000)\nseed = 0", [
    ("md", "# 2. The MLP 256-256 on Fashion-MNIST\n\nTwo hidden layers of 256 ReLU units, Adam at "
           "0.001, batches of 100. The data are Zalando's Fashion-MNIST (28x28 clothes, 10 classes): "
           "Debian's `dataset-fashion-mnist` package or a download. Without them, set "
           "`problem_name = 'digits'` (8x8 digits shipped with scikit-learn)."),
    ("md", "## Prepare the data\n\nPixels scaled to [0, 1]; 10% of the training images are kept "
           "aside as the validation split."),
    ("code", "from dataclasses import replace\nfrom deepstart import Learner\n"
             "from deepstart.prepare import prepare\nfrom deepstart.problems import get_problem\n\n"
             "problem = get_problem(problem_name)\ndata = prepare(problem.load(), problem, val_split=0.1, seed=seed)\n"
             "if limit is not None:\n    data = replace(data, x_train=data.x_train[:limit], y_train=data.y_train[:limit])\n"
             "print(len(data.x_train), 'training images,', len(data.x_val), 'validation,', len(data.x_test), 'test')"),
    ("md", "## Train\n\nThe curve plot below is updated in place while it trains."),
    ("code", "learner = Learner('mlp', data, optimizer='adam', lr=0.001, batch_size=100, seed=seed,\n"
             "                  model_options={'hidden': [256, 256], 'activation': 'relu'})\n"
             "history = learner.fit(epochs)"),
    ("md", "## The history\n\nLoss and accuracy per epoch, on the training images and on the "
           "validation split. Validation below training and still falling: more epochs may help."),
    ("code", "history"),
    ("md", "## The test score\n\nScored once, at the end, on the test images."),
    ("code", "test = learner.evaluate('test')\nprint(f\"test accuracy {test['accuracy']:.4f} on {len(data.x_test)} test images\")"),
])
