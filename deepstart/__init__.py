"""deepstart: learn and do deep learning top-down.

The public API is small and imported lazily, so `deepstart --help` never waits for torch:

    from deepstart import Learner, get_problem, load_model
    from deepstart import tabular_problem, image_folder_problem, series_problem   # your own data
    from deepstart import text_problem                                             # your texts
    from deepstart import NetClassifier, NetRegressor                              # scikit-learn
"""

from __future__ import annotations

import os
import sys

__version__ = "0.1.0"

# Ask PyTorch to back its large CPU buffers (2 MB and up) with transparent huge pages. Training and
# scoring allocate activations of several MB at every step, and the default 4 KB pages cost a page
# fault each time the memory comes back from the system: 25.6 million faults and 57 s of system time
# in the 6-minute Fashion-MNIST convnet recipe on the 2-core CPU. With huge pages a convnet training
# step faulted 7 times less and ran 3 % faster (benchmarks/huge_pages.py, docs/benchmarks.md), and
# the faults of scoring in batches of 256 fell 20-fold. PyTorch reads the variable once, at its first
# allocation, so it is set here only when torch is not imported yet; an explicit value (0 to turn it
# off) wins. Where the kernel has THP off ("never"), it changes nothing.
if sys.platform.startswith("linux") and "torch" not in sys.modules:
    os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

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
    "text_problem": "deepstart.text",
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
