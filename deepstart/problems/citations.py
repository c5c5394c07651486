"""Where a published reference can be read: a link for each source the catalog cites, so that the
portfolio's project pages (and anyone reading a report) can open the paper, book or page itself.

The catalog's Reference.source stays the citation in words (what a terminal prints); this maps a
distinctive part of that text to its address. tests/test_catalog.py checks that every published
reference of the catalog has one.
"""

from __future__ import annotations

from deepstart.problems import Reference

# distinctive text of a source -> its address (the first match wins: longer, more specific first)
SOURCE_URLS: tuple[tuple[str, str], ...] = (
    ("Rosenblatt 1958", "https://doi.org/10.1037/h0042519"),
    ("plot_digits_classification",
     "https://scikit-learn.org/stable/auto_examples/classification/plot_digits_classification.html"),
    ("UCI optdigits", "https://archive.ics.uci.edu/dataset/80/optical+recognition+of+handwritten+digits"),
    ("'Cross-validation", "https://scikit-learn.org/stable/modules/cross_validation.html"),
    ("Aeberhard, Coomans & de Vel 1992", "https://archive.ics.uci.edu/dataset/109/wine"),
    ("UCI wdbc.names", "https://archive.ics.uci.edu/dataset/17/breast+cancer+wisconsin+diagnostic"),
    ("Smith et al. 1988", "https://www.ncbi.nlm.nih.gov/pmc/articles/PMC2245318/"),
    ("'Tidy Modeling with R', O'Reilly (tmwr.org), ch. 10", "https://www.tmwr.org/resampling.html"),
    ("'Tidy Modeling with R', O'Reilly (tmwr.org), ch. 9", "https://www.tmwr.org/performance.html"),
    ("'Tidy Modeling with R', O'Reilly (tmwr.org), ch. 15", "https://www.tmwr.org/workflow-sets.html"),
    ("Hands-On Machine Learning with R", "https://bradleyboehmke.github.io/HOML/logistic-regression.html"),
    ("Hill, LaPan, Li & Haney 2007", "https://doi.org/10.1186/1471-2105-8-340"),
    ("evaluate your model with resampling", "https://www.tidymodels.org/start/resampling/"),
    ("MNIST-1D", "https://arxiv.org/abs/2011.14439"),
    ("Fashion-MNIST README", "https://github.com/zalandoresearch/fashion-mnist"),
    ("yann.lecun.com/exdb/mnist", "http://yann.lecun.com/exdb/mnist/"),
    ("Keras examples/mnist_mlp.py",
     "https://github.com/keras-team/keras/blob/2.3.1/examples/mnist_mlp.py"),
    ("'Simple MNIST convnet'", "https://keras.io/examples/vision/mnist_convnet/"),
    ("arXiv:1202.2745", "https://arxiv.org/abs/1202.2745"),
    ("DropConnect", "https://proceedings.mlr.press/v28/wan13.html"),
    ("arXiv:2008.10400", "https://arxiv.org/abs/2008.10400"),
    ("cs.toronto.edu/~kriz/cifar.html", "https://www.cs.toronto.edu/~kriz/cifar.html"),
    ("'Deep residual learning'", "https://arxiv.org/abs/1512.03385"),
    ("'airbench'", "https://github.com/KellerJordan/cifar10-airbench"),
    ("Brownlee 2016", "https://machinelearningmastery.com/time-series-prediction-lstm-recurrent-"
                      "neural-networks-python-keras/"),
    ("'Tuning text models'", "https://www.tidymodels.org/learn/work/tune-text/"),
    ("Wang & Manning 2012", "https://aclanthology.org/P12-2018/"),
    ("Maas et al. 2011", "https://aclanthology.org/P11-1015/"),
    ("Howard & Ruder 2018", "https://arxiv.org/abs/1801.06146"),
)


# cited as printed books, with no address checked here: shown as text
PRINT_ONLY = ("Rumelhart, Hinton & Williams 1986", "Minsky & Papert 1969")


def reference_url(reference: Reference) -> str | None:
    """The address of a published reference's source; None for one computed here (its source is
    this project's benchmark script) or one without a known address."""
    if reference.computed:
        return None
    return next((url for text, url in SOURCE_URLS if text in reference.source), None)
