"""`deepstart models`: the zoo as the code defines it. Each family's data kinds are found by
building it (on PyTorch's meta device: no memory, no initialisation) for a sample input of each
kind; its parameter count at the defaults by building it for a stated reference input; its options
from its config dataclass, each field's meaning from the comment beside it (on its line, or the
comment lines right above it); its recipes from the catalog, with the scores benchmarks/recipes.py
measured (docs/recipes.json, the data of docs/recipes.md).
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import io
import json
import textwrap
import tokenize
from pathlib import Path

import torch
from rich.markup import escape
from rich.table import Table

from deepstart.console import console
from deepstart.errors import DeepstartError, unknown_name
from deepstart.models import (FAMILIES, IMAGE_ONLY, SEQUENCE_ONLY, SHAPE_AWARE, TEXT_FIELDS,
                              build_model, data_settings)

DESCRIPTIONS = {
    "perceptron": "one unit, activation(w . x + b): Rosenblatt's perceptron with a step, the "
                  "course's first network",
    "linear": "linear regression: one linear layer, y = W x + b, on squared error",
    "logistic": "logistic (softmax) regression: one linear layer whose outputs are class logits",
    "mlp": "multi-layer perceptron: dense hidden layers (the articles' 256-256), an activation, "
           "optional batch norm and dropout",
    "convnet": "a small, fast convolutional network: per stage 3x3 convolution, max-pool, batch "
               "norm, ReLU; a pooled or flattened head",
    "resnet": "CIFAR-style residual network (He et al. 2016): 6n + 2 layers of basic blocks with "
              "shortcut connections",
    "googlenet": "GoogLeNet / Inception v1 (Szegedy et al. 2014): the paper's inception modules and "
                 "auxiliary classifiers, for small images",
    "transformer": "attention encoder: ViT-style patches of images, one token per step of a "
                   "sequence or per column of a table, or a text's tokens (with a padding mask)",
    "lstm": "LSTM over the sequence; a linear layer maps its last hidden state to the outputs. "
            "On text: token embeddings, bidirectional, packed (pads never read)",
    "gru": "GRU over the sequence; a linear layer maps its last hidden state to the outputs. "
           "On text: token embeddings, bidirectional, packed (pads never read)",
    "bag": "fastText-style bag: the mean embedding of a text's words and hashed bigrams, with the "
           "other columns, then a linear layer (Joulin et al. 2017); the fast text baseline",
    "minilm": "pretrained sentence-transformers all-MiniLM-L6-v2 (a 6-layer BERT) with its own "
              "tokenizer: the mean of its outputs over a text's tokens, with the other columns, then "
              "a new linear head; fine-tuned",
    **{f"efficientnet-lite{n}": f"EfficientNet-Lite{n} (Tan & Le 2019, TF's mobile variant), "
                                f"ImageNet-pretrained ({score} % top-1 as published), with a new head; "
                                "resizes and normalises images itself, grey to RGB"
       for n, score in ((0, 75.1), (1, 76.7), (2, 77.6))},
}

# One sample's shape, outputs and task of the problems used as reference inputs (tests check each
# against what prepare() makes of the problem), so that listing loads no data.
REFERENCE_INPUTS = {
    "fashion-mnist": ((1, 28, 28), 10, "multiclass", "1x28x28 images, 10 classes"),
    "mnist": ((1, 28, 28), 10, "multiclass", "1x28x28 images, 10 classes"),
    "airline-passengers": ((13,), 1, "forecast", "windows of 13 months, the default model's look-back"),
    "iris": ((4,), 3, "multiclass", "4 columns, 3 classes"),
    "or-gate": ((2,), 1, "binary", "2 inputs, 1 output"),
    "fine-foods": ((234,), 1, "binary", "reviews as 234 token ids of a 7,384-word vocabulary"),
}
# The text layout (build_model's `text`) of the reference inputs that are texts, as prepare() makes
# it of the problem (tests check it).
REFERENCE_TEXT = {"fine-foods": {"text_start": 0, "text_length": 234, "vocab_size": 7384}}
# A family's reference input is its first recipe's problem; these are for families without one.
FALLBACK_REFERENCE = {"perceptron": "or-gate", "logistic": "iris", "mlp": "fashion-mnist",
                      "lstm": "airline-passengers", "gru": "airline-passengers", "bag": "fine-foods",
                      "minilm": "fine-foods"}
DEFAULT_REFERENCE = "fashion-mnist"

# A family takes a kind of data when it builds for one of these inputs (shape, outputs, task, and a
# text's layout: two other columns, then 32 token ids of a 100-word vocabulary).
KIND_PROBES = {
    "tables": (((4,), 1, "binary"), ((4,), 3, "multiclass"), ((4,), 1, "regression")),
    "images": (((1, 8, 8), 10, "multiclass"),),
    "series": (((13,), 1, "forecast"),),
    "text": (((34,), 1, "binary", {"text_start": 2, "text_length": 32, "vocab_size": 100}),),
}
MEASURED = Path(__file__).resolve().parents[2] / "docs" / "recipes.json"


def own_tokenizer(name: str, text: dict | None) -> dict | None:
    """A text layout as family `name` gets it: a family that reads its own tokenizer's ids
    (minilm: data option tokenizer="minilm") has that tokenizer's vocabulary on any text."""
    if text is not None and name == "minilm":
        from deepstart.models.minilm import VOCAB_SIZE

        return text | {"vocab_size": VOCAB_SIZE}
    return text


