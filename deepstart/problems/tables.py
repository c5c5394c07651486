"""The built-in tables beyond scikit-learn's four classification sets: R's modeldata package
(Debian r-cran-modeldata, read without R by deepstart.problems.rdata_db) and scikit-learn's bundled
diabetes regression.

Each entry names its target, its metric (the one its literature scores it by: the RMSE of the log
price for Ames, as the Kaggle competition on the same houses does), its split and its references.
modeldata ships no split for most of its tables, so deepstart fixes one: 80/20, stratified by class
for classification, seed 0 (deepstart.problems.splits), recorded in each entry; the cells data
ships its own (the `case` column). Every loader checks the rows it read against a recorded row
count and sha256, so a different modeldata version is named, not silently scored against
references measured on other rows.

The rows become a Problem the way a user's own table does (deepstart.problems.tabular: the column
schema is fitted on the training rows, categories one-hot, missing values imputed and flagged), so
`deepstart run ames` and `deepstart run ames.csv --target log_price` prepare the same features.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from functools import partial

import numpy as np

from deepstart.errors import DataError
from deepstart.problems import Dataset, Problem, Recipe, Reference
from deepstart.problems.rdata_db import MODELDATA_HINT, package_data, read_modeldata

TEST_FRACTION = 0.2
SPLIT_SEED = 0
MODELDATA = "Debian r-cran-modeldata 1.1.0 (R's modeldata package, read without R)"
MODELDATA_GET = "apt-get download r-cran-modeldata && dpkg-deb -x r-cran-modeldata_*.deb /   (as root; no R needed)"
# the computed references: benchmarks/table_baselines.py, one run (scikit-learn 1.9.1)
BASELINES = "benchmarks/table_baselines.py, scikit-learn 1.9.1"


def frame_digest(frame) -> str:
    """sha256 of a frame's CSV text (no index): the record a loader checks its rows against."""
    return hashlib.sha256(frame.to_csv(index=False).encode()).hexdigest()


def _check(name: str, frame, record: tuple[int, str], fix: str) -> None:
    rows, digest = record
    got = frame_digest(frame)
    if len(frame) != rows or got != digest:
        raise DataError(f"{name}: read {len(frame)} rows (sha256 {got[:12]}...), expected {rows} "
                        f"(sha256 {digest[:12]}...): it is not the data the references were "
                        f"measured on; {fix}.")


def modeldata_offline() -> bool:
    try:
        package_data("modeldata", MODELDATA_HINT)
    except DataError:
        return False
    return True


# --- the frames ------------------------------------------------------------------------------------

def _modeldata(name: str):
    import warnings

    with warnings.catch_warnings():  # rdata warns of R attributes it does not convert
        warnings.simplefilter("ignore")
        return read_modeldata(name)


def ames_frame():
    """modeldata's ames (De Cock 2011): 2,930 houses, 73 columns and `log_price`, the natural log
    of Sale_Price (which is dropped: it would give the answer away)."""
    frame = _modeldata("ames")
    price = frame["Sale_Price"].astype(np.float64)
    return frame.drop(columns=["Sale_Price"]).assign(log_price=np.log(price.to_numpy()))


def average_replicates(frame):
    """The concrete mixtures with their replicates averaged, as Kuhn & Johnson (APM ch. 10) and
    Kuhn & Silge (TMwR ch. 15) prepare them: 1,030 rows become 992 distinct mixtures, so no
    mixture is both trained on and scored (a random split of the raw rows would leak)."""
    inputs = [c for c in frame.columns if c != "compressive_strength"]
    return (frame.groupby(inputs, sort=True, as_index=False)["compressive_strength"].mean()
            [[*inputs, "compressive_strength"]])


def diabetes_frame():
    """scikit-learn's load_diabetes (Efron et al. 2004): 442 patients, ten baseline variables as
    scikit-learn ships them (each centred and scaled to unit norm), and `progression`, a measure of
    disease progression one year after baseline."""
    import pandas as pd
    import sklearn.datasets

    bunch = sklearn.datasets.load_diabetes()
    frame = pd.DataFrame(bunch.data, columns=[str(c) for c in bunch.feature_names])
    return frame.assign(progression=bunch.target.astype(np.float64))


