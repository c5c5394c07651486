"""Your own model: a class in your own file (`PATH.py:Class`) or module (`package.module:Class`)
that trains, saves and loads like a zoo family.

The class is built with keyword arguments by name: `in_shape` (one sample's shape, a tuple),
`n_outputs` (int) and `task` (str), on a text problem `vocab_size`, `text_start` and `text_length`
(deepstart.text.text_layout), each only if its constructor takes it, plus the options
(`--option k=v`). model.json records where the class came from (the path as given, relative to the
working folder and to the run folder, the module, the class), the arguments it was built with and
the sha256 of its source file. Loading a run imports that file again, which runs its code: load only
runs whose code you trust. A missing file or one whose hash changed is refused, with what to do.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import os
import re
import sys
from pathlib import Path

from deepstart.errors import DeepstartError

FAMILY = "custom"
# What deepstart passes by name when the constructor takes it; everything else is an option.
GIVEN = ("in_shape", "n_outputs", "task", "vocab_size", "text_start", "text_length")
# what `check` builds a text-reading class with before any data is loaded
_TEXT_PLACEHOLDER = {"vocab_size": 2, "text_start": 0, "text_length": 1}
_REFERENCE = re.compile(r"^(?P<where>.+):(?P<cls>[A-Za-z_][A-Za-z0-9_]*)$")
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
ATTRIBUTE = "_deepstart_custom"  # set on each instance deepstart builds: how to build it again
_warned: set[str] = set()


def is_reference(name) -> bool:
    """`PATH.py:Class` or `package.module:Class`, as opposed to a zoo family name."""
    if not isinstance(name, str):
        return False
    m = _REFERENCE.match(name)
    return bool(m) and (m["where"].endswith(".py") or bool(_MODULE.match(m["where"])))


def parse(reference: str) -> tuple[str | None, str | None, str]:
    """(path, module, class): one of path and module is None."""
    m = _REFERENCE.match(reference) if isinstance(reference, str) else None
    if not m or not is_reference(reference):
        raise DeepstartError(f"expected a model reference PATH.py:Class or package.module:Class; "
                             f"received {reference!r}.")
    where = m["where"]
    return (where, None, m["cls"]) if where.endswith(".py") else (None, where, m["cls"])


def short_name(reference: str) -> str:
    """What run folders and titles call the model: the class name in lower case."""
    return parse(reference)[2].lower()


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _module_name(path: Path) -> str:
    # one name per file, the same in every process (torchrun workers import it again)
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:10]
    return f"deepstart_user_{re.sub(r'[^A-Za-z0-9_]', '_', path.stem)}_{digest}"


def _import_file(path: Path, reference: str):
    path = path.resolve()
    name = _module_name(path)
    digest = sha256_file(path)
    cached = sys.modules.get(name)
    if cached is not None and getattr(cached, "__deepstart_sha256__", None) == digest:
        return cached  # imported once per process, again only if the file changed
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    module.__deepstart_sha256__ = digest
    sys.modules[name] = module  # dataclasses and typing look the module up while it runs
    sys.path.insert(0, str(path.parent))  # the file may import its neighbours
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as e:  # the user's code: one line naming where it failed
        sys.modules.pop(name, None)
        hint = (" (the file runs a script when imported: put that under `if __name__ == "
                "\"__main__\":`)" if isinstance(e, SystemExit) else "")
        raise DeepstartError(f"importing {path} (for --model {reference}) raised "
                             f"{_where(e, path)}{hint}; fix the file and run again.") from None
    finally:
        if str(path.parent) in sys.path:
            sys.path.remove(str(path.parent))
    return module


def _where(e: BaseException, path: Path | None = None) -> str:
    """'NameError: name 'x' is not defined (line 12)': the exception and the user's line."""
    import traceback

    line = None
    for frame in traceback.extract_tb(e.__traceback__):
        if path is None or Path(frame.filename).resolve() == path.resolve():
            line = frame.lineno
    first = (str(e).strip().splitlines() or [""])[0][:200]
    text = f"{type(e).__name__}: {first}" if first else type(e).__name__
    return text + (f" (line {line})" if line else "")