def reference_text(name: str, ref: str) -> dict | None:
    """The text layout family `name` gets on the reference problem `ref` (None: no text)."""
    return own_tokenizer(name, REFERENCE_TEXT.get(ref))


def _build(name: str, shape: tuple, n_outputs: int, task: str, options: dict | None = None,
           text: dict | None = None):
    text = own_tokenizer(name, text)
    from deepstart.pretrained import is_pretrained

    if is_pretrained(name):  # shapes only: the weights (and their package) are not needed
        options = {"pretrained": False} | (options or {})
    with torch.device("meta"):  # shapes only: no memory, no random initialisation
        return build_model(name, shape, n_outputs, task, text=text, **(options or {}))


def n_parameters(name: str, shape: tuple, n_outputs: int, task: str,
                 options: dict | None = None, text: dict | None = None) -> int:
    return sum(p.numel() for p in _build(name, shape, n_outputs, task, options, text).parameters())


def kinds(name: str) -> list[str]:
    """The kinds of data family `name` builds for, each with how it reads them when that is not
    plain (images flattened, a table's columns as the steps of a sequence)."""
    found = []
    for kind, probes in KIND_PROBES.items():
        if not any(_builds(name, *probe) for probe in probes):
            continue
        if kind == "images" and name not in IMAGE_ONLY + SHAPE_AWARE:
            kind += " (flattened)"
        elif kind == "tables" and name in SEQUENCE_ONLY:
            kind += " (columns as steps)"
        found.append(kind)
    return found


def _builds(name: str, shape: tuple, n_outputs: int, task: str, text: dict | None = None) -> bool:
    try:
        _build(name, shape, n_outputs, task, text=text)
    except DeepstartError:
        return False
    return True


def field_help(config_cls) -> dict[str, str]:
    """Each field's meaning: the comment on its line, after the comment lines right above it (a
    subclass's comment over its base's, e.g. efficientnet-lite1's own input_size)."""
    bases = [c for c in config_cls.__mro__[1:] if dataclasses.is_dataclass(c)]
    if bases:
        return field_help(bases[0]) | {k: v for k, v in _own_field_help(config_cls).items() if v}
    return _own_field_help(config_cls)


def _own_field_help(config_cls) -> dict[str, str]:
    try:
        source = textwrap.dedent(inspect.getsource(config_cls))
    except (OSError, TypeError):  # no source (a frozen build): the table shows no meanings
        return {}
    lines = source.splitlines()
    comments = {tok.start[0]: tok.string.lstrip("#").strip()
                for tok in tokenize.generate_tokens(io.StringIO(source).readline)
                if tok.type == tokenize.COMMENT}
    helps = {}
    for node in ast.parse(source).body[0].body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        above, n = [], node.lineno - 1
        while n in comments and lines[n - 1].lstrip().startswith("#"):
            above.insert(0, comments[n])
            n -= 1
        own = [comments[i] for i in range(node.lineno, node.end_lineno + 1) if i in comments]
        helps[node.target.id] = " ".join(above + own)
    return helps