@dataclasses.dataclass(frozen=True)
class TableSource:
    read: Callable  # () -> the whole frame, target included
    target: str
    record: tuple[int, str]  # rows and frame_digest of the frame as read
    fix: str  # what to do when the rows differ
    classify: bool = True
    # a column that holds the source's own split ("Train"/"Test"), dropped from the features
    split_column: str | None = None
    # the source's own split by row order: the first `train_rows` rows train, the rest test
    train_rows: int | None = None
    test_fraction: float = TEST_FRACTION  # of a split deepstart fixes
    # the frame as scored, from the frame as read and checked (e.g. replicates averaged)
    prepare: Callable | None = None


def _split(source: TableSource, name: str):
    """(train, test) frames on the entry's fixed split, the frame checked first."""
    frame = source.read()
    _check(name, frame, source.record, source.fix)
    if source.prepare is not None:
        frame = source.prepare(frame)
    if source.train_rows is not None:
        return (frame.iloc[:source.train_rows].reset_index(drop=True),
                frame.iloc[source.train_rows:].reset_index(drop=True))
    if source.split_column is not None:
        test_mask = (frame[source.split_column].astype(str) == "Test").to_numpy()
        frame = frame.drop(columns=[source.split_column])
        return frame[~test_mask].reset_index(drop=True), frame[test_mask].reset_index(drop=True)
    from deepstart.problems.splits import split_indices

    y = frame[source.target]
    labels = np.unique(y.astype(str), return_inverse=True)[1] if source.classify else np.zeros(len(y))
    n_test = int(np.ceil(len(frame) * source.test_fraction))
    train, test = split_indices(labels, n_test, SPLIT_SEED, stratify=source.classify)
    return frame.iloc[train].reset_index(drop=True), frame.iloc[test].reset_index(drop=True)


def _materialize(name: str) -> Problem:
    from deepstart.problems.catalog import PROBLEMS
    from deepstart.problems.tabular import tabular_problem

    entry = PROBLEMS[name]
    source = SOURCES[name]
    train, test = _split(source, name)
    built = tabular_problem(train, source.target, test=test, name=entry.name, title=entry.title,
                            task=entry.task, metric=entry.metric, origin=entry.origin,
                            recipe=entry.recipe, recipes=entry.recipes)
    # the entry's own words for its split and size, and its references only (they hold the
    # majority class or the mean in the problem's metric, as the table's automatic baseline does)
    encoded = built.size.split("->")[-1].strip()  # "310 features": what the columns became
    return dataclasses.replace(built, split=entry.split, size=f"{entry.size}; {encoded} after encoding",
                               get_hint=entry.get_hint, offline_check=entry.offline_check,
                               references=entry.references)


def _load_raw(name: str, **_: object) -> Dataset:
    from deepstart.problems import get_problem

    return get_problem(name).load()


def _computed(value: float, model: str, n_test: int) -> Reference:
    return Reference(value, model, f"computed here on the same {n_test:,} test rows ({BASELINES})")


def _trio(n_test: int, trivial: tuple[float, str], linear: float, boosting: float,
          linear_name: str) -> tuple[Reference, ...]:
    """The three references benchmarks/table_baselines.py computes: the trivial answer (majority
    class or mean), the linear model and gradient boosting, on the same `n_test` rows."""
    return (_computed(trivial[0], trivial[1], n_test), _computed(linear, linear_name, n_test),
            _computed(boosting, BOOSTING, n_test))


def _split_words(rows: int, classify: bool, test_fraction: float = TEST_FRACTION) -> str:
    n_test = int(np.ceil(rows * test_fraction))
    kind = "stratified by class, " if classify else ""
    return (f"{1 - test_fraction:.0%}/{test_fraction:.0%} train/test, {kind}seed {SPLIT_SEED} "
            f"(fixed by deepstart: the source ships none); {rows - n_test:,} + {n_test:,} rows")


MODELDATA_FIX = "install modeldata 1.1.0 (Debian's r-cran-modeldata)"


def _modeldata_source(name: str, target: str, record, classify: bool = True, **kw) -> TableSource:
    return TableSource(partial(_modeldata, name), target, record, MODELDATA_FIX, classify, **kw)


SOURCES: dict[str, TableSource] = {}


def _entry(name: str, source: TableSource, *, rows: int, split: str | None = None,
           modeldata: bool = True, **fields) -> Problem:
    SOURCES[name] = source
    fields.setdefault("split", split or _split_words(rows, source.classify, source.test_fraction))
    fields.setdefault("references", REFERENCES.get(name, ()))
    if modeldata:
        fields.setdefault("get_hint", MODELDATA_GET)
        fields.setdefault("offline_check", modeldata_offline)
    return Problem(name=name, kind="tabular", load_raw=partial(_load_raw, name),
                   materialize=partial(_materialize, name), **fields)


