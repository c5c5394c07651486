"""The notebooks of notebooks/ run top to bottom in a real Jupyter kernel (nbclient, ipykernel of this
Python), on small settings put in their `parameters` cell, in a temporary working directory."""

import json
import sys
from pathlib import Path

import nbformat
import pytest

from conftest import require_path

NOTEBOOKS = Path(__file__).parent.parent / "notebooks"
SMALL = {"01_perceptron_or_gate.ipynb": "epochs = 100\nlr = 0.1\nseed = 62",
         "02_mlp_fashion_mnist.ipynb": "problem_name = 'digits'  # Fashion-MNIST is not on every machine\nepochs = 2\nlimit = 600\nseed = 0",
         "03_table_five_steps.ipynb": "folds = 3\nepochs = 20\npatience = 5\nseed = 0",
         "04_image_folder.ipynb": "source = 'fashion-mnist'\nper_class = 20\nepochs = 2\nseed = 0",
         "05_series_forecast.ipynb": "epochs = 150\nseed = 0"}


def execute(name: str, cwd: Path):
    from jupyter_client.kernelspec import KernelSpecManager
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    cell.source = SMALL[name]
    # this Python's own kernel, whatever kernelspecs the machine has: CI's fresh .venv works
    spec = cwd / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3", "language": "python",
        # small models on a shared 2-core machine: one torch thread, as the one_torch_thread fixture
        "env": {"OMP_NUM_THREADS": "1"}}))
    client = NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd)}},
                            kernel_manager_class="jupyter_client.manager.KernelManager")
    client.kernel_spec_manager = KernelSpecManager(kernel_dirs=[str(cwd / "kernels")])
    client.km = client.kernel_manager_class(kernel_name="python3",
                                            kernel_spec_manager=client.kernel_spec_manager)
    client.execute()
    return nb


def cell(nb, starts: str):
    """The code cell whose source starts with `starts`."""
    return next(c for c in nb.cells if c.cell_type == "code" and c.source.startswith(starts))


def images(c) -> int:
    """The PNG figures a code cell shows (matplotlib's inline backend)."""
    return sum("image/png" in o.get("data", {}) for o in c.outputs)


def outputs(nb):
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]


def text(nb) -> str:
    return "".join(o.get("text", "") for o in outputs(nb))


def test_every_notebook_has_small_settings_and_runs_here():
    """A notebook added to notebooks/ without small settings in SMALL (and a test below) fails."""
    assert sorted(SMALL) == sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))


