"""Writes the notebooks of this folder from their cells (stored without outputs); run it after an edit."""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).parent


def notebook(name: str, parameters: str, cells: list[tuple[str, str]]) -> None:
    nb = new_notebook(cells=[new_markdown_cell(cells[0][1]),
                             new_code_cell(parameters, metadata={"tags": ["parameters"]})]
                      + [new_markdown_cell(t) if k == "md" else new_code_cell(t) for k, t in cells[1:]])
    for i, cell in enumerate(nb.cells):  # fixed ids: writing the notebooks again changes no byte
        cell.id = f"{name[:2]}-{i:02d}"
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

notebook("03_table_five_steps.ipynb",
         "folds = 10  # cross-validation folds of the spot-check\n"
         "epochs = 100  # the recipe's: the network of the classic Keras tutorial on this table\n"
         "patience = 10  # early stopping: epochs without a better validation loss\nseed = 0", [
    ("md", "# 3. A table in five steps: Pima Indians diabetes\n\nThe articles' process for a "
           "predictive-modelling project: **define** the problem, **prepare** the data, **evaluate** "
           "algorithms, **improve** the results, **present** them. Here on a real table: 768 women "
           "of Pima heritage, 8 measurements each, and whether diabetes was diagnosed within five "
           "years. The settings are in the next cell."),
    ("md", "## Step 1. Define the problem\n\nWhat is predicted, how it is judged, how the data is "
           "split, and what others reached on it. A score means little without the published "
           "results and a trivial baseline beside it."),
    ("code", "from deepstart import get_problem\n\nproblem = get_problem('pima-diabetes')\n"
             "print(problem.title)\nprint('predict:', problem.task, '(neg or pos) | judged by', problem.metric)\n"
             "print('split:', problem.split)\nprint('references:')\n"
             "for ref in problem.references:\n    print(f'  {ref.value:.3f}  {ref.model}  ({ref.source})')"),
    ("md", "## Step 2. Prepare the data\n\nThe raw table first: eight numbers per row, on very "
           "different scales (insulin in the hundreds, the pedigree function below 1)."),
    ("code", "import numpy as np\nimport pandas as pd\n\nraw = problem.load()\n"
             "table = pd.DataFrame(raw.x_train, columns=raw.feature_names)\n"
             "table['diabetes'] = np.array(problem.class_names)[raw.y_train]\n"
             "print(len(raw.x_train), 'training rows,', len(raw.x_test), 'test rows (kept aside until step 5)')\n"
             "table.head()"),
    ("md", "A network learns best from inputs of similar size, so each column is standardised "
           "(mean 0, standard deviation 1, computed on the training rows only). 10% of the training "
           "rows are kept aside as the validation split: step 4 chooses by it, never by the test rows."),
    ("code", "from deepstart.prepare import prepare\n\n"
             "data = prepare(raw, problem, val_split=0.1, seed=seed)\n"
             "print(len(data.x_train), 'training rows,', len(data.x_val), 'validation,', len(data.x_test), 'test')\n"
             "mean, sd = data.x_train.mean(0), data.x_train.std(0)\n"
             "print(f'standardised training rows: |mean| at most {mean.abs().max():.2f}, '\n"
             "      f'standard deviations {sd.min():.2f} to {sd.max():.2f}')"),
    ("md", "## Step 3. Evaluate algorithms\n\nBefore tuning one network, spot-check several "
           "algorithms on the same folds: a few minutes tell where the problem stands. Each "
           "algorithm is trained and scored on every fold of a stratified cross-validation; the "
           "leaderboard shows the mean accuracy over the folds and its spread. `baseline` always "
           "answers the majority class: anything worth keeping beats it."),
    ("code", "from deepstart.evaluate import evaluate\n\n"
             "board = evaluate(problem, algorithms=['baseline', 'logistic', 'knn', 'random-forest', 'mlp'],\n"
             "                 folds=folds, epochs=epochs, seed=seed, verbose=0)\nboard"),
    ("code", "best = board['results'][0]\n"
             "print(f\"best: {best['algorithm']} accuracy {best['mean']:.4f} (mean over {folds} folds \"\n"
             "      f\"of {board['protocol']['rows']} rows); published: {board['reference']['value']:.3f} \"\n"
             "      f\"({board['reference']['model']})\")"),
    ("md", "On a table of 768 rows a simple model such as the logistic regression is hard to "
           "beat: a network has little room to shine. It is still the network that step 4 "
           "improves, because that is the skill being learned."),
    ("md", "## Step 4. Improve the results\n\nFirst the recipe's network (12 and 8 ReLU units, "
           "Adam at 0.001, batches of 16) as it is, trained on the training rows. Its history "
           "shows the training loss and the validation loss per epoch."),
    ("code", "from deepstart import Learner\n\nsettings = dict(lr=1e-3, batch_size=16, seed=seed, "
             "verbose=0, model_options={'hidden': [12, 8]})\n"
             "plain = Learner('mlp', problem, **settings)\nplain.fit(epochs)\nplain.history"),
    ("md", "When the validation loss turns up while the training loss still falls, the network is "
           "learning the training rows by heart (overfitting). One change that targets it: **early "
           "stopping**. Train up to three times as long, stop after `patience` epochs without a "
           "better validation loss, and keep the weights of the best epoch."),
    ("code", "from deepstart import EarlyStopping\n\nstop = EarlyStopping(monitor='val_loss', patience=patience)\n"
             "stopped = Learner('mlp', problem, callbacks=[stop], **settings)\nstopped.fit(3 * epochs)\n"
             "print(f'stopped after epoch {stopped.epoch}; kept the weights of epoch {stop.best_epoch}')\n"
             "n_val = len(data.x_val)\n"
             "for name, learner in (('as it is', plain), ('early stopping', stopped)):\n"
             "    val = learner.evaluate('val')\n"
             "    print(f\"{name:>15}: validation loss {val['loss']:.4f}, accuracy {val['accuracy']:.4f} on the {n_val} validation rows\")"),
    ("md", "The choice is made on the validation rows, by their loss (with only 58 rows, one "
           "row more or less right moves the accuracy by 0.017, so the loss is the steadier guide)."),
    ("code", "chosen_name, chosen = min((('as it is', plain), ('early stopping', stopped)),\n"
             "                          key=lambda pair: pair[1].evaluate('val')['loss'])\nprint('chosen:', chosen_name)"),
    ("md", "## Step 5. Present the results\n\nThe test rows are used once, now: the chosen network's "
           "score beside the published result and the majority baseline. The network set aside is "
           "scored too, to show what the change bought on rows neither has seen."),
    ("code", "published, majority = (r.value for r in problem.references)\nn_test = len(data.x_test)\n"
             "for name, learner in (('as it is', plain), ('early stopping', stopped)):\n"
             "    name += ' (chosen)' if learner is chosen else ' (set aside)'\n"
             "    print(f\"{name:>26}: test accuracy {learner.evaluate('test')['accuracy']:.4f} on the {n_test} test rows\")\n"
             "print(f'{\"published (ADAP)\":>26}: {published:.3f} (on its own 192 test rows)')\n"
             "print(f'{\"majority baseline\":>26}: {majority:.3f} (always neg, on all 768 rows)')"),
    ("md", "The run folder keeps everything needed to reproduce and show the result: settings, "
           "seed, versions, history, scores and weights. `deepstart report RUN` turns it into a "
           "page, and `deepstart portfolio build` into a project of your portfolio."),
    ("code", "from deepstart.record import read_run\n\nfolder = chosen.save('runs')\nread_run(folder)"),
])