# --- the catalog entries -----------------------------------------------------------------------------

def table_problems() -> list[Problem]:
    """The catalog entries; listing them loads no data."""
    return [
        _entry(
            "ames", TableSource(ames_frame, "log_price", RECORDS["ames"], MODELDATA_FIX, classify=False),
            rows=2930, title="Ames housing: the log sale price (De Cock 2011)", task="regression",
            metric="rmse",
            origin=f"{MODELDATA}: De Cock 2011, 'Ames, Iowa: alternative to the Boston housing data "
                   "as an end of semester regression project', Journal of Statistics Education "
                   "19(3); the houses behind Kaggle's 'House Prices' competition",
            size="2,930 houses x 73 columns; the target is ln(Sale_Price), scored by its RMSE as "
                 "Kaggle scores 'House Prices'",
            recipe={"model": "mlp", "hidden": [256, 256], "dropout": 0.3, "epochs": 60,
                    "batch_size": 64, "lr": 3e-3, "schedule": "onecycle", "optimizer": "adamw",
                    "weight_decay": 0.05}),
        _entry(
            "concrete", _modeldata_source("concrete", "compressive_strength", RECORDS["concrete"],
                                          classify=False, prepare=average_replicates,
                                          test_fraction=0.25),
            rows=992, title="Concrete compressive strength (Yeh)", task="regression",
            metric="rmse",
            origin=f"{MODELDATA}: Yeh 2006, 'Analysis of strength of concrete using design of "
                   "experiments and neural networks', Journal of Materials in Civil Engineering 18 "
                   "(the UCI set of Yeh 1998); used by Kuhn & Johnson 2013, Applied Predictive "
                   "Modeling, ch. 10",
            size="992 mixtures (1,030 rows, replicates averaged as APM and TMwR do) x 8 "
                 "ingredients and ages; strength in MPa",
            recipe={"model": "mlp", "hidden": [128, 128], "epochs": 400, "batch_size": 16,
                    "lr": 1e-2, "schedule": "onecycle"}),
        _entry(
            "diabetes", TableSource(diabetes_frame, "progression", RECORDS["diabetes"],
                                    "reinstall scikit-learn", classify=False),
            rows=442, modeldata=False, title="Diabetes progression (Efron et al. 2004, "
            "scikit-learn)", task="regression", metric="rmse",
            origin="bundled with scikit-learn (load_diabetes): Efron, Hastie, Johnstone & "
                   "Tibshirani 2004, 'Least angle regression', Annals of Statistics 32(2)",
            size="442 patients x 10 baseline variables; progression after one year (25-346)",
            recipe={"model": "mlp", "hidden": [64], "epochs": 50, "batch_size": 32, "lr": 1e-3}),
        _entry(
            "credit-data", _modeldata_source("credit_data", "Status", RECORDS["credit-data"]),
            rows=4454, title="Credit scoring: good or bad loans", task="binary",
            metric="roc_auc", class_names=("bad", "good"),
            origin=f"{MODELDATA} (credit_data)",
            size="4,454 loans x 13 columns; 72 % good",
            recipe={"model": "mlp", "hidden": [256], "dropout": 0.3, "epochs": 30,
                    "batch_size": 64, "lr": 3e-3, "schedule": "onecycle"}),
        _entry(
            "attrition", _modeldata_source("attrition", "Attrition", RECORDS["attrition"]),
            rows=1470, title="Employee attrition (IBM Watson HR analytics sample)", task="binary",
            metric="accuracy", class_names=("No", "Yes"),
            origin=f"{MODELDATA} (attrition): IBM Watson Analytics' fictional HR sample data",
            size="1,470 employees x 30 columns; 16 % left",
            recipe={"model": "mlp", "hidden": [64], "dropout": 0.3, "epochs": 50,
                    "batch_size": 32, "lr": 1e-3, "optimizer": "adamw", "weight_decay": 0.01}),
        _entry(
            "churn", _modeldata_source("mlc_churn", "churn", RECORDS["churn"], train_rows=3333),
            rows=5000, title="Telecom customer churn (MLC++, formerly C50's churn data)",
            split="the data's own split by row order, C50's churnTrain and churnTest: the first "
                  "3,333 customers train, the last 1,667 test",
            task="binary", metric="accuracy", class_names=("no", "yes"),
            origin=f"{MODELDATA} (mlc_churn): the churn data of the MLC++ machine learning "
                   "library, as the C50 package shipped them",
            size="5,000 customers x 19 columns; 14 % churned",
            recipe={"model": "mlp", "hidden": [256, 256], "dropout": 0.3, "epochs": 60,
                    "batch_size": 64, "lr": 3e-3, "schedule": "onecycle"}),
        _entry(
            "cells", _modeldata_source("cells", "class", RECORDS["cells"], split_column="case"),
            rows=2019, split="the data's own split (its `case` column): 1,009 training + 1,010 "
                             "test cells",
            title="Cell image segmentation: well or poorly segmented (Hill et al. 2007)",
            task="binary", metric="accuracy", class_names=("PS", "WS"),
            origin=f"{MODELDATA} (cells): Hill, LaPan, Li & Haney 2007, 'Impact of image "
                   "segmentation on high-content screening data quality for SK-BR-3 cells', "
                   "BMC Bioinformatics 8",
            size="2,019 cells x 56 image measurements; 64 % poorly segmented (PS)",
            recipe={"model": "mlp", "hidden": [256], "dropout": 0.3, "epochs": 50,
                    "batch_size": 32, "lr": 1e-3, "schedule": "onecycle"}),
        _entry(
            "penguins", _modeldata_source("penguins", "species", RECORDS["penguins"]),
            rows=344, title="Palmer penguins: the species (Gorman, Williams & Fraser 2014)",
            task="multiclass", metric="accuracy", class_names=("Adelie", "Chinstrap", "Gentoo"),
            origin=f"{MODELDATA} (penguins): Gorman, Williams & Fraser 2014, PLoS ONE 9(3), "
                   "via the palmerpenguins package (Horst, Hill & Gorman 2020)",
            size="344 penguins x 6 columns (island, bill, flipper, mass, sex; 2 rows without "
                 "measurements)",
            recipe={"model": "mlp", "hidden": [64], "epochs": 50, "batch_size": 32, "lr": 1e-3}),
        mnist1d_problem(),
    ]