# Families whose parameter count is given on a fixed problem whatever their first recipe: the MLP's
# on Fashion-MNIST, the articles' 256-256 network on 784 pixels (the small tables' recipes come first)
PREFERRED_REFERENCE = {"mlp": "fashion-mnist"}


def reference(name: str) -> str:
    """The problem whose inputs the family's parameter count is given on."""
    if name in PREFERRED_REFERENCE:
        return PREFERRED_REFERENCE[name]
    first = next((p.name for p, _ in recipes(name) if p.name in REFERENCE_INPUTS), None)
    return first or FALLBACK_REFERENCE.get(name, DEFAULT_REFERENCE)


def recipes(name: str) -> list:
    """(problem, recipe) for every catalog recipe of family `name`."""
    from deepstart.problems import all_problems

    return [(p, r) for p in all_problems() for r in p.recipes if r.model == name]


def default_of(name: str) -> list[str]:
    """The problems whose `deepstart run PROBLEM` (no --model) trains family `name`."""
    from deepstart.problems import all_problems

    return [p.name for p in all_problems() if p.recipe.get("model") == name]


def measurements() -> dict | None:
    """benchmarks/recipes.py's measurements by recipe id ("problem/model") and machine; None when
    this installation has no docs/ folder (a wheel ships the package alone)."""
    if not MEASURED.is_file():
        return None
    from deepstart.files import read_json

    return read_json(MEASURED, fix="restore it with git checkout docs/recipes.json")


def measured(store: dict | None, problem: str, name: str) -> list[dict]:
    """The measurements of the recipe `problem/name`, one per machine (rows without a score, as a
    hand-edited file may have, are left out)."""
    rows = (store or {}).get(f"{problem}/{name}")
    keys = {"score", "machine", "meets", "metric", "date", "wall_seconds"}
    return [m for m in (rows.values() if isinstance(rows, dict) else ())
            if isinstance(m, dict) and keys <= set(m) and isinstance(m["score"], (int, float))]


def _default(f: dataclasses.Field):
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def options(name: str) -> list[dict]:
    """The config fields of family `name`: type, default, meaning, and whether the data fills it
    in (then it is no option; `value` is what the reference input gives it)."""
    config_cls = FAMILIES[name][1]
    ref = reference(name)
    shape, n_outputs, _, _ = REFERENCE_INPUTS[ref]
    filled = data_settings(name, shape, n_outputs, reference_text(name, ref))
    helps = field_help(config_cls)
    # the text layout comes from a text problem's data, so it is never an option (None elsewhere)
    return [{"name": f.name, "type": str(f.type), "default": _default(f),
             "help": helps.get(f.name, ""), "from_data": f.name in filled or f.name in TEXT_FIELDS,
             "value": filled.get(f.name)} for f in dataclasses.fields(config_cls)]


def _json(value) -> str:
    return "required" if value is dataclasses.MISSING else json.dumps(value)


def _target(problem, recipe) -> str:
    if recipe.target is None:
        return "no target"
    return f"{'≥' if problem.greater_is_better else '≤'} {recipe.target:g} {problem.metric}"


def metric_text(value: float, metric: str) -> str:
    from deepstart.problems.metrics import text

    return text(value, metric)


def _measured_short(rows: list[dict]) -> str:
    if not rows:
        return "not measured yet"
    parts = []
    for m in rows:
        where = m["machine"].split()[0]  # "CPU AMD EPYC, 2 threads" -> CPU
        score = metric_text(m["score"], m.get("metric", "accuracy"))
        parts.append(f"{score} {where}" + ("" if m["meets"] is not False else " (not met)"))
    return ", ".join(parts)