notebook("04_image_folder.ipynb",
         "source = 'fashion-mnist'  # where the images come from: 'fashion-mnist', 'mnist' or 'digits'\n"
         "per_class = 300  # images written into each class folder\nepochs = 10\nseed = 0", [
    ("md", "# 4. Your own folder of images\n\nMost people's first real problem is a folder of "
           "photos: one sub-folder per class (`cats/`, `dogs/`). This notebook makes such a folder "
           "from real images (Fashion-MNIST's clothes, saved as PNG files), then treats it exactly "
           "as it would treat yours. The settings are in the next cell."),
    ("md", "## Make the folder\n\nThe first `per_class` training images of each class, one PNG "
           "file each, in a sub-folder named after the class. With your own images you start "
           "from here."),
    ("code", "from pathlib import Path\n\nimport numpy as np\nfrom PIL import Image\n\n"
             "from deepstart import get_problem\n\nshipped = get_problem(source).load()\n"
             "names = [n.replace('/', '-') for n in get_problem(source).class_names]  # T-shirt/top is no folder name\n\n"
             "def png(pixels, path):\n"
             "    \"\"\"One grey image, its stored levels (0..pixel_max) as 0..255, as a PNG file.\"\"\"\n"
             "    Image.fromarray((pixels[0] * (255 / shipped.pixel_max)).round().astype(np.uint8)).save(path)\n\n"
             "folder = Path('my_images')\nfor label, name in enumerate(names):\n"
             "    (folder / name).mkdir(parents=True, exist_ok=True)\n"
             "    for i in np.flatnonzero(shipped.y_train == label)[:per_class]:\n"
             "        png(shipped.x_train[i], folder / name / f'{i}.png')\n"
             "for d in sorted(folder.iterdir()):\n    print(f'{d.name + \"/\":14} {len(list(d.glob(\"*.png\")))} images')"),
    ("md", "## Look at it\n\nAlways look at the data before training: one image of each class."),
    ("code", "import matplotlib.pyplot as plt\n\nfig, axes = plt.subplots(1, len(names), figsize=(1.3 * len(names), 1.8))\n"
             "for ax, d in zip(axes, sorted(folder.iterdir())):\n"
             "    ax.imshow(Image.open(next(iter(sorted(d.glob('*.png'))))), cmap='gray')\n"
             "    ax.set_title(d.name, fontsize=8)\n    ax.axis('off')\nplt.show()"),
    ("md", "## Read the folder\n\n`image_folder_problem` reads every image, makes them one size "
           "and colour, takes the class names from the sub-folders (sorted) and keeps 20% of each "
           "class aside as the test images. Files that are not images are listed and skipped."),
    ("code", "from deepstart import image_folder_problem\n\nproblem = image_folder_problem(folder)\n"
             "print(problem.size)\nprint('split:', problem.split)\nprint('classes:', ', '.join(problem.class_names))"),
    ("md", "## Train a convolutional network\n\nThe default model for images: two convolution "
           "layers learn local patterns (edges, textures), then a dense layer decides. 10% of the "
           "training images are the validation split."),
    ("code", "from deepstart import Learner\n\nlearner = Learner('convnet', problem, lr=1e-3, batch_size=32, seed=seed)\n"
             "history = learner.fit(epochs)"),
    ("md", "## The test score\n\nOn the 20% of each class kept aside, beside the baseline that "
           "answers the most common class every time (here the classes are the same size, so it is "
           "right one time in ten)."),
    ("code", "test = learner.evaluate('test')\nbaseline = problem.references[0]\n"
             "n_test = len(learner.data.x_test)\n"
             "print(f\"test accuracy {test['accuracy']:.4f} on the {n_test} test images of the folder\")\n"
             "print(f'baseline {baseline.value:.4f} ({baseline.model}, {baseline.source})')"),
    ("md", "## Predict new images\n\nTen images the network has never seen, from the shipped test "
           "split, saved as PNG files as a user would receive them, read back and predicted."),
    ("code", "new = Path('new_images')\nnew.mkdir(exist_ok=True)\nfiles, truth = [], []\n"
             "for i in range(10):\n    files.append(new / f'{i}.png')\n    png(shipped.x_test[i], files[-1])\n"
             "    truth.append(names[shipped.y_test[i]])\n\n"
             "pixels = np.stack([np.asarray(Image.open(f).convert('L')) for f in files])[:, None]  # (N, 1, H, W)\n"
             "predicted = [problem.class_names[k] for k in learner.predict(pixels)]\n"
             "right = sum(p == t for p, t in zip(predicted, truth))\n"
             "print(f'{right} of {len(files)} new images predicted right')\n\n"
             "fig, axes = plt.subplots(1, len(files), figsize=(1.3 * len(files), 2))\n"
             "for ax, f, p, t in zip(axes, files, predicted, truth):\n"
             "    ax.imshow(Image.open(f), cmap='gray')\n"
             "    ax.set_title(f'{p}\\n({t})' if p != t else p, fontsize=8, color='black' if p == t else 'red')\n"
             "    ax.axis('off')\nplt.show()"),
    ("md", "Each title is the prediction; a red one was wrong, with the true class below it. The "
           "same in one command, on your own folder: `deepstart run my_images/`."),
])