# rows and frame_digest of each frame as read (modeldata 1.1.0; scikit-learn 1.9.1's diabetes)
RECORDS = {
    "ames": (2930, "c77df9c6ff1c24cff46284287f99e1edd1c5a3df1cb108705da2e6bac99603a4"),
    "diabetes": (442, "2bc61e7fd2fb43607febff223eba28c50dd90d8df941708e927bd87f186b526b"),
    "concrete": (1030, "431e0b0b8bab99794c905cb45440a089c32c8f6d14bfd2602d1449727db92222"),
    "credit-data": (4454, "43c83a4630f1995f00b456becc4a84219616a2f2bae445e86c706264cc9050a4"),
    "attrition": (1470, "9f387b89f481735800bb4290afc6a4ef5137828107e7111c4da6cd312789bb1c"),
    "penguins": (344, "18dae1423e933dab5b26048e062448386327fee5d7071faf06ecb1827cf09f78"),
    "churn": (5000, "977e9701c245abc90ea21b882ffafea62d68e33ce2b50e1e9cfea44344cbffad"),
    "cells": (2019, "b7460887cdb59cf38f4bc9a868587891de34c60ca626d4373a4d37cc2da5b426"),
}

TMWR = "Kuhn & Silge 2022, 'Tidy Modeling with R', O'Reilly (tmwr.org)"
LINEAR = "logistic regression (C=1) on standardised features"
RIDGE = "ridge regression (alpha=1) on standardised features"
BOOSTING = "gradient boosting (scikit-learn HistGradientBoosting, defaults)"
# Published results were read in the sources named (the research notes of 2026-12-02); each says
# how its protocol differs from the split here. The computed ones: one run of
# benchmarks/table_baselines.py on the split and features deepstart uses.
REFERENCES: dict[str, tuple[Reference, ...]] = {
    "ames": (
        # TMwR scores log10(Sale_Price); x ln(10) gives the natural log's units used here
        Reference(0.162, "random forest (1,000 trees) on 6 predictors (neighbourhood, living area, "
                  "year built, building type, latitude, longitude); 80/20 split stratified by "
                  "price (R seed 502): test RMSE 0.0704 of log10 price = 0.162 of ln price",
                  f"{TMWR}, ch. 10, table 10.1"),
        Reference(0.169, "linear model on the same 6 predictors with splines on latitude and "
                  "longitude, same split: test RMSE 0.0736 of log10 price = 0.169 of ln price",
                  f"{TMWR}, ch. 9 and table 10.1", practical=True),
        *_trio(586, (0.4066, "training mean for every row"), 0.1246, 0.1212, RIDGE),
    ),
    "concrete": (
        Reference(3.41, "xgboost tuned by repeated 10-fold cross-validation (the best of 12 "
                  "workflows), replicates averaged, 75/25 split stratified by strength (R seed "
                  "1501): test RMSE 3.41 MPa, R^2 0.954", f"{TMWR}, ch. 15 'Screening many models'"),
        *_trio(248, (16.2, "training mean for every row"), 10.42, 4.770, RIDGE),
    ),
    "diabetes": (
        *_trio(89, (76.77, "training mean for every row"), 54.09, 61.42, RIDGE),
    ),
    "credit-data": (
        *_trio(891, (0.5, "majority class (a constant score)"), 0.8401, 0.8261, LINEAR),
    ),
    "attrition": (
        Reference(0.8758, "logistic regression on all 30 predictors, mean accuracy of 10-fold "
                  "cross-validation inside a 70 % training split (not a held-out test set)",
                  "Boehmke & Greenwell 2020, 'Hands-On Machine Learning with R', CRC Press, ch. 5 "
                  "(bradleyboehmke.github.io/HOML)", practical=True),
        *_trio(294, (0.8401, "majority class ('No') for every row"), 0.9014, 0.8707, LINEAR),
    ),
    "churn": (
        *_trio(1667, (0.8656, "majority class ('no') for every row"), 0.8710, 0.9658, LINEAR),
    ),
    "cells": (
        Reference(0.81, "support vector machine on the original 119 measurements (modeldata "
                  "keeps 56), the same 1,010 test cells",
                  "Hill, LaPan, Li & Haney 2007, BMC Bioinformatics 8:340, abstract ('81% "
                  "accuracy')"),
        Reference(0.837, "random forest (ranger, 1,000 trees) on its own 75/25 split stratified "
                  "by class (R seed 123; 504 test cells), not the data's own split",
                  "tidymodels.org, 'Get started: evaluate your model with resampling'",
                  practical=True),
        *_trio(1010, (0.6574, "majority class (PS) for every row"), 0.7921, 0.8139, LINEAR),
    ),
    "penguins": (
        *_trio(69, (0.4348, "majority class (Adelie) for every row"), 1.0, 1.0, LINEAR),
    ),
}