@pytest.mark.parametrize("name", sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")))
def test_stored_without_outputs_with_a_parameters_cell(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert "parameters" in code[0].metadata.get("tags", [])


def test_perceptron_learns_or_and_fails_xor_with_one_live_plot(tmp_path):
    nb = execute("01_perceptron_or_gate.ipynb", tmp_path)
    assert "OR accuracy on its four rows: 1.0" in text(nb)
    assert "XOR accuracy on its four rows: 1.0" not in text(nb)
    fit = next(c for c in nb.cells if "learner.fit(epochs)" in c.source and "xor" not in c.source)
    shown = [o for o in fit.outputs if o.output_type == "display_data"
             and "data:image/png;base64," in o.data.get("text/html", "")]
    # 100 epochs, one image: later draws replaced it through its display_id (update_display_data)
    assert len(shown) == 1, fit.outputs
    learner = next(c for c in nb.cells if c.source == "learner")
    html = learner.outputs[0].data["text/html"]
    assert "data:image/png;base64," in html and "epochs done" in html


def test_mlp_256_256_shows_its_history(tmp_path):
    nb = execute("02_mlp_fashion_mnist.ipynb", tmp_path)
    assert "600 training images" in text(nb) and "test accuracy" in text(nb)
    history = next(c for c in nb.cells if c.source == "history")
    assert "<b>History</b>: 2 epoch(s)" in history.outputs[0].data["text/html"]


def test_table_in_five_steps(tmp_path):
    """Define, prepare, evaluate, improve, present: the references, the split, a leaderboard of
    five algorithms on the same folds, early stopping chosen on the validation rows, the test
    scores beside the published one, and the run folder it saves."""
    import re

    nb = execute("03_table_five_steps.ipynb", tmp_path)
    out = text(nb)
    assert "0.760  ADAP neural network" in out and "518 training rows, 58 validation, 192 test" in out
    board = cell(nb, "from deepstart.evaluate").outputs[0].data["text/html"]
    assert "3 fold(s) on 768 rows" in board and all(a in board for a in ("logistic", "mlp", "baseline"))
    assert re.search(r"<td>baseline</td><td>0\.651\d</td>", board)  # the majority class: 500 of 768
    assert re.search(r"best: \S+ accuracy 0\.\d{4} \(mean over 3 folds of 768 rows\); published: 0\.760", out)
    assert re.search(r"kept the weights of epoch \d+", out) and "chosen:" in out
    scores = [float(x) for x in re.findall(r"test accuracy (0\.\d{4}) on the 192 test rows", out)]
    assert len(scores) == 2 and all(x > 0.651 for x in scores), out  # both beat the majority class
    assert "(chosen)" in out and "(set aside)" in out
    run = cell(nb, "from deepstart.record").outputs[0].data["text/html"]
    assert "test accuracy (192 test rows)" in run and "data:image/png;base64," in run
    assert len(list((tmp_path / "runs").glob("*-pima-diabetes-mlp-1/metrics.json"))) == 1


def test_image_folder_of_real_pngs(tmp_path):
    """The folder it writes holds real PNGs in one sub-folder per class; the network trained on it
    scores above the majority class on its test images and predicts ten new files."""
    import re

    from deepstart.problems.catalog import DEBIAN_FASHION_MNIST

    require_path(DEBIAN_FASHION_MNIST, "install it with `apt-get install dataset-fashion-mnist`")
    nb = execute("04_image_folder.ipynb", tmp_path)
    out = text(nb)
    folders = sorted(p.name for p in (tmp_path / "my_images").iterdir())
    assert len(folders) == 10 and "T-shirt-top" in folders
    assert all(len(list((tmp_path / "my_images" / f).glob("*.png"))) == 20 for f in folders)
    assert "200 images 28x28 grey, 10 classes" in out and "160 + 40 images" in out
    assert images(cell(nb, "import matplotlib")) == 1
    accuracy = float(re.search(r"test accuracy (0\.\d{4}) on the 40 test images", out).group(1))
    assert accuracy > 0.1 and "baseline 0.1000" in out  # ten classes of the same size
    right = int(re.search(r"(\d+) of 10 new images predicted right", out).group(1))
    assert right >= 2 and images(cell(nb, "new = Path")) == 1  # the figure after fit is shown


def test_series_beats_its_baselines(tmp_path):
    """The baselines computed by hand match the catalog's; the window of 13 months, chosen on the
    validation months, beats seasonal naive on the 46 test months; both figures are shown."""
    import re

    nb = execute("05_series_forecast.ipynb", tmp_path)
    out = text(nb)
    assert "persistence    RMSE 48.66 on the 46 test months" in out
    assert "seasonal naive RMSE 42.32 on the 46 test months" in out
    assert "chosen look-back: 13" in out
    rmse = float(re.search(r"linear, look-back 13: RMSE ([\d.]+) on the 46 test months", out).group(1))
    assert rmse < 42.32, out
    assert images(cell(nb, "import matplotlib")) == 1 and images(cell(nb, "forecast =")) == 1
    assert "month t-12: +" in out


def test_learner_and_history_html():
    from deepstart import Learner

    learner = Learner("mlp", "iris", verbose=0, seed=0)
    learner.fit(2)
    html = learner._repr_html_()
    assert '<img src="data:image/png;base64,' in html and "val_accuracy (epoch 2)" in html
    assert f"{learner.history.rows[-1]['val_accuracy']:.4g}" in learner.history._repr_html_()


def test_run_leaderboard_and_diagnosis_display_themselves(tmp_path):
    """A run folder, an evaluation and a diagnosis, as the last expression of a cell, show their
    real scores in the digits the report uses, and the run its curves as an embedded PNG."""
    import json

    from deepstart.cli import main
    from deepstart.diagnose import diagnose_folder
    from deepstart.evaluate import evaluate
    from deepstart.problems import get_problem
    from deepstart.record import read_run

    assert main(["run", "iris", "--epochs", "3", "--quiet", "--out", str(tmp_path)]) == 0
    folder = next(p for p in tmp_path.iterdir() if p.is_dir())
    metrics = json.loads((folder / "metrics.json").read_text())
    page = read_run(folder)._repr_html_()
    assert '<img src="data:image/png;base64,' in page
    assert f"{metrics['test']['accuracy']:.4f}" in page and "best published" in page
    diagnosis = diagnose_folder(folder)
    assert diagnosis.headline in diagnosis._repr_html_()
    board = evaluate(get_problem("iris"), algorithms=["logistic", "baseline"], verbose=0)
    assert json.loads(json.dumps(board)) == dict(board)  # still a plain dict to everything else
    page = board._repr_html_()
    best = next(r for r in board["results"] if r["algorithm"] == "logistic")
    assert f"{best['mean']:.4f}" in page and "e-17" not in page and page.index("logistic") < page.index("baseline")
