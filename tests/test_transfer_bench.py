"""benchmarks/transfer.py: the few-label subsets are per-class balanced, seeded and keep the full test
set; a row runs through RunConfig/run as a user's run does; projections scale measured costs; its
docs section and recipes.py's table keep each other."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import require_path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import recipes  # noqa: E402
import transfer  # noqa: E402


@pytest.fixture(autouse=True)
def own_catalog(monkeypatch):
    """The subsets this module registers stay out of the catalog the other tests list."""
    from deepstart.problems import catalog

    monkeypatch.setattr(catalog, "PROBLEMS", dict(catalog.PROBLEMS))


def test_balanced_subset_takes_k_of_each_class_seeded():
    y = np.repeat(np.arange(4), [50, 30, 20, 10])[np.random.default_rng(1).permutation(110)]
    picked = transfer.balanced_subset(y, 7)
    assert np.bincount(y[picked]).tolist() == [7, 7, 7, 7]
    assert np.all(np.diff(picked) > 0)  # in the data's order, no index twice
    assert picked.tolist() == transfer.balanced_subset(y, 7).tolist()
    assert picked.tolist() != transfer.balanced_subset(y, 7, seed=1).tolist()


@pytest.fixture(scope="module")
def fashion():
    require_path("/usr/share/datasets/fashion-mnist", "apt-get install dataset-fashion-mnist")
    from deepstart.problems import get_problem

    return get_problem("fashion-mnist").load()


def test_the_subset_problem_keeps_every_test_image_and_the_recipes(fashion):
    from deepstart.problems import get_problem
    from deepstart.run import RunConfig

    name = transfer.fashion_subset(20)
    data = get_problem(name).load()
    assert np.bincount(data.y_train).tolist() == [20] * 10
    assert np.array_equal(data.x_test, fashion.x_test) and len(data.y_test) == 10_000
    # every training image is one of Fashion-MNIST's, with its own label
    keep = transfer.balanced_subset(fashion.y_train, 20)
    assert np.array_equal(data.x_train, fashion.x_train[keep])
    assert np.array_equal(data.y_train, fashion.y_train[keep])
    assert RunConfig.for_problem(name, model="convnet").epochs == \
        RunConfig.for_problem("fashion-mnist", model="convnet").epochs
    assert transfer.fashion_subset(6000) == "fashion-mnist"  # all of them: the problem itself


def test_the_subsets_leave_the_catalog_as_it_was():
    from deepstart.problems import all_problems

    assert not any("per-class" in p.name for p in all_problems())


def test_a_row_is_a_real_run_scored_on_the_test_images(fashion, tmp_path, one_torch_thread):
    name = transfer.fashion_subset(5, test_rows=60)
    row = transfer.Row("convnet recipe", "convnet", scratch=True)
    m = transfer.measure(name, {}, row, tmp_path, {"epochs": 1})
    assert m["metric"] == "accuracy" and m["test_rows"] == 60 and m["epochs"] == 1
    assert 0 <= m["score"] <= 1 and m["wall_seconds"] >= m["train_seconds"] > 0
    assert "lr=0.005" in m["settings"] and "widths=[48, 96, 192]" in m["settings"]
    line = transfer.table_line("fashion-mnist", "50", row, m, m)
    assert f"accuracy {m['score']:.4f}" in line
    assert transfer.long_epochs(900) == 100 and transfer.long_epochs(9000) == 47


def test_projections_scale_what_was_measured():
    smaller = {"train_seconds": 10.0, "wall_seconds": 40.0}
    # training 10x the images; scoring (train capped at 10,000, plus 10,000 test) 20,000 / 11,000
    assert transfer.project_image(smaller, 1000, 10_000, 10_000) == pytest.approx(
        100 + 30 * 20_000 / 11_000)
    # a frozen run is one forward pass over all texts: 2 epochs over 80 % of them at 3 passes each
    assert transfer.project_text_fine_tune({"wall_seconds": 60.0}, 2, 0.8) == pytest.approx(
        60 * (3 * 2 * 0.8 + 1))
    # fine_tune's first epoch trains the head alone: one pass
    assert transfer.project_text_fine_tune({"wall_seconds": 60.0}, 3, 0.8, 1) == pytest.approx(
        60 * ((3 * 2 + 1) * 0.8 + 1))


def test_the_docs_sections_survive_each_other(tmp_path, monkeypatch):
    for module in (transfer, recipes):
        monkeypatch.setattr(module, "DOCS", tmp_path)
    (tmp_path / "pretrained.md").write_text(f"# Pretrained\n\nintro\n\n{transfer.BEGIN}\nold\n"
                                            f"{transfer.END}\n\nafter\n")
    keys = transfer.all_keys()
    store = {keys[2]: {"CPU B": {"order": 2, "date": "d", "line": "| row 2 |"}},
             keys[0]: {"CPU A": {"order": 0, "date": "d", "line": "| row 0 |"}}}
    transfer.write_docs(store)
    recipes.write_docs(recipes.catalog_entries(), {})  # the recipes table, written again
    text = (tmp_path / "recipes.md").read_text()
    assert text.startswith("# Recipes and their measured claims")
    assert text.index("| row 0 |") < text.index("| row 2 |")
    assert text.count(recipes.TRANSFER_SECTION) == 1
    pretrained = (tmp_path / "pretrained.md").read_text()
    assert "old" not in pretrained and "intro" in pretrained and pretrained.endswith("after\n")
    assert "| row 0 |" in pretrained and "CPU A, d; CPU B, d" in pretrained
