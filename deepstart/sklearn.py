"""scikit-learn estimators backed by deepstart's networks: `NetClassifier` and `NetRegressor`.

Any zoo family by name, trained by `Learner`, behind scikit-learn's contract, so Pipelines,
ColumnTransformers, GridSearchCV, RandomizedSearchCV and cross_val_score work unchanged. Both
classes pass `sklearn.utils.estimator_checks.check_estimator` with the mlp, linear, logistic and
perceptron families (tests/test_sklearn.py runs every check as its own test; the image families
are tested on digits, as the checks' random features are not images):

>>> from sklearn.model_selection import GridSearchCV, cross_val_score   # doctest: +SKIP
>>> from deepstart.sklearn import NetClassifier
>>> cross_val_score(NetClassifier(hidden=(64,), epochs=30, random_state=0), X, y, cv=5)  # doctest: +SKIP
>>> GridSearchCV(NetClassifier(), {"hidden": [(32,), (64, 64)], "lr": [1e-3, 3e-3]}).fit(X, y)  # doctest: +SKIP

Hyper-parameters are constructor keywords. The common model settings (`hidden`, `activation`,
`dropout`) are top-level; any other setting of the family goes in `model_options`, whose keys are
also reachable as nested parameters `model_options__KEY` (`set_params(model_options__widths=[16,
32])`, or a grid over `"model_options__head": ["gap", "flatten"]`).

Fitting uses all the rows it is given (no test split: cross-validation is scikit-learn's job); with
`early_stopping=True`, `validation_fraction` of them are held out, stratified for classes, and the
weights of the best validation-loss epoch are kept. Inputs are standardised per feature with the
training rows' statistics (`scale=None` feeds them as they are). Images come as arrays of shape
(n, C, H, W) or (n, H, W), or flattened with `image_shape`.

Text: X may be a column of strings (a list or 1-D array of texts) or a DataFrame with a text
column (named in `text`, or found by the table rule: long, mostly distinct values) beside other
columns. The estimator then fits the problem's text schema on the training rows (deepstart's
tokenizer, deepstart.problems.columns: the other columns standardised or one-hot, the text as token
ids) and trains a family that reads text (`model="bag"`, "lstm", "gru", "transformer"):

>>> NetClassifier(model="bag", epochs=5).fit(reviews, labels).predict(["tasty, will buy again"])  # doctest: +SKIP

Pickling the fitted estimator (scikit-learn's own persistence, e.g. joblib) works; it is for a user's
own objects. deepstart's saved model folders (`save_model`) stay pickle-free.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from deepstart.errors import DeepstartError

SCALES = ("standard", None)
NESTED = "model_options__"
ONE_LAYER = ("linear", "logistic", "perceptron")
ONE_LAYER_LR, DEFAULT_LR = 1e-2, 1e-3  # lr=None: the family's
PREDICT_BATCH = 4096  # rows per forward pass when predicting: amortises, stays small in memory


class _NetEstimator(BaseEstimator):
    """What NetClassifier and NetRegressor share: parameters, validation, training, forward."""

    _task_kind: str  # "classifier" or "regressor"

    def __init__(self, model="mlp", *, hidden=None, activation=None, dropout=None,
                 model_options=None, epochs=50, batch_size=32, lr=None, optimizer="adam",
                 weight_decay=0.0, schedule="constant", early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=10, scale="standard",
                 image_shape=None, text=None, warm_start=False, random_state=None, verbose=0,
                 device="auto"):
        self.model = model
        self.hidden = hidden
        self.activation = activation
        self.dropout = dropout
        self.model_options = model_options
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.schedule = schedule
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.scale = scale
        self.image_shape = image_shape
        self.text = text
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose
        self.device = device

    # --- nested model parameters -----------------------------------------------------------------
    def get_params(self, deep=True):
        """Parameters of this estimator; with `deep`, also each `model_options` key as
        `model_options__KEY`."""
        params = super().get_params(deep=deep)
        if deep and isinstance(self.model_options, dict):
            params |= {NESTED + k: v for k, v in self.model_options.items()}
        return params

    def set_params(self, **params):
        """Set parameters; `model_options__KEY=value` sets one key of `model_options` (in a new
        dict, so a dict shared with a clone or a grid is never changed)."""
        nested = {k[len(NESTED):]: params.pop(k) for k in list(params) if k.startswith(NESTED)}
        super().set_params(**params)
        if nested:
            options = self.model_options if isinstance(self.model_options, dict) else {}
            self.model_options = {**options, **nested}
        return self

    def _lr(self) -> float:
        if self.lr is not None:
            return self.lr
        return ONE_LAYER_LR if self.model in ONE_LAYER else DEFAULT_LR

    # --- validation ------------------------------------------------------------------------------
    def _check_params(self) -> None:
        """What scikit-learn delays until fit: say what arrived and what is expected."""
        def positive_int(name, value):
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
                raise DeepstartError(f"{name} must be a positive integer; received {name}={value!r}.")

        positive_int("epochs", self.epochs)
        positive_int("n_iter_no_change", self.n_iter_no_change)
        if not isinstance(self.model, str):
            raise DeepstartError(f"model must be a zoo family name such as 'mlp'; received "
                                 f"model={self.model!r}.")
        if self.scale not in SCALES:
            raise DeepstartError(f"scale must be 'standard' or None; received scale={self.scale!r}.")
        if self.model_options is not None and not isinstance(self.model_options, dict):
            raise DeepstartError(f"model_options must be a dict of model settings or None; received "
                                 f"{type(self.model_options).__name__}.")
        from deepstart.models import FAMILIES
        from deepstart.models.checks import check_options

        if self.model in FAMILIES:  # an unknown name is refused, with the known ones, when built
            check_options(FAMILIES[self.model][1], self._options())
        if self.early_stopping:
            f = self.validation_fraction
            if not isinstance(f, numbers.Real) or not 0 < f < 1:
                raise DeepstartError("early stopping holds out validation_fraction of the rows; it "
                                     f"must be in (0, 1); received validation_fraction={f!r}.")

    def _options(self) -> dict:
        """The model's settings: model_options plus the top-level ones that were given."""
        options = dict(self.model_options or {})
        for name in ("hidden", "activation", "dropout"):
            value = getattr(self, name)
            if value is None:
                continue
            if name in options:
                raise DeepstartError(f"{name} is given both as a parameter and in model_options; "
                                     "give it once.")
            if name == "hidden":  # a list of layer sizes; the convnet's is one dense layer
                value = [value] if isinstance(value, numbers.Integral) else list(value)
                if self.model == "convnet":
                    if len(value) != 1:
                        raise DeepstartError(f"the convnet has one dense layer before its output; "
                                             f"give hidden as one number, not {self.hidden!r}.")
                    value = value[0]
            options[name] = value
        return options

    def _text_columns(self, X) -> dict | None:
        """Texts as the columns of a table (name -> values): a 1-D X of strings is the column
        "text"; a DataFrame is its columns when `text` names some or one of them is not numeric.
        None for numeric X."""
        import pandas as pd

        if isinstance(X, pd.Series):
            X = X.to_frame(X.name if X.name is not None else "text")
        if isinstance(X, pd.DataFrame):
            numeric = all(pd.api.types.is_numeric_dtype(t) for t in X.dtypes)
            if self.text is None and numeric:
                return None
            return {str(c): X[c].to_numpy() for c in X.columns}
        if isinstance(X, (list, tuple)) or (isinstance(X, np.ndarray) and X.dtype.kind in "OUS"):
            values = np.asarray(X, dtype=object)
            if values.ndim == 1 and len(values) and all(isinstance(v, str) or v is None
                                                        for v in values):
                return {"text": values}
        return None

    def _encode_text(self, X, reset: bool):
        """Text X -> (N, F + L) features by the schema fitted at the first fit (None for X that
        is not text). The schema's text entry holds the tokenizer, fitted on these rows."""
        from deepstart.problems.columns import encode, fit_columns
        from deepstart.text import FAMILY_TOKENIZERS, text_layout

        columns = self._text_columns(X)
        if columns is None:
            if not reset and getattr(self, "text_layout_", None) is not None:
                raise DeepstartError("this estimator was fitted on texts; give the texts (a list of "
                                     "strings, or the DataFrame with the same columns).")
            return None
        if reset:
            names = () if self.text is None else ((self.text,) if isinstance(self.text, str)
                                                  else tuple(self.text))
            if names == () and list(columns) == ["text"]:
                names = ("text",)
            # a pretrained text model (minilm) reads its own tokenizer's ids
            entries = fit_columns(columns, text=names, tokenizer=FAMILY_TOKENIZERS.get(self.model))
            layout = text_layout({"columns": entries})
            if layout is None:
                raise DeepstartError("X has columns that are not numbers and no text column (a text "
                                     "is long and mostly distinct); name it with text='COLUMN', or "
                                     "encode the categories first (e.g. OneHotEncoder).")
            self.text_schema_, self.text_layout_ = entries, layout
        elif getattr(self, "text_layout_", None) is None:
            raise DeepstartError("this estimator was fitted on numbers; give X as numbers, not texts.")
        return encode(self.text_schema_, columns)

    def _validate_X(self, X, *, reset: bool, y="no_validation"):
        """X as a 2-D float array (validated by scikit-learn), and y if given. Image arrays of
        shape (n, C, H, W) or (n, H, W) are flattened first; their shape is remembered. Texts are
        encoded by the text schema (`_encode_text`)."""
        shape = None
        encoded = self._encode_text(X, reset)
        if reset and encoded is None:
            self.text_schema_ = self.text_layout_ = None
        if encoded is not None:
            X = encoded
        if not sp.issparse(X) and getattr(X, "ndim", 2) > 2:
            if X.ndim > 4:
                raise DeepstartError(f"X has shape {X.shape}; images are (n, C, H, W) or (n, H, W).")
            shape = tuple(X.shape[1:]) if X.ndim == 4 else (1, *X.shape[1:])
            if not reset and shape != self._image_shape:
                raise DeepstartError(f"X has images of shape {shape}; this estimator was fitted "
                                     f"on {self._image_shape}.")
            X = np.reshape(np.asarray(X), (len(X), -1))
        kwargs = {"accept_sparse": True, "dtype": (np.float32, np.float64), "reset": reset}
        if isinstance(y, str) and y == "no_validation":  # predicting (None is a missing y)
            X, y = validate_data(self, X, **kwargs), None
        elif self._task_kind == "regressor":
            X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, **kwargs)
        else:
            X, y = validate_data(self, X, y, **kwargs)
        if sp.issparse(X):  # a network reads dense rows; one-hot blocks are small
            X = X.toarray()
        if reset:
            self._image_shape = shape
        return X, y

    def _input_shape(self, n_features: int) -> tuple[int, ...]:
        """One sample's shape for the network: `image_shape`, else the shape of image arrays,
        else, for the image families, a square grey image when the features make one."""
        from deepstart.models import IMAGE_ONLY

        shape = self.image_shape if self.image_shape is not None else self._image_shape
        if shape is not None:
            shape = tuple(int(s) for s in shape)
            if len(shape) == 2:
                shape = (1, *shape)
            if len(shape) != 3 or math.prod(shape) != n_features:
                raise DeepstartError(f"image_shape {tuple(self.image_shape)} does not hold the "
                                     f"{n_features} features of X; give (C, H, W) or (H, W) with "
                                     f"C*H*W = {n_features}.")
            return shape
        if self.model in IMAGE_ONLY:
            side = math.isqrt(n_features)
            if side * side != n_features:
                raise DeepstartError(f"model '{self.model}' reads images, and {n_features} features "
                                     "are not a square grey image; pass image_shape=(C, H, W) or "
                                     "X of shape (n, C, H, W).")
            return (1, side, side)
        return (n_features,)

    # --- scaling ---------------------------------------------------------------------------------
    def _fit_scaling(self, X: np.ndarray) -> None:
        if self.scale is None:
            self._x_offset, self._x_scale = np.float32(0.0), np.float32(1.0)
            return
        mean = X.mean(axis=0, dtype=np.float64)
        std = X.std(axis=0, dtype=np.float64)
        if self.text_layout_ is not None:  # token ids stay ids: only the other columns are scaled
            start = self.text_layout_["text_start"]
            mean[start:], std[start:] = 0.0, 1.0
        self._x_offset = mean.astype(np.float32)
        self._x_scale = np.where(std > 0, std, 1.0).astype(np.float32)

    def _tensor(self, X: np.ndarray) -> torch.Tensor:
        """Scaled rows as a float32 tensor of shape (n, *input_shape) (always a new array: the
        input may be read-only, and torch wants writable memory)."""
        x = (np.asarray(X, dtype=np.float32) - self._x_offset) / self._x_scale
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).reshape(
            len(x), *self._net_input_shape)

    # --- training --------------------------------------------------------------------------------
    def _targets(self, y) -> tuple[str, int, torch.Tensor]:  # task, outputs, y as the loss wants
        raise NotImplementedError

    def _train(self, X: np.ndarray, y, *, first: bool, epochs: int, incremental: bool):
        from deepstart.callbacks import EarlyStopping
        from deepstart.learner import Learner
        from deepstart.models import build_model
        from deepstart.prepare import Prepared
        from deepstart.problems.splits import split_indices

        if first:
            self._rng = check_random_state(self.random_state)
            self._optimizer_state = None
            self._history_rows = []
        seed = int(self._rng.randint(np.iinfo(np.int32).max))
        task, n_outputs, y_t = self._targets(y)
        val = self.early_stopping and not incremental
        train_idx, val_idx = np.arange(len(X)), np.arange(0)
        if val:
            n_val = int(round(len(X) * self.validation_fraction))
            if not 0 < n_val < len(X):
                raise DeepstartError(f"a validation_fraction of {self.validation_fraction} of "
                                     f"{len(X)} rows leaves no rows to validate or to train on; "
                                     "raise it or turn early_stopping off.")
            stratify = self._task_kind == "classifier"
            train_idx, val_idx = split_indices(y if stratify else np.zeros(len(X)), n_val, seed,
                                               stratify=stratify)
        if first:
            self._fit_scaling(X[train_idx])
            self._net_input_shape = self._input_shape(X.shape[1])
        x_t = self._tensor(X)
        x_tr, y_tr = (x_t[train_idx], y_t[train_idx]) if val else (x_t, y_t)
        data = Prepared(task=task, input_shape=self._net_input_shape, n_outputs=n_outputs,
                        x_train=x_tr, y_train=y_tr, x_val=x_t[val_idx], y_val=y_t[val_idx],
                        x_test=x_t[:0], y_test=y_t[:0], text=self.text_layout_)
        if task == "regression" and n_outputs == 1:  # the history's RMSE in the target's units
            data.scaling = {"y": {"offset": float(self._y_offset[0]), "scale": float(self._y_scale[0])}}
        callbacks = [EarlyStopping("val_loss", patience=self.n_iter_no_change)] if val else []

        # Learner seeds torch's global generator (initial weights, dropout); fork it so that
        # fitting leaves the caller's random stream as it found it, as scikit-learn estimators do.
        on_gpu = torch.cuda.is_available() and not str(self.device).startswith("cpu")
        cuda = [torch.cuda.current_device()] if on_gpu else []
        with torch.random.fork_rng(devices=cuda):
            torch.manual_seed(seed)
            if first:
                network = build_model(self.model, self._net_input_shape, n_outputs, task,
                                      text=self.text_layout_, **self._options())
            else:
                network = self.model_
            learner = Learner(network, data, optimizer=self.optimizer, lr=self._lr(),
                              batch_size=self.batch_size, weight_decay=self.weight_decay,
                              schedule=self.schedule, seed=seed, callbacks=callbacks,
                              device=self.device, verbose=self.verbose)
            if incremental and self._optimizer_state is not None:
                # partial_fit continues the optimizer (Adam's moments); a warm-started fit starts
                # a new one from the current weights, as scikit-learn's MLP does
                learner.opt.load_state_dict(self._optimizer_state)
            learner.fit(epochs)
        self.model_ = learner.model.eval()
        self._optimizer_state = learner.opt.state_dict() if incremental else None
        self._history_rows += [dict(r, epoch=len(self._history_rows) + i + 1)
                               for i, r in enumerate(learner.history.rows)]
        self.n_iter_ = len(self._history_rows)
        self.loss_curve_ = [r["loss"] for r in self._history_rows]
        return self

    @property
    def history_(self):
        """The per-epoch record (loss, metric, validation loss and metric, lr, seconds) of every
        fit since the last fresh one, as a deepstart History (`history_.plot(path)`)."""
        from deepstart.history import History

        check_is_fitted(self, "model_")
        return History(self._history_rows, metric="accuracy" if self._task_kind == "classifier"
                       else "rmse")

    def _fit(self, X, y, *, incremental: bool, classes=None):
        self._check_params()
        if incremental and self.schedule != "constant":
            raise DeepstartError("partial_fit trains one epoch per call, so a schedule over the "
                                 f"epochs has no length; use schedule='constant' (not "
                                 f"{self.schedule!r}) or fit.")
        first = not hasattr(self, "model_") or not (self.warm_start or incremental)
        if first:  # a fresh fit that fails leaves the estimator unfitted, not half old, half new
            self.__dict__.pop("model_", None)
        X, y = self._validate_X(X, y=y, reset=first)
        y = self._encode_y(y, first=first, classes=classes)
        return self._train(X, y, first=first, epochs=1 if incremental else self.epochs,
                           incremental=incremental)

    def fit(self, X, y):
        """Train the network on all rows of X (minus the validation rows of early stopping).

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features), or an image array of
            shape (n_samples, C, H, W) or (n_samples, H, W)
            The inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs) (regressor)
            The targets.

        Returns
        -------
        self : object
            The fitted estimator. With ``warm_start=True`` and an earlier fit, training continues
            from its weights (and its scaling and classes) with a fresh optimizer.
        """
        return self._fit(X, y, incremental=False)

    # --- inference -------------------------------------------------------------------------------
    def _outputs(self, X) -> np.ndarray:
        """The network's raw outputs (logits or scaled values) as float64, shape (n, n_outputs).

        On the CPU the forward pass runs in float64: PyTorch's float32 matrix products round
        differently with the number of rows (one row alone vs 569 rows together differed by 4e-8
        here), so a row's prediction would depend on the rows predicted with it. In float64 such
        differences are around 1e-16, below every tolerance of scikit-learn's checks. Accelerators
        keep float32, where float64 is slow."""
        check_is_fitted(self, "model_")
        X, _ = self._validate_X(X, reset=False)
        x = self._tensor(X)
        model = self.model_.eval()
        device = next(model.parameters()).device
        state = dict(model.named_parameters()) | dict(model.named_buffers())
        dtype = torch.float64 if device.type == "cpu" else torch.float32
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
        outs = []
        with torch.inference_mode():
            for i in range(0, len(x), PREDICT_BATCH):
                xb = x[i:i + PREDICT_BATCH].to(device=device, dtype=dtype)
                outs.append(torch.func.functional_call(model, state, (xb,)).cpu())
        out = torch.cat(outs) if outs else torch.zeros(0, self._n_outputs)
        return out.numpy().astype(np.float64)

    # --- persistence -----------------------------------------------------------------------------
    def __getstate__(self):
        """Pickle with the tensors on the CPU, so an estimator fitted on a GPU loads anywhere."""
        state = super().__getstate__()
        if "model_" in state and next(state["model_"].parameters()).device.type != "cpu":
            import copy

            state["model_"] = copy.deepcopy(state["model_"]).cpu()
            state["_optimizer_state"] = _to_cpu(state.get("_optimizer_state"))
        return state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # densified: one-hot encoded blocks from a ColumnTransformer
        return tags