notebook("05_series_forecast.ipynb",
         "epochs = 300  # the recipe's: a linear model, Adam at 0.01, batches of 16\nseed = 0", [
    ("md", "# 5. A series: forecast next month's airline passengers\n\nThe monthly totals of "
           "international airline passengers, 1949-1960 (Box & Jenkins), the series of the "
           "articles' LSTM tutorial: from the months so far, predict the next one. The settings are "
           "in the next cell."),
    ("md", "## The series and its split\n\nA series is split in time, never at random: the first "
           "96 months train, the later ones are the test. Each test month is forecast from the true "
           "months before it."),
    ("code", "import matplotlib.pyplot as plt\nimport numpy as np\n\nfrom deepstart import get_problem\n\n"
             "problem = get_problem('airline-passengers')\nraw = problem.load()\nseries, scored = raw.series, raw.test_targets\n"
             "print(problem.title, '|', problem.size)\nprint('split:', problem.split)\n\n"
             "fig, ax = plt.subplots(figsize=(8, 3))\nax.plot(series, label='passengers (thousands)')\n"
             "ax.axvspan(scored[0], scored[-1], alpha=0.15, label='test months')\n"
             "ax.set_xlabel('month since January 1949')\nax.legend()\nplt.show()"),
    ("md", "## The baselines\n\nTwo forecasts that need no learning: **persistence** (next month "
           "= this month) and **seasonal naive** (next month = the same month last year). A model "
           "is worth something only if it beats them. Both are computed here on the test months, "
           "by hand, as root mean squared error (RMSE, in thousands of passengers; lower is better)."),
    ("code", "def rmse(forecast):\n    return float(np.sqrt(np.mean((series[scored] - forecast) ** 2)))\n\n"
             "persistence, seasonal = rmse(series[scored - 1]), rmse(series[scored - 12])\n"
             "print(f'persistence    RMSE {persistence:.2f} on the {len(scored)} test months')\n"
             "print(f'seasonal naive RMSE {seasonal:.2f} on the {len(scored)} test months')\n"
             "print('catalog:', '; '.join(f'{r.value} {r.model}' for r in problem.references))"),
    ("md", "## A model on a window of past months\n\nA network does not read the whole series: it "
           "reads a window of the last `lookback` months and predicts the next. The tutorial's "
           "window is 1 month; a window of 13 months holds the same month last year *and* the "
           "change since, which is what seasonal naive misses. Both are trained (a linear model: "
           "one weight per month of the window) and compared on the validation months: the latest "
           "10% of each one's training windows."),
    ("code", "from deepstart import Learner\n\nlearners = {}\nfor lookback in (1, 13):\n"
             "    learners[lookback] = Learner('linear', problem, lookback=lookback, lr=1e-2, batch_size=16,\n"
             "                                 seed=seed, verbose=0)\n    learners[lookback].fit(epochs)\n"
             "    n_val = len(learners[lookback].data.x_val)\n"
             "    print(f\"look-back {lookback:2}: validation RMSE {learners[lookback].evaluate('val')['rmse']:.2f} on {n_val} months\")\n"
             "lookback = min(learners, key=lambda k: learners[k].evaluate('val')['rmse'])\n"
             "learner = learners[lookback]\nprint('chosen look-back:', lookback)"),
    ("md", "## The forecast on the test months\n\nScored once, beside the baselines."),
    ("code", "forecast = learner.predict()  # one value per test month, in thousands of passengers\n"
             "test = learner.evaluate('test')\n"
             "print(f\"linear, look-back {lookback}: RMSE {test['rmse']:.2f} on the {len(scored)} test months\")\n"
             "for k, other in learners.items():\n"
             "    if other is not learner:\n"
             "        print(f\"linear, look-back {k} (set aside): RMSE {other.evaluate('test')['rmse']:.2f}\")\n"
             "print(f'seasonal naive: RMSE {seasonal:.2f}, persistence: RMSE {persistence:.2f}')\n\n"
             "fig, ax = plt.subplots(figsize=(8, 3))\nax.plot(scored, series[scored], 'k', label='actual')\n"
             "ax.plot(scored, forecast, label=f'linear, look-back {lookback}')\n"
             "ax.plot(scored, series[scored - 12], ':', label='seasonal naive')\n"
             "ax.set_xlabel('month since January 1949')\nax.set_ylabel('thousands')\nax.legend()\nplt.show()"),
    ("md", "## What it learned\n\nThe weights of the 13-month window: the largest ones sit on "
           "the same month last year (t-12), last month (t-1) and, negative, the month a year "
           "before last month (t-13), i.e. \"last year's same month plus this year's change\". "
           "(With look-back 1 there is a single weight.)"),
    ("code", "weights = learner.model.linear.weight.detach().reshape(-1).numpy()\n"
             "for lag, w in zip(range(len(weights), 0, -1), weights):\n"
             "    if abs(w) > 0.3:\n        print(f'month t-{lag}: {w:+.2f}')\n"
             "print('the other months of the window: weights between -0.3 and +0.3')"),
])