def print_models() -> None:
    store = measurements()
    table = Table(title="the model zoo (deepstart models NAME for its options)", title_justify="left")
    table.add_column("family", no_wrap=True)
    for column in ("what it is", "data", "parameters", "recipes: target, measured"):
        table.add_column(column, overflow="fold")
    used = []
    for name in sorted(FAMILIES):
        ref = reference(name)
        shape, n_outputs, task, _ = REFERENCE_INPUTS[ref]
        if ref not in used:
            used.append(ref)
        cells = [f"{p.name} {_target(p, r)}: "
                 + (_measured_short(measured(store, p.name, name)) if store is not None
                    else "see the claim")
                 for p, r in recipes(name)]
        defaults = default_of(name)
        if defaults:  # `deepstart run PROBLEM` without --model: no claim of its own
            cells.append(f"the default model of {', '.join(defaults)}")
        table.add_row(name, DESCRIPTIONS.get(name, ""), ", ".join(kinds(name)),
                      f"{n_parameters(name, shape, n_outputs, task, text=reference_text(name, ref)):,}"
                      f" ({ref})",
                      escape("\n".join(cells) or "-"))
    console.print(table)
    inputs = "; ".join(f"{ref}: {REFERENCE_INPUTS[ref][3]}" for ref in used)
    console.print(f"parameters: at the family's defaults, on the inputs of the problem named "
                  f"({inputs}).", soft_wrap=True)
    if store is None:
        console.print(f"measured scores: {MEASURED} is not in this installation (it is in the "
                      "source tree, written by benchmarks/recipes.py); `deepstart problems NAME` "
                      "shows each recipe's claim.", soft_wrap=True)
    else:
        console.print("measured: by benchmarks/recipes.py, as a user runs the recipe (docs/recipes.md; "
                      "CPU: the project's 2-core machine, GPU: the GPU it names).", soft_wrap=True)


def print_model(name: str) -> None:
    from deepstart.models import custom

    if custom.is_reference(name):
        return print_custom(name)
    if name not in FAMILIES:
        raise unknown_name("model", name, FAMILIES)
    ref = reference(name)
    shape, n_outputs, task, words = REFERENCE_INPUTS[ref]
    _, _, tasks = FAMILIES[name]
    console.print(f"[bold]{name}[/bold]: {escape(DESCRIPTIONS.get(name, ''))}", soft_wrap=True)
    for label, value in (("data", ", ".join(kinds(name))), ("tasks", ", ".join(tasks)),
                         ("parameters", f"{n_parameters(name, shape, n_outputs, task, text=reference_text(name, ref)):,}"
                                        f" at the defaults, on {ref} ({words})"),
                         ("config", f"{FAMILIES[name][1].__name__} in "
                                    f"{FAMILIES[name][0].__module__}")):
        console.print(f"  {label:<11} {value}", soft_wrap=True)

    console.print(f"  {'layers':<11} deepstart show model {name} --problem {ref}", soft_wrap=True)
    from deepstart.tune import searched

    console.print(f"  {'tune':<11} deepstart tune PROBLEM --model {name} searches "
                  f"{', '.join(searched(name))}; --space NAME=VALUES adds options (python -m pydoc "
                  "deepstart.tune)", soft_wrap=True)

    fields = options(name)
    table = Table(title="options (--option KEY=VALUE, values in JSON)", title_justify="left")
    for column in ("option", "type", "default", "meaning"):
        table.add_column(column, overflow="fold")
    for f in fields:
        if not f["from_data"]:
            table.add_row(f["name"], escape(f["type"]), escape(_json(f["default"])), escape(f["help"]))
    console.print(table)
    table = Table(title="filled in from the data and the family's name (not options)",
                  title_justify="left")
    for column in ("field", "type", f"on {ref}", "meaning"):
        table.add_column(column, overflow="fold")
    for f in fields:
        if f["from_data"]:
            table.add_row(f["name"], escape(f["type"]), escape(_json(f["value"])), escape(f["help"]))
    console.print(table)

    store = measurements()
    found = recipes(name)
    if not found:
        console.print(f"recipes: none yet; `deepstart run PROBLEM --model {name}` starts from the "
                      "problem's default training settings.", soft_wrap=True)
    for problem, recipe in found:
        console.print(f"\n[bold]recipe[/bold] deepstart run {problem.name} --model {name}  "
                      f"(target {_target(problem, recipe)})", soft_wrap=True)
        config_fields = {f["name"] for f in fields}
        settings = " ".join(f"{k}={v}" for k, v in recipe.settings.items() if k != "model")
        console.print(f"  settings    {escape(settings)}", soft_wrap=True)
        if problem.name in REFERENCE_INPUTS:
            shape, n_outputs, task, _ = REFERENCE_INPUTS[problem.name]
            mine = {k: v for k, v in recipe.settings.items() if k in config_fields}
            console.print(f"  parameters  "
                          f"{n_parameters(name, shape, n_outputs, task, mine, reference_text(name, problem.name)):,}",
                          soft_wrap=True)
        rows = measured(store, problem.name, name)
        for m in rows:
            verdict = {True: "meets the target", False: "short of the target", None: ""}[m["meets"]]
            epochs = f", {m['epochs']} epochs" if m.get("epochs") else ""
            console.print(f"  measured    {metric_text(m['score'], m['metric'])} {m['metric']} on {m['machine']} "
                          f"({m['date']}{epochs}, {m['wall_seconds']:.0f} s from command to "
                          f"result): {verdict}", soft_wrap=True)
        if store is not None and not rows:
            console.print("  measured    not yet (python benchmarks/recipes.py --only "
                          f"{problem.name}/{name})", soft_wrap=True)
        console.print(f"  [dim]{escape(recipe.claim)}[/dim]", soft_wrap=True)
    defaults = default_of(name)
    if defaults:
        console.print(f"\nthe default model of: {', '.join(defaults)} (`deepstart run PROBLEM` "
                      "without --model)", soft_wrap=True)