def _to_cpu(value):
    if torch.is_tensor(value):
        return value.cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(v) for v in value)
    return value


class NetClassifier(ClassifierMixin, _NetEstimator):
    """A deepstart network as a scikit-learn classifier.

    Parameters
    ----------
    model : str, default="mlp"
        The zoo family: "mlp", "logistic" (logistic regression as a network), "perceptron" (one
        unit: two classes), "convnet", "resnet", "googlenet" (images), "transformer", "lstm", "gru",
        "bag" (texts: a fastText-style bag of words and bigrams).
    hidden : int or tuple of int, default=None
        Units per hidden layer (mlp; like MLPClassifier's hidden_layer_sizes), or the units of the
        dense layer before the output (convnet). None: the family's default (mlp: (256, 256)).
    activation : str, default=None
        "relu", "tanh", "sigmoid", "identity", "step" (mlp, perceptron). None: the family's default.
    dropout : float, default=None
        Dropout probability (mlp, convnet, transformer, lstm, gru). None: the family's default.
    model_options : dict, default=None
        Any other setting of the family (the fields of its config dataclass, such as
        `deepstart.models.convnet.ConvNetConfig`; an unknown key's error lists them), e.g.
        ``{"widths": [16, 32], "head": "flatten"}`` for the convnet. Each key is also the nested
        parameter ``model_options__KEY`` of get_params/set_params and grid searches.
    epochs : int, default=50
        Passes over the training rows (scikit-learn's MLP calls it max_iter).
    batch_size : int, default=32
        Rows per gradient step.
    lr : float, default=None
        Learning rate. None: 1e-2 for the one-layer families (linear, logistic, perceptron), whose
        convex loss takes larger steps (at 1e-3, 50 epochs left them short of scikit-learn's own
        estimator checks), 1e-3 for the others.
    optimizer : str, default="adam"
        "adam", "adamw", "sgd", "momentum", "nesterov" or "rmsprop".
    weight_decay : float, default=0.0
        L2 penalty applied by the optimizer.
    schedule : str, default="constant"
        Learning-rate schedule over the epochs: "constant", "step", "cosine" or "onecycle".
    early_stopping : bool, default=False
        Hold out `validation_fraction` of the rows (stratified), stop when the validation loss has
        not improved for `n_iter_no_change` epochs, and keep the best epoch's weights.
    validation_fraction : float, default=0.1
        Share of the rows held out when `early_stopping` is on.
    n_iter_no_change : int, default=10
        Patience of early stopping, in epochs.
    scale : {"standard", None}, default="standard"
        Standardise each feature with the training rows' mean and standard deviation, or not.
    image_shape : tuple of int, default=None
        (C, H, W) or (H, W) of flattened image rows, for the image families. Arrays of shape
        (n, C, H, W) or (n, H, W) need none; square grey images (64, 784 features) are inferred.
    text : str or list of str, default=None
        The text column(s) of a DataFrame X (several are joined into one text). None: a 1-D X of
        strings is the text, and a DataFrame's text columns are found by the table rule.
    warm_start : bool, default=False
        When True, `fit` continues from the previous fit's weights instead of starting anew.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the batches' order, dropout and the validation split: the same
        integer gives the same predictions (on the CPU).
    verbose : int, default=0
        0 silent; 1 a progress bar and a line per epoch; 2 the lines only.
    device : str, default="auto"
        "auto" (CUDA, then Apple MPS, then CPU), "cpu", "cuda", "cuda:1", "mps".

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features, when X was a DataFrame with string column names.
    model_ : torch.nn.Module
        The trained network (``deepstart.save_model(est.model_, folder)`` saves it without pickle;
        its inputs are the standardised features).
    n_iter_ : int
        Epochs trained since the last fresh fit.
    loss_curve_ : list of float
        Training loss per epoch.
    history_ : deepstart.History
        Every per-epoch metric (validation ones with early stopping).

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from deepstart.sklearn import NetClassifier
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> net = NetClassifier(hidden=(32,), epochs=20, random_state=0).fit(X, y)  # doctest: +SKIP
    >>> net.score(X, y)  # doctest: +SKIP
    0.986
    """

    _task_kind = "classifier"

    def _encode_y(self, y, *, first: bool, classes=None) -> np.ndarray:
        check_classification_targets(y)
        if first:
            self.classes_ = np.unique(y) if classes is None else np.unique(np.asarray(classes))
            if len(self.classes_) < 2:
                raise DeepstartError(f"a classifier needs samples of at least 2 classes; y has only "
                                     f"one class: {self.classes_[0]!r}.")
            if len(self.classes_) > 2 and not self.__sklearn_tags__().classifier_tags.multi_class:
                raise DeepstartError(f"Only binary classification is supported by model "
                                     f"'{self.model}' (one output unit); y has "
                                     f"{len(self.classes_)} classes: use 'logistic' or 'mlp'.")
        unseen = np.setdiff1d(y, self.classes_)
        if len(unseen):
            raise DeepstartError(f"y has labels {unseen.tolist()} that are not among the classes "
                                 f"{self.classes_.tolist()} of the first fit; pass every class to "
                                 "the first partial_fit (classes=...) or fit anew.")
        return np.searchsorted(self.classes_, y)

    def _targets(self, y):
        if len(self.classes_) == 2:  # one logit, binary cross-entropy
            return "binary", 1, torch.from_numpy(y.astype(np.float32).reshape(-1, 1))
        return "multiclass", len(self.classes_), torch.from_numpy(y.astype(np.int64))

    @property
    def _n_outputs(self) -> int:
        return 1 if len(self.classes_) == 2 else len(self.classes_)

    def partial_fit(self, X, y, classes=None):
        """Train one epoch on (X, y), continuing the weights and the optimizer of earlier calls.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        classes : array-like of shape (n_classes,), default=None
            Every class that will ever appear; required on the first call. The first call also
            fixes the scaling statistics.

        Returns
        -------
        self : object
        """
        if not hasattr(self, "model_") and classes is None:
            raise DeepstartError("the first call to partial_fit needs classes=...: every class "
                                 "that any batch will contain.")
        return self._fit(X, y, incremental=True, classes=classes)

    def decision_function(self, X):
        """The network's logits: shape (n_samples,) for two classes (> 0 means classes_[1]),
        (n_samples, n_classes) otherwise."""
        out = self._outputs(X)
        return out[:, 0] if len(self.classes_) == 2 else out

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes), in the order of classes_."""
        from scipy.special import expit, softmax

        out = self._outputs(X)
        if len(self.classes_) == 2:
            p = expit(out[:, 0])
            return np.stack([1 - p, p], axis=1)
        return softmax(out, axis=1)

    def predict_log_proba(self, X):
        """Logarithm of predict_proba, computed from the logits (no log of 0)."""
        from scipy.special import log_expit, log_softmax

        out = self._outputs(X)
        if len(self.classes_) == 2:
            return np.stack([log_expit(-out[:, 0]), log_expit(out[:, 0])], axis=1)
        return log_softmax(out, axis=1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # the perceptron is one unit: two classes (scikit-learn's checks then ask it to refuse three)
        tags.classifier_tags.multi_class = self.model != "perceptron"
        return tags

    def predict(self, X):
        """Class labels, shape (n_samples,)."""
        out = self._outputs(X)
        index = (out[:, 0] > 0).astype(np.int64) if len(self.classes_) == 2 else out.argmax(axis=1)
        return self.classes_[index]


class NetRegressor(RegressorMixin, _NetEstimator):
    """A deepstart network as a scikit-learn regressor, for one target or several.

    The targets are standardised for training (mean 0, sd 1 per target, from the training rows);
    predictions come back in their units.

    Parameters
    ----------
    model : str, default="mlp"
        The zoo family: "mlp", "linear" (linear regression as a network), "perceptron" (one
        unit), "convnet", "resnet" (images), "transformer", "lstm", "gru".

    Other Parameters
    ----------------
    hidden, activation, dropout, model_options, epochs, batch_size, lr, optimizer, weight_decay, \