# --- MNIST-1D: sequences generated by the mnist1d package --------------------------------------------

MNIST1D_HINT = "install the package that generates it: `pip install mnist1d`"
# sha256 of x, y, x_test, y_test (float64 and int64, in that order) of mnist1d 0.0.2's
# make_dataset(get_dataset_args()): its defaults, seed 42, the first 4,000 train, the last 1,000 test
MNIST1D_RECORD = "2377c0b18c9f643da2b39e66086395782aac2fcfdd678b89f55a22b17ec47631"
MNIST1D_README = ("Greydanus & Kobak 2024, 'Scaling down deep learning with MNIST-1D', ICML "
                  "(arXiv:2011.14439); the README table of github.com/greydanus/mnist1d")


def mnist1d_offline() -> bool:
    import importlib.util

    return importlib.util.find_spec("mnist1d") is not None


def mnist1d_arrays() -> dict[str, np.ndarray]:
    """The canonical MNIST-1D split (4,000 + 1,000 sequences of 40 values), generated once by the
    package with its default arguments, checked against the record, then read from the cache."""
    from deepstart.problems.arrays_cache import SPLITS, cached_arrays

    def build() -> dict[str, np.ndarray]:
        try:
            from mnist1d.data import get_dataset_args, make_dataset
        except ImportError:
            raise DataError(f"the mnist1d package is not installed; {MNIST1D_HINT}.") from None
        d = make_dataset(get_dataset_args())
        digest = hashlib.sha256(b"".join(np.ascontiguousarray(d[k]).tobytes()
                                         for k in ("x", "y", "x_test", "y_test"))).hexdigest()
        if digest != MNIST1D_RECORD:
            raise DataError(f"mnist1d generated other sequences (sha256 {digest[:12]}..., expected "
                            f"{MNIST1D_RECORD[:12]}...) than those its published scores were "
                            "measured on; install mnist1d 0.0.2 (`pip install mnist1d==0.0.2.post1`).")
        return {"x_train": d["x"].astype(np.float32), "y_train": d["y"].astype(np.int64),
                "x_test": d["x_test"].astype(np.float32), "y_test": d["y_test"].astype(np.int64)}

    return cached_arrays("mnist1d", "mnist1d-0.0.2-v1", build, SPLITS)


