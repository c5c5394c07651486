"""The notebooks of notebooks/ run top to bottom in a real Jupyter kernel (nbclient, ipykernel of this
Python), on small settings put in their `parameters` cell, in a temporary working directory."""

import json
import sys
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).parent.parent / "notebooks"
SMALL = {"01_perceptron_or_gate.ipynb": "epochs = 100\nlr = 0.1\nseed = 62",
         "02_mlp_fashion_mnist.ipynb": "problem_name = 'digits'  # Fashion-MNIST is not on every machine\nepochs = 2\nlimit = 600\nseed = 0"}


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
        "display_name": "Python 3", "language": "python"}))
    client = NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd)}},
                            kernel_manager_class="jupyter_client.manager.KernelManager")
    client.kernel_spec_manager = KernelSpecManager(kernel_dirs=[str(cwd / "kernels")])
    client.km = client.kernel_manager_class(kernel_name="python3",
                                            kernel_spec_manager=client.kernel_spec_manager)
    client.execute()
    return nb


def outputs(nb):
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]


def text(nb) -> str:
    return "".join(o.get("text", "") for o in outputs(nb))


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