def _module_file(module) -> Path | None:
    file = getattr(module, "__file__", None)
    return Path(file).resolve() if file else None


def load_class(reference: str, base: Path | None = None):
    """The class `reference` names, imported (a path is relative to `base`, default the working
    folder). Checks: the file exists, the class is in it and is a torch.nn.Module."""
    from torch import nn

    path, module_name, cls_name = parse(reference)
    if path is not None:
        file = Path(path) if base is None or Path(path).is_absolute() else base / path
        if not file.is_file():
            why = "is a folder" if file.is_dir() else "does not exist"
            raise DeepstartError(f"--model {reference}: the file {file} {why}; expected a Python "
                                 f"file holding class {cls_name} (a path relative to "
                                 f"{(base or Path.cwd()).resolve()}, or absolute).")
        module = _import_file(file, reference)
        where = str(file)
    else:
        try:
            module = importlib.import_module(module_name)
        except ImportError as e:
            raise DeepstartError(f"--model {reference}: the module {module_name} cannot be imported "
                                 f"({e}); expected an importable module (on PYTHONPATH, or "
                                 "installed), or pass a file path PATH.py:Class.") from None
        except (Exception, SystemExit) as e:
            raise DeepstartError(f"importing {module_name} (for --model {reference}) raised "
                                 f"{_where(e, _module_file(sys.modules.get(module_name)))}; fix the "
                                 "module and run again.") from None
        where = module_name
    cls = getattr(module, cls_name, None)
    if cls is None:
        found = sorted(n for n, v in vars(module).items() if inspect.isclass(v)
                       and issubclass(v, nn.Module) and v.__module__ == module.__name__)
        import difflib

        close = difflib.get_close_matches(cls_name, found, n=1, cutoff=0.5)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise DeepstartError(f"--model {reference}: {where} has no class {cls_name}{hint}; expected "
                             f"one of its nn.Module classes: {', '.join(found) or 'none defined there'}.")
    if not (inspect.isclass(cls) and issubclass(cls, nn.Module)):
        what = f"a class deriving from {cls.__mro__[1].__name__}" if inspect.isclass(cls) \
            else f"{'an' if type(cls).__name__[0] in 'aeiou' else 'a'} {type(cls).__name__}"
        raise DeepstartError(f"--model {reference}: {cls_name} in {where} is {what}, not a "
                             "torch.nn.Module; expected a class `class "
                             f"{cls_name}(nn.Module)` whose forward maps a batch to outputs.")
    return cls