def _materialize_mnist1d() -> Problem:
    """A sequence problem (deepstart.problems.folder.sequence_problem: one value a step, scaled over
    every step of the training sequences) on the package's own split."""
    from deepstart.problems.catalog import PROBLEMS
    from deepstart.problems.folder import sequence_problem

    entry = PROBLEMS["mnist1d"]
    a = mnist1d_arrays()
    x = np.concatenate([a["x_train"], a["x_test"]])[:, :, None].astype(np.float64)
    y = np.concatenate([a["y_train"], a["y_test"]])
    built = sequence_problem(
        x, y, entry.class_names, ["signal"], length=None, name="mnist1d", origin=entry.origin,
        path="mnist1d", source={"from": "table", "columns": [f"x{i}" for i in range(x.shape[1])],
                                "features_per_step": 1, "rule": "each of the 40 values is a step"},
        recipe=entry.recipe)
    dataset = Dataset(a["x_train"][:, :, None], a["y_train"], a["x_test"][:, :, None], a["y_test"],
                      feature_names=("signal",))
    return dataclasses.replace(built, title=entry.title, split=entry.split, size=entry.size,
                               load_raw=lambda **_: dataset, references=entry.references,
                               recipes=entry.recipes, path=None, get_hint=entry.get_hint,
                               offline_check=entry.offline_check)


def mnist1d_problem() -> Problem:
    return Problem(
        name="mnist1d", title="MNIST-1D: the ten digits drawn as 1-D sequences (Greydanus 2020)",
        task="multiclass", kind="tabular", metric="accuracy",
        split="the package's own: make_dataset with its defaults (seed 42), the first 4,000 "
              "train, the last 1,000 test",
        origin="generated by the mnist1d package 0.0.2 (PyPI; Apache-2.0), Greydanus & Kobak 2024",
        size="4,000 + 1,000 sequences of 40 steps x 1 value, 10 classes",
        load_raw=partial(_load_raw, "mnist1d"), materialize=_materialize_mnist1d,
        class_names=tuple(str(i) for i in range(10)), get_hint="pip install mnist1d",
        offline_check=mnist1d_offline,
        references=(
            Reference(0.32, "logistic regression", MNIST1D_README),
            Reference(0.68, "MLP", MNIST1D_README),
            Reference(0.91, "GRU", MNIST1D_README, practical=True),
            Reference(0.94, "1-D CNN", MNIST1D_README),
            Reference(0.96, "human expert", MNIST1D_README),
        ),
        recipe=dict(MNIST1D_GRU), recipes=MNIST1D_RECIPES)


# The GRU reads the 40 values in order, one a step; the MLP reads them as 40 features at once.
MNIST1D_GRU = {"model": "gru", "hidden_size": 64, "epochs": 30, "batch_size": 32, "lr": 3e-3}
MNIST1D_MLP = {"model": "mlp", "hidden": [256, 256], "epochs": 50, "batch_size": 64, "lr": 1e-3}
MNIST1D_RECIPES: tuple[Recipe, ...] = (
    Recipe(dict(MNIST1D_GRU), target=0.91, claim=(
        "GRU of 64 units over the 40 steps (each scaled over every step of the training "
        "sequences), Adam 3e-3, batch 32, 30 epochs: test accuracy 0.9650 on the 1,000 test "
        "sequences, above the README's GRU (0.91), its 1-D CNN (0.94) and its human expert (0.96); "
        "25 s from command to result on the 2-core CPU (about 3 s an epoch when the machine is "
        "quiet, minutes when other work loads it)")),
    Recipe(dict(MNIST1D_MLP), target=0.68, claim=(
        "MLP 256-256 on the 40 values as features, Adam 1e-3, batch 64, 50 epochs: test accuracy "
        "0.6340 on the 1,000 test sequences, short of the README's MLP (0.68) and far from the "
        "GRU's 0.9650: a network that reads the steps in order is what this problem rewards")),
)