def print_custom(reference: str) -> None:
    """Your own class: its constructor's parameters (which deepstart fills in, which are options),
    the search space it states for tune, and the paper's figures it states."""
    from deepstart.models import custom
    from deepstart.tune import class_space

    cls = custom.load_class(reference)  # imports the file: that runs its code
    doc = inspect.cleandoc(cls.__doc__ or "").split("\n\n")[0].replace("\n", " ")  # its own
    console.print(f"[bold]{escape(cls.__name__)}[/bold] ({escape(reference)}): your own class"
                  + (f": {escape(doc)}" if doc else ""), soft_wrap=True)
    table = Table(title="constructor arguments (--option KEY=VALUE, values in JSON)",
                  title_justify="left")
    for column in ("argument", "default", "given by"):
        table.add_column(column, overflow="fold")
    for arg, param in inspect.signature(cls.__init__).parameters.items():
        if arg == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        default = "required" if param.default is param.empty else repr(param.default)
        given = "deepstart, from the data" if arg in custom.GIVEN else "you (--option)"
        table.add_row(arg, escape(default), given)
    console.print(table)
    space = class_space(reference)
    if space:
        table = Table(title="SEARCH_SPACE (deepstart tune searches it)", title_justify="left")
        table.add_column("option")
        table.add_column("values")
        for k, d in space.items():
            shown = (", ".join(map(json.dumps, d["choices"])) if d["type"] == "categorical" else
                     f"{d['type']} {d['low']} to {d['high']}" + (", log scale" if d["log"] else "")
                     + (f", step {d['step']}" if d["step"] else ""))
            table.add_row(k, escape(shown))
        console.print(table)
    else:
        console.print("no SEARCH_SPACE: deepstart tune searches the training settings alone "
                      "(add --space NAME=VALUES).", soft_wrap=True)
    paper = getattr(cls, "PAPER", None)
    if isinstance(paper, dict):
        console.print("PAPER: " + escape(", ".join(f"{k} {v}" for k, v in paper.items())),
                      soft_wrap=True)
    console.print(f"note: showing it imported {escape(reference.rsplit(':', 1)[0])}, which runs "
                  "your own code.", soft_wrap=True)