def arguments(cls, input_shape, n_outputs: int, task: str, options: dict, reference: str,
              text: dict | None = None) -> dict:
    """The keyword arguments `cls` is called with: in_shape, n_outputs, task (and a text
    problem's layout) where its constructor takes them, then the options; a DeepstartError if the
    constructor cannot take them."""
    params = _parameters(cls)
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    given = {"in_shape": tuple(input_shape), "n_outputs": int(n_outputs), "task": task}
    given |= {k: int(v) for k, v in (text or {}).items() if k in GIVEN}
    clash = sorted(set(options) & set(GIVEN))
    if clash:
        raise DeepstartError(f"--option {clash[0]}: deepstart passes {clash[0]} from the problem "
                             f"({given.get(clash[0], 'on a text problem')!r}); drop the option.")
    kwargs = {k: v for k, v in given.items() if k in params} | dict(options)
    unknown = sorted(k for k in options if k not in params and not takes_any)
    named = [n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if unknown:
        raise DeepstartError(f"--model {reference}: {cls.__name__}.__init__ has no parameter "
                             f"{', '.join(unknown)}; expected options among its parameters: "
                             f"{', '.join(n for n in named if n not in GIVEN) or 'none'}.")
    missing = [n for n, p in params.items() if p.default is p.empty and n not in kwargs
               and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if missing:
        extra = (f"; deepstart passes only {', '.join(GIVEN)} by those names"
                 if any(n not in GIVEN for n in missing) else "")
        raise DeepstartError(f"--model {reference}: {cls.__name__}.__init__ needs {missing[0]}, "
                             f"which was not given; pass --option {missing[0]}=VALUE or give it a "
                             f"default{extra}.")
    return kwargs


def _parameters(cls) -> dict:
    try:
        params = dict(inspect.signature(cls.__init__).parameters)
    except (TypeError, ValueError):
        return {}
    params.pop(next(iter(params), None), None)  # self
    return {n: p for n, p in params.items() if p.kind is not p.VAR_POSITIONAL}


def check(reference: str, options: dict) -> None:
    """Before any data loads: the file, the class and the options are ones that can build it."""
    cls = load_class(reference)
    arguments(cls, (1,), 1, "multiclass", options, reference, text=_TEXT_PLACEHOLDER)
    paper_claim(cls)


def build(reference: str, input_shape, n_outputs: int, task: str, text: dict | None = None,
          **options):
    """A new instance of the class `reference` names, remembering how it was built."""
    cls = load_class(reference)
    kwargs = arguments(cls, input_shape, n_outputs, task, options, reference, text=text)
    model = _construct(cls, kwargs, reference)
    setattr(model, ATTRIBUTE, source(reference, cls) | {"arguments": _recorded(kwargs)})
    import torch

    # a model that cannot read these inputs fails here, wherever it is built (run, show, tune)
    check_outputs(model, torch.zeros(2, *input_shape), n_outputs, task)
    return model


def check_outputs(model, xb, n_outputs: int, task: str) -> None:
    """`xb` (a batch of inputs) through `model` in eval mode must give (len(xb), n_outputs): a
    DeepstartError naming the model, what came out and what the problem expects, if not."""
    import torch

    entry = getattr(model, ATTRIBUTE, None)
    name = f"--model {entry['reference']}" if entry else type(model).__name__
    shape = tuple(xb.shape[1:])
    state = torch.random.get_rng_state()  # a dropout in the check must not move the seed
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            out = model(xb)
    except Exception as e:
        raise DeepstartError(f"{name}: its forward pass on a batch of {len(xb)} inputs of shape "
                             f"{shape} raised {_where(e, _class_file(type(model)))}; expected it "
                             "to take (batch, *in_shape) tensors.") from None
    finally:
        model.train(was_training)
        torch.random.set_rng_state(state)
    if isinstance(out, tuple) and out:  # main output + auxiliary ones (GoogLeNet style)
        out = out[0]
    wanted = (len(xb), n_outputs)
    got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
    if got != wanted:
        what = (f"{n_outputs} class scores" if task == "multiclass"
                else "one logit" if task == "binary" else "one value")
        raise DeepstartError(f"{name}: its forward pass gives {got} for a batch of {len(xb)} "
                             f"inputs of shape {shape}; this {task} problem expects {wanted}, "
                             f"{what} per input: size the last layer with n_outputs.")


def _construct(cls, kwargs: dict, reference: str):
    shown = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    try:
        return cls(**kwargs)
    except Exception as e:
        raise DeepstartError(f"--model {reference}: {cls.__name__}({shown}) raised "
                             f"{_where(e, _class_file(cls))}; expected its constructor to take "
                             "these arguments.") from None


def _class_file(cls) -> Path | None:
    return _module_file(sys.modules.get(cls.__module__))


def source(reference: str, cls) -> dict:
    """Where the class comes from, for model.json: reference, path as given and relative to the
    working folder, module, class, sha256 of the file."""
    path, module_name, cls_name = parse(reference)
    file = _class_file(cls)
    own = cls.__module__ not in ("__main__",) and not cls.__module__.startswith("deepstart_user_")
    entry = {"reference": reference, "path": path,
             "module": module_name or (cls.__module__ if own else None),
             "class": cls_name, "file": str(file) if file else None,
             "working_folder": str(Path.cwd()),
             "relative_path": os.path.relpath(file, Path.cwd()) if file else None,
             "sha256": sha256_file(file) if file else None}
    return entry


def _recorded(kwargs: dict) -> dict:
    """The constructor arguments as JSON values, or a DeepstartError naming the one that is not."""
    out = {}
    for name, value in kwargs.items():
        try:
            out[name] = _jsonable(value)
        except DeepstartError:
            raise DeepstartError(f"the constructor argument {name}={value!r} cannot be recorded in "
                                 "model.json (JSON holds numbers, text, lists and dicts); pass a "
                                 f"name or number instead (e.g. {name}='relu') and build the "
                                 "object inside __init__.") from None
    return out


def _jsonable(value):
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise DeepstartError(f"the constructor argument value {value!r} ({type(value).__name__}) cannot "
                         "be recorded in model.json; pass numbers, text, lists or dicts.")


def describe(model) -> dict | None:
    """How to build `model` again: the entry deepstart set when it built it, or for an instance the
    user built, its constructor arguments read back the scikit-learn way (an attribute of the same
    name as each parameter), checked by building it again. None for a zoo model."""
    entry = getattr(model, ATTRIBUTE, None)
    if entry is not None:
        return entry
    if getattr(model, "family", None) is not None and hasattr(model, "config"):
        return None
    return _describe_instance(model)


def _describe_instance(model) -> dict:
    cls = type(model)
    file = _class_file(cls)
    name = cls.__name__
    if file is None or not file.is_file() or cls.__qualname__ != name:
        raise DeepstartError(f"{name} is defined {'inside a function or class' if file else 'outside any file (a notebook or the interpreter)'}, "
                             "so a run cannot import it again; define it at the top level of a .py "
                             "file and import it from there.")
    if cls.__module__ == "__main__" and "__name__" not in file.read_text(errors="replace"):
        # loading the run imports the script again: unguarded, it would train all over again
        raise DeepstartError(f"{name} is defined in the script {file}, which loading the run will "
                             "import again; put the script's training code under `if __name__ == "
                             "\"__main__\":` (or move the class to a file of its own) and run it "
                             "again.")
    # by its file, which loads wherever the run is read from (a module name needs its folder on
    # the path); the module name is recorded beside it
    reference = f"{os.path.relpath(file, Path.cwd())}:{name}"
    params = _parameters(cls)
    kwargs, absent = {}, []
    for p_name, p in params.items():
        if p.kind is p.VAR_KEYWORD:
            continue
        if hasattr(model, p_name) and not inspect.isroutine(getattr(model, p_name)):
            kwargs[p_name] = getattr(model, p_name)
        elif p.default is p.empty:
            absent.append(p_name)
        else:
            kwargs[p_name] = p.default
    if absent:
        raise DeepstartError(f"{name}.__init__ takes {absent[0]}, but the instance has no attribute "
                             f"{absent[0]}, so deepstart cannot build it again to load the run; "
                             f"store it in __init__ as self.{absent[0]} = {absent[0]} (the "
                             "scikit-learn convention).")
    if "in_shape" in kwargs:
        kwargs["in_shape"] = tuple(kwargs["in_shape"])
    import torch

    state = torch.random.get_rng_state()
    try:
        again = _construct(cls, kwargs, reference)
    finally:
        torch.random.set_rng_state(state)  # rebuilding must not move the user's random stream
    mine = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in again.state_dict().items()}
    if mine != theirs:
        key = next((k for k in mine if theirs.get(k) != mine[k]), None) or \
            next(k for k in theirs if k not in mine)
        defaulted = [n for n in kwargs if not hasattr(model, n)]
        hint = (f"store {defaulted[0]} in __init__ as self.{defaulted[0]} = {defaulted[0]}"
                if defaulted else "make each self.<name> hold the constructor argument as given")
        raise DeepstartError(f"{name} rebuilt from its recorded arguments ({_shown(kwargs)}) has other "
                             f"weights than this instance ({key}: {theirs.get(key)} against "
                             f"{mine.get(key)}); {hint} (the scikit-learn convention), so the run "
                             "can be loaded again.")
    return source(reference, cls) | {"arguments": _recorded(kwargs)}


def _shown(kwargs: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items()) or "none"


def options_of(entry: dict) -> dict:
    """The recorded arguments that are options (what `--option` would pass)."""
    return {k: v for k, v in entry["arguments"].items() if k not in GIVEN}


def rebuild(entry: dict, json_path: Path):
    """The untrained model that model.json's "custom" entry describes: its file found and checked
    against the recorded sha256, imported (this runs the user's code), the class built again."""
    reference = entry.get("reference")
    if not isinstance(reference, str) or not is_reference(reference) or \
            not isinstance(entry.get("arguments"), dict):
        raise DeepstartError(f"{json_path}: its \"custom\" entry lacks the reference or arguments "
                             "of the model class; restore the file from a copy, or rerun the run.")
    path, module_name, cls_name = parse(reference)
    run_folder = json_path.parent
    if path is not None:
        file = _find_file(entry, run_folder)
        if file is None:
            looked = [str(p) for p in _candidates(entry, run_folder)]
            raise DeepstartError(f"{json_path}: the model's source file {entry.get('path')} is "
                                 f"missing (looked at {', '.join(dict.fromkeys(looked))}); put the "
                                 "file back where the run found it, or run the command from the "
                                 "folder the run was started in.")
        reference_now = f"{file}:{cls_name}"
    else:
        spec = importlib.util.find_spec(module_name.split(".")[0]) if module_name else None
        if spec is None:
            raise DeepstartError(f"{json_path}: the model's module {module_name} is not importable "
                                 "here; install it or add its folder to PYTHONPATH.")
        file, reference_now = None, reference
    recorded = entry.get("sha256")
    if file is not None and recorded and sha256_file(file) != recorded:
        raise DeepstartError(_changed(file, json_path))
    _warn_once(file or module_name, json_path)
    cls = load_class(reference_now)
    if file is None and recorded:
        found = _class_file(cls)
        if found is not None and sha256_file(found) != recorded:
            raise DeepstartError(_changed(found, json_path))
    kwargs = dict(entry["arguments"])
    if isinstance(kwargs.get("in_shape"), list):
        kwargs["in_shape"] = tuple(kwargs["in_shape"])
    model = _construct(cls, kwargs, reference)
    setattr(model, ATTRIBUTE, entry)
    return model


def _changed(file: Path, json_path: Path) -> str:
    return (f"{file} has changed since the run {json_path.parent} was trained (its sha256 differs "
            "from the one in model.json), so its weights may not fit the code; restore the file "
            "as it was (e.g. `git checkout` it), or train a new run with the file as it is now.")


def _candidates(entry: dict, run_folder: Path) -> list[Path]:
    out = []
    if entry.get("from_run_folder"):
        out.append(run_folder / entry["from_run_folder"])
    if entry.get("file"):
        out.append(Path(entry["file"]))
    if entry.get("working_folder") and entry.get("relative_path"):
        out.append(Path(entry["working_folder"]) / entry["relative_path"])
    if entry.get("path"):
        out.append(Path(entry["path"]))
    return out


def _find_file(entry: dict, run_folder: Path) -> Path | None:
    return next((p.resolve() for p in _candidates(entry, run_folder) if p.is_file()), None)


def _warn_once(what, json_path: Path) -> None:
    key = str(what)
    if key in _warned:
        return
    _warned.add(key)
    sys.stderr.write(f"deepstart: note: loading {json_path.parent} imports {what}, which runs that "
                     "code; load only runs whose code you trust.\n")


def saved_entry(model, folder: Path) -> dict | None:
    """describe(model) with the file's path relative to the run folder (the run and its code may
    move together)."""
    entry = describe(model)
    if entry is None:
        return None
    entry = dict(entry)
    if entry.get("file"):
        entry["from_run_folder"] = os.path.relpath(entry["file"], Path(folder).resolve())
    return entry


def paper_claim(cls, score: float | None = None) -> dict | None:
    """The published figures of the architecture: the class's `PAPER = {"params": 6.8e6, "score":
    0.937, "source": "..."}` (each key optional), with `score` (from --paper-score) on top."""
    import math

    stated = getattr(cls, "PAPER", None)
    if stated is None and score is None:
        return None
    if stated is not None and not isinstance(stated, dict):
        raise DeepstartError(f"{cls.__name__}.PAPER is {type(stated).__name__}; expected a dict "
                             'like {"params": 6.8e6, "score": 0.937, "source": "Author et al. '
                             'YEAR, Table N"}.')
    stated = dict(stated or {})
    unknown = sorted(set(stated) - {"params", "score", "source"})
    if unknown:
        raise DeepstartError(f"{cls.__name__}.PAPER has the key {unknown[0]!r}; expected only "
                             "params, score and source.")
    for key in ("params", "score"):
        value = stated.get(key)
        if value is not None and not (isinstance(value, (int, float)) and not isinstance(value, bool)
                                      and math.isfinite(value) and (key == "score" or value > 0)):
            raise DeepstartError(f"{cls.__name__}.PAPER[{key!r}] is {value!r}; expected a "
                                 f"{'positive ' if key == 'params' else ''}number.")
    if stated.get("source") is not None and not isinstance(stated["source"], str):
        raise DeepstartError(f"{cls.__name__}.PAPER['source'] must be text naming the paper.")
    claim = {"params": stated.get("params"), "score": stated.get("score"),
             "source": stated.get("source"), "from": f"{cls.__name__}.PAPER" if stated else None}
    if score is not None:
        claim["score"] = score
        claim["from"] = (claim["from"] + ", score from --paper-score") if claim["from"] \
            else "--paper-score"
    return claim


def paper_line(paper: dict, parameters: int, value: float, metric: str) -> str:
    """'your implementation: 6.6M parameters (paper 6.8M), 0.934 (paper 0.937); source: ...'."""
    from deepstart.summary import short_count

    fmt = (lambda v: f"{v:.4f}") if metric == "accuracy" else (lambda v: f"{v:.2f}")
    params = f"{short_count(parameters)} parameters"
    if paper.get("params"):
        params += f" (paper {short_count(paper['params'])})"
    score = f"test {metric} {fmt(value)}"
    if paper.get("score") is not None:
        score += f" (paper {fmt(paper['score'])})"
    source = paper.get("source") or f"source not stated (from {paper.get('from')})"
    return f"your implementation: {params}, {score}; paper: {source}"


def result_lines(metrics: dict) -> tuple[str | None, str | None]:
    """(the size line, the paper line) that the run's output and its report print, from
    metrics.json: None where the run recorded no size, or no paper."""
    size, paper = metrics.get("model_size"), metrics.get("paper")
    if not size:
        return None, None
    metric = metrics["metric"]
    return size_line(size), (paper_line(paper, size["parameters"], metrics["test"][metric], metric)
                             if paper else None)


def size_line(size: dict) -> str:
    """'model: 1.21K parameters, 2.37K FLOPs per sample (counted by ...)'."""
    from deepstart.summary import short_count

    hidden = size.get("flops_not_counted")
    one = f"a text of {size['text_length']} tokens" if size.get("text_length") else "one input"
    flops = (f"{short_count(size['flops_per_sample'])} FLOPs per sample (torch's FlopCounterMode "
             f"on {one}; embedding lookups and their averaging are not counted; a multiply-add "
             "is 2 FLOPs)"
             if size.get("flops_per_sample") and size.get("text_length") else
             f"{short_count(size['flops_per_sample'])} FLOPs per sample (torch's FlopCounterMode "
             "on one input; a multiply-add is 2 FLOPs)" if size.get("flops_per_sample") else
             f"FLOPs not counted (torch's FlopCounterMode does not see inside {', '.join(hidden)})"
             if hidden else "FLOPs not counted (none of its operations are ones torch's "
             "FlopCounterMode counts)")
    return f"model: {short_count(size['parameters'])} parameters, {flops}"
