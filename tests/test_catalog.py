"""The catalog as a whole: at least 25 real problems listed offline, each with its references and a
measured recipe; every one loads its real data, checked against the recorded split sizes and a
checksum of its first test rows; `deepstart problems` groups, filters and searches them; the
README's table is the one the catalog writes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from deepstart.cli import main
from deepstart.problems import KINDS, TASKS, all_problems, get_problem
from deepstart.problems.catalog import PROBLEMS

ROOT = Path(__file__).resolve().parents[1]

# train rows, test rows, the shape of one input, sha256 (first 16 hex digits) of the first 8 test
# inputs and targets as prepared arrays: a different version of a source changes these
SLICES = {
    "or-gate": (4, 4, (2,), "a6529b6d32901e61"),
    "xor": (4, 4, (2,), "23f0d5e52594f837"),
    "digits": (1347, 450, (1, 8, 8), "c0878b6e148964ba"),
    "iris": (112, 38, (4,), "ed65ef30bc4ebc31"),
    "wine": (133, 45, (13,), "23a8c0d77b35fa41"),
    "breast-cancer": (426, 143, (30,), "361750953b6774d8"),
    "pima-diabetes": (576, 192, (8,), "53c3a67e9051d65b"),
    "ames": (2344, 586, (310,), "edc5a6d80b0c6b4d"),
    "concrete": (744, 248, (8,), "62436453aa734eb4"),
    "diabetes": (353, 89, (10,), "2f5885b392104f5d"),
    "credit-data": (3563, 891, (32,), "efd7dc50946a8d09"),
    "attrition": (1176, 294, (71,), "b5c58507d460378f"),
    "churn": (3333, 1667, (53,), "10ae10cd2b83fefa"),
    "cells": (1009, 1010, (56,), "51f7813b87fa1fa4"),
    "penguins": (275, 69, (14,), "bb16b15c468ef5b0"),
    "mnist1d": (4000, 1000, (40, 1), "f16e07d9907009e2"),
    "fashion-mnist": (60000, 10000, (1, 28, 28), "fde2b057aa418ada"),
    "mnist": (60000, 10000, (1, 28, 28), "8fd398ce809d19da"),
    "airline-passengers": (96, 48, (1,), "47879cb62bce73f2"),
    "nile": (67, 33, (1,), "8e1f4e29f016462a"),
    "sunspots": (206, 103, (1,), "38721d70548e6f6c"),
    "mauna-loa-co2": (351, 175, (1,), "27c4a503c7fc2d65"),
    "elnino": (488, 244, (1,), "b6e9c27345cd6fe7"),
    "drinks": (206, 103, (1,), "a54dcd6adc6dba1d"),
}
# the text problems: the raw split sizes (their loaders check the texts' sha256 themselves)
TEXT_SPLITS = {"fine-foods": (4000, 1000), "spam-assassin": (4753, 1186), "brown-genres": (407, 93)}
# no package ships these: a verified download on first use (tests/test_cifar.py, test_text_problems.py)
DOWNLOAD_ONLY = {"cifar10", "imdb"}


@pytest.fixture(scope="module", autouse=True)
def home(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("DEEPSTART_HOME", str(tmp_path_factory.mktemp("home")))
    yield
    mp.undo()


def test_at_least_25_problems_offline_across_every_kind_and_task():
    problems = all_problems()
    offline = [p.name for p in problems if p.available_offline()]
    assert len(offline) >= 25, offline  # after .ci/run's installs (a missing one is named below)
    assert set(offline) | DOWNLOAD_ONLY == set(PROBLEMS)
    assert {p.kind for p in problems} == set(KINDS) and {p.task for p in problems} == set(TASKS)
    assert set(SLICES) | set(TEXT_SPLITS) | DOWNLOAD_ONLY == set(PROBLEMS)


@pytest.mark.parametrize("name", sorted(SLICES))
def test_every_problem_loads_its_real_data_on_the_recorded_split(name):
    n_train, n_test, shape, digest = SLICES[name]
    data = get_problem(name).load(download=False)
    assert (len(data.y_train), len(data.y_test)) == (n_train, n_test)
    assert data.x_train.shape == (n_train, *shape) and data.x_test.shape == (n_test, *shape)
    first = np.ascontiguousarray(data.x_test[:8]).tobytes() + np.ascontiguousarray(data.y_test[:8]).tobytes()
    assert hashlib.sha256(first).hexdigest()[:16] == digest


@pytest.mark.parametrize("name", sorted(TEXT_SPLITS))
def test_every_text_problem_reads_its_recorded_split(name):
    from deepstart.problems.text import LOADERS

    load, text, target = LOADERS[name]
    train, test = load()  # checks the texts and labels against their recorded sha256
    assert (len(train), len(test)) == TEXT_SPLITS[name]
    assert train[text].str.len().min() > 0 and set(test[target]) <= set(train[target])


def test_a_download_only_problem_offline_says_how_to_get_it():
    from deepstart.errors import DataError

    for name in DOWNLOAD_ONLY:
        assert not PROBLEMS[name].available_offline() and PROBLEMS[name].get_hint
        with pytest.raises(DataError, match="internet|download"):
            get_problem(name).load(download=False)


def test_every_problem_has_references_with_sources_and_a_measured_recipe():
    for p in all_problems():
        assert p.references, p.name
        for ref in p.references:
            assert ref.model and ref.source and np.isfinite(ref.value), (p.name, ref)
        assert p.recipes, f"{p.name} has no recipe with a measured claim"
        for recipe in p.recipes:
            assert len(recipe.claim) > 40, (p.name, recipe.model)


def test_the_shipped_recipe_scores_are_the_latest_cpu_measurements():
    from deepstart.problems import measured_scores

    store = json.loads((ROOT / "docs" / "recipes.json").read_text())
    recipes = {f"{p.name}/{r.model}" for p in all_problems() for r in p.recipes}
    shipped = measured_scores()
    assert shipped and set(shipped) <= recipes
    for rid, machines in store.items():
        cpu = [m for name, m in machines.items() if name.startswith("CPU")]
        if rid in recipes and cpu:
            latest = max(cpu, key=lambda m: m["date"])
            assert shipped[rid] == {k: latest[k] for k in ("score", "machine", "date")}, rid


def test_problems_groups_by_kind_and_filters(capsys):
    assert main(["problems"]) == 0
    out = capsys.readouterr().out
    positions = [out.index(f"{title} (") for title in ("tables", "images", "series", "text")]
    assert positions == sorted(positions)
    assert "Kuhn & Silge" in out  # the best reference's source is in the listing
    assert main(["problems", "--kind", "series"]) == 0
    out = capsys.readouterr().out
    assert "elnino" in out and "drinks" in out and "iris" not in out and "tables (" not in out
    assert main(["problems", "--task", "regression"]) == 0
    out = capsys.readouterr().out
    assert all(n in out for n in ("ames", "concrete", "diabetes")) and "penguins" not in out


def test_a_word_searches_names_and_descriptions(capsys):
    assert main(["problems", "housing"]) == 0  # "Ames housing" in the title
    out = capsys.readouterr().out
    assert "ames" in out and "1 problem(s)" in out
    assert main(["problems", "modeldata", "--kind", "table"]) == 0
    out = capsys.readouterr().out
    assert "credit-data" in out and "fine-foods" not in out


def test_a_word_that_matches_nothing_is_one_sentence(capsys):
    assert main(["problems", "zebrafish"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no built-in problem matching 'zebrafish'" in err[0]


def test_one_problem_says_where_to_start_and_the_published_gap(capsys):
    assert main(["problems", "fashion-mnist"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "start from deepstart run fashion-mnist --model convnet" in out
    assert "the best network here reaches 0.9326 (--model convnet); the best published 0.9670 " \
           "(WRN40-4): 0.0344 behind" in out
    assert main(["problems", "diabetes"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "no published score on this split: the best reference computed here is 54.09" in out


def test_the_readme_table_is_the_catalog():
    from deepstart.problems.markdown import catalog_table, section

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert section(readme) == catalog_table(), \
        "run `python -m deepstart.problems.markdown README.md` to rewrite the README's table"
    for name in PROBLEMS:
        assert f"| `{name}` |" in readme


def test_every_published_reference_links_to_its_source():
    from deepstart.problems.citations import PRINT_ONLY, reference_url

    for p in all_problems():
        for ref in p.references:
            url = reference_url(ref)
            if ref.computed or ref.source.startswith(PRINT_ONLY):
                assert url is None
            else:
                assert url and url.startswith(("https://", "http://")), (p.name, ref.source)


def test_a_model_computed_here_is_a_target_not_a_trivial_baseline():
    """Gradient boosting computed by benchmarks/table_baselines.py is a score to beat, not 'the
    baseline' a diagnosis measures memorising against; the majority class computed there is."""
    from deepstart.diagnose import is_baseline

    cells = {r.model: r for r in PROBLEMS["cells"].references}
    boosting = next(r for m, r in cells.items() if m.startswith("gradient boosting"))
    majority = next(r for m, r in cells.items() if m.startswith("majority"))
    assert boosting.computed and not is_baseline(boosting.model, boosting.source)
    assert majority.computed and is_baseline(majority.model, majority.source)