schedule, early_stopping, validation_fraction, n_iter_no_change, scale, image_shape, text, \
warm_start, random_state, verbose, device
        As for NetClassifier (the validation rows of early stopping are drawn at random, not
        stratified).

    Attributes
    ----------
    n_features_in_, feature_names_in_, model_, n_iter_, loss_curve_, history_
        As for NetClassifier; the history's RMSE is in the target's units (with one target).

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from deepstart.sklearn import NetRegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> NetRegressor(hidden=(32,), epochs=100, random_state=0).fit(X, y).score(X, y)  # doctest: +SKIP
    0.61
    """

    _task_kind = "regressor"

    def _encode_y(self, y, *, first: bool, classes=None) -> np.ndarray:
        y = np.asarray(y, dtype=np.float64)
        if first:
            self._y_ndim = y.ndim
            y2 = y.reshape(len(y), -1)
            std = y2.std(axis=0)
            self._y_offset = y2.mean(axis=0)
            self._y_scale = np.where(std > 0, std, 1.0)
        elif y.ndim != self._y_ndim or y.reshape(len(y), -1).shape[1] != len(self._y_offset):
            raise DeepstartError(f"y has shape {y.shape[1:]} per row; the first fit had "
                                 f"{len(self._y_offset)} target(s).")
        return y

    def _targets(self, y):
        z = (y.reshape(len(y), -1) - self._y_offset) / self._y_scale
        return "regression", z.shape[1], torch.from_numpy(z.astype(np.float32))

    @property
    def _n_outputs(self) -> int:
        return len(self._y_offset)

    def partial_fit(self, X, y):
        """Train one epoch on (X, y), continuing the weights and the optimizer of earlier calls.
        The first call fixes the scaling of inputs and targets.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)

        Returns
        -------
        self : object
        """
        return self._fit(X, y, incremental=True)

    def predict(self, X):
        """Predictions in the target's units: shape (n_samples,) if y was 1-D in fit, else
        (n_samples, n_outputs)."""
        out = self._outputs(X) * self._y_scale + self._y_offset
        return out[:, 0] if self._y_ndim == 1 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
