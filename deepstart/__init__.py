"""deepstart: learn and do deep learning top-down.

The public API is small and imported lazily, so `deepstart --help` never waits for torch:

    from deepstart import Learner, get_problem, load_model
    from deepstart import tabular_problem, image_folder_problem, series_problem   # your own data
    from deepstart import NetClassifier, NetRegressor                              # scikit-learn
"""

from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "Learner": "deepstart.learner",
    "History": "deepstart.history",
    "EarlyStopping": "deepstart.callbacks",
    "Checkpoint": "deepstart.callbacks",
    "prepare_arrays": "deepstart.prepare",
    "get_problem": "deepstart.problems",
    "tabular_problem": "deepstart.problems.tabular",
    "image_folder_problem": "deepstart.problems.folder",
    "series_problem": "deepstart.problems.series",
    "all_problems": "deepstart.problems",
    "build_model": "deepstart.models",
    "load_model": "deepstart.models",
    "save_model": "deepstart.models",
    "DeepstartError": "deepstart.errors",
    "NetClassifier": "deepstart.sklearn",
    "NetRegressor": "deepstart.sklearn",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'deepstart' has no attribute {name!r}")
