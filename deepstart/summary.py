"""Understand a model: a summary table (layer, output shape, parameters), and for small networks a
drawing in the course's style (inputs, weighted connections, units, activation).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from deepstart.errors import DeepstartError

MAX_DRAWN_UNITS = 16  # wider layers would be a grey smear, not a picture


@dataclass
class LayerRow:
    name: str
    kind: str
    output_shape: tuple[int, ...]
    parameters: int


def summary(model: nn.Module, input_shape: tuple[int, ...]) -> list[LayerRow]:
    """One row per leaf module, in the order the forward pass runs them, with the shape of its
    output for one sample (found by running a batch of two zero inputs)."""
    from deepstart.models.tta import FlipAverage

    if isinstance(model, FlipAverage):  # the layers of the net, not of its two passes
        model = model.net
    rows: list[LayerRow] = []
    names = {m: n for n, m in model.named_modules()}
    hooks = []

    def record(module, _inputs, output):
        shape = tuple(output.shape[1:]) if torch.is_tensor(output) else ()
        params = sum(p.numel() for p in module.parameters(recurse=False))
        rows.append(LayerRow(names.get(module, "?"), _kind(module), shape, params))

    for module in model.modules():
        if not list(module.children()):
            hooks.append(module.register_forward_hook(record))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(2, *input_shape))
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    return rows


def _kind(module: nn.Module) -> str:
    """The layer's type as a reader knows it: a private helper class names what it does."""
    name = type(module).__name__
    return getattr(module, "shown_as", None) or (name.lstrip("_") if name.startswith("_") else name)


def print_summary(model: nn.Module, input_shape: tuple[int, ...], title: str = "") -> None:
    from rich.table import Table

    from deepstart.console import console

    table = Table(title=title or type(model).__name__, title_justify="left")
    for column, justify in (("layer", "left"), ("type", "left"), ("output shape", "right"),
                            ("parameters", "right")):
        table.add_column(column, justify=justify)
    table.add_row("input", "", str(tuple(input_shape)), "")
    for row in summary(model, input_shape):
        table.add_row(row.name, row.kind, str(row.output_shape), f"{row.parameters:,}")
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    console.print(table)
    console.print(f"{total:,} parameters ({trainable:,} trainable)")


def _dense_layers(model: nn.Module) -> list[tuple[nn.Linear, str]]:
    """The linear layers in order, each with the name of the activation after it."""
    layers: list[tuple[nn.Linear, str]] = []
    for module in model.modules():
        if isinstance(module, nn.Linear):
            layers.append((module, "identity"))
        elif layers and not list(module.children()) and not isinstance(
                module, (nn.Flatten, nn.Dropout, nn.BatchNorm1d)):
            layers[-1] = (layers[-1][0], type(module).__name__.lower())
    return layers


def why_not_neurons(model: nn.Module) -> str | None:
    """Why the course's drawing cannot show this model, or None when it can."""
    layers = _dense_layers(model)
    if not layers or any(not isinstance(m, (nn.Linear, nn.Flatten, nn.Dropout, nn.BatchNorm1d))
                         and not list(m.children()) and not _is_activation(m)
                         for m in model.modules()):
        return ("only networks of linear layers (perceptron, linear, logistic, a small mlp) can be "
                "drawn as neurons; --style graph draws any model.")
    widths = [layers[0][0].in_features] + [lin.out_features for lin, _ in layers]
    if max(widths) > MAX_DRAWN_UNITS:
        return (f"a layer of {max(widths)} units is too wide to draw as neurons (at most "
                f"{MAX_DRAWN_UNITS}); try a smaller model, e.g. --hidden 8, or --style graph.")
    return None


def _is_activation(module: nn.Module) -> bool:
    """An element-wise activation: torch's own, or the zoo's (step, identity)."""
    return type(module).__module__ in ("torch.nn.modules.activation", "deepstart.models.activations") \
        or isinstance(module, nn.Identity)


def draw_network(model: nn.Module, path: str | Path, input_names: tuple[str, ...] = ()) -> Path:
    """The network as the course draws it (see `neuron_figure`), written to a PNG, SVG or PDF."""
    import matplotlib.pyplot as plt

    from deepstart.files import atomic_path

    fmt = Path(path).suffix.lstrip(".").lower()
    if fmt not in ("png", "svg", "pdf"):
        raise DeepstartError(f"cannot draw to '{path}': use a .png, .svg or .pdf file name.")
    fig = neuron_figure(model, input_names)
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path


def neuron_figure(model: nn.Module, input_names: tuple[str, ...] = ()):
    """The network as the course draws it: a column of circles per layer, every connection a line
    (blue positive, red negative, thicker for larger weights, as the legend says), each column
    captioned with its size and activation. Only for stacks of linear layers of at most 16 units
    each. Captions sit in a row above the tallest column and input names left of the inputs, where
    no connection runs."""
    from deepstart.console import offscreen_figures

    offscreen_figures()
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    problem = why_not_neurons(model)
    if problem:
        raise DeepstartError(problem)
    layers = _dense_layers(model)
    widths = [layers[0][0].in_features] + [lin.out_features for lin, _ in layers]
    fig, ax = plt.subplots(figsize=(1.6 * len(widths) + 1.5, 0.45 * max(widths) + 1.6),
                           constrained_layout=True)
    ys = [[((w - 1) / 2 - i) for i in range(w)] for w in widths]  # first unit on top
    xs = [2.0 * col for col in range(len(widths))]  # room between columns for two-line captions
    top = (max(widths) - 1) / 2  # no connection runs above the tallest column's first unit
    biggest = max(float(lin.weight.detach().abs().max()) for lin, _ in layers) or 1.0
    for col, (lin, _) in enumerate(layers):
        weight = lin.weight.detach().cpu()
        for j, y_out in enumerate(ys[col + 1]):
            for i, y_in in enumerate(ys[col]):
                w = float(weight[j, i])
                ax.plot([xs[col], xs[col + 1]], [y_in, y_out], lw=0.3 + 2.5 * abs(w) / biggest,
                        color="tab:blue" if w >= 0 else "tab:red", alpha=0.7, zorder=1)
    for col, w in enumerate(widths):
        act = "input" if col == 0 else layers[col - 1][1]
        for i, y in enumerate(ys[col]):
            ax.add_patch(plt.Circle((xs[col], y), 0.18, color="white", ec="black", zorder=2))
            label = input_names[i] if col == 0 and i < len(input_names) else ""
            if label:
                ax.text(xs[col] - 0.25, y, label, ha="right", va="center", fontsize=8)
        caption = "inputs" if col == 0 else ("output" if col == len(widths) - 1 else f"hidden {col}")
        ax.text(xs[col], top + 0.45, f"{caption}\n({w}, {act})", ha="center", va="bottom",
                fontsize=9)
    ax.set_xlim(-1.5, xs[-1] + 1)
    ax.set_ylim(-max(widths) / 2 - 0.3, top + 1.5)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.legend(handles=[Line2D([], [], color="tab:blue", lw=1.5, label="positive weight"),
                        Line2D([], [], color="tab:red", lw=1.5, label="negative weight"),
                        Line2D([], [], color="grey", lw=2.8, label="thicker: larger |weight|")],
               loc="outside lower center", ncol=3, frameon=False, fontsize=8)
    return fig


# --- The layer graph: any model, as Keras' plot_model draws it -------------------------------------
# The graph is written as DOT text here and laid out by Graphviz's `dot` program. Both PyPI wrappers
# (`graphviz`, `pydot`) do exactly that and still need the program; writing ~30 lines of DOT
# ourselves saves a dependency and its version pins, and quoting labels is the only subtle part.
GRAPH_FORMATS = ("png", "svg", "pdf", "dot")
GRAPHVIZ_HINT = ("drawing a layer graph needs Graphviz's `dot` program, which is not installed; "
                 "install the graphviz package (apt-get install graphviz, brew install graphviz or "
                 "conda install graphviz), or write the graph as text with --draw FILE.dot.")
_PASS_THROUGH = (nn.Identity,)  # drawn as the edge they pass on, not as a box


@dataclass
class GraphOp:
    """One step of the forward pass: a layer (a module called as a whole) or a tensor function
    called between layers (add, cat, flatten). `inputs` are (key of the producing op, the tensor's
    shape for one sample); `scope` is the module whose forward ran it, so that runs of layers are
    merged only inside one container."""
    key: str
    name: str
    kind: str
    scope: str
    inputs: list[tuple[str, tuple]]
    layer: bool = False
    whole: bool = False  # a module with children, drawn as one box because of the depth limit


@dataclass
class LayerGraph:
    nodes: list[list[GraphOp]]  # each: one op, or a chain of ops drawn as one box
    titles: list[str]           # each node's module path
    traced_by: str              # "torch.fx", or "one recorded forward pass" where fx could not


def _sample_shape(shape, batch: int) -> tuple:
    """One sample's shape: the batch dimension dropped where it is the first one."""
    shape = tuple(int(s) for s in shape)
    return shape[1:] if shape and shape[0] == batch else shape


def _layer_kind(module: nn.Module) -> str:
    kind = _kind(module)
    size = getattr(module, "kernel_size", None)
    if isinstance(size, int):  # MaxPool2d(3) keeps an int: as many sides as the name says
        size = (size,) * next((d for d in (3, 2) if f"{d}d" in type(module).__name__), 1)
    if size and isinstance(size, tuple):
        kind += " " + "×".join(str(s) for s in size)
        stride = getattr(module, "stride", 1)
        stride = stride if isinstance(stride, int) else max(stride)
        if stride > 1:
            kind += f" /{stride}"
    if isinstance(module, nn.Dropout):
        kind += f" {module.p:g}"
    return kind


def _function_kind(func) -> str:
    name = func if isinstance(func, str) else getattr(func, "__name__", str(func))
    name = name.strip("_") or name
    return "index" if name == "getitem" else name  # x[:, -1] reads as indexing, not a dunder


def _fx_ops(model: nn.Module, x: torch.Tensor, depth: int | None) -> list[GraphOp]:
    """The graph torch.fx traces symbolically, with each node's output shape from one forward pass
    through it. Raises whatever fx raises on code it cannot trace (control flow on tensor values)."""
    import operator

    from torch import fx

    class Tracer(fx.Tracer):
        def is_leaf_module(self, m, qualname):
            deep = depth is not None and qualname.count(".") + 1 >= depth
            return super().is_leaf_module(m, qualname) or deep

    graph = Tracer().trace(model)
    module = fx.GraphModule(model, graph)
    shapes: dict[str, tuple | None] = {}  # node -> one sample's shape; None: not a tensor

    class Shapes(fx.Interpreter):  # fx's ShapeProp, less its printing of tracebacks
        def run_node(self, n):
            out = super().run_node(n)
            shapes[n.name] = _sample_shape(out.shape, x.shape[0]) if torch.is_tensor(out) else None
            return out

    Shapes(module).run(x)
    ops: list[GraphOp] = []
    alias: dict[str, str] = {}  # a dropped node -> the op whose output it passes on

    for node in graph.nodes:
        inputs = [(alias.get(n.name, n.name), shapes[n.name]) for n in node.all_input_nodes
                  if n.op != "get_attr" and shapes.get(n.name) is not None]
        stack = list(node.meta.get("nn_module_stack", {}).values())
        if node.op == "placeholder":
            ops.append(GraphOp(node.name, "input", "input", "", []))
        elif node.op == "output":
            ops.append(GraphOp("output", "output", "output", "", inputs))
        elif node.op == "call_module":
            sub = module.get_submodule(node.target)
            if isinstance(sub, _PASS_THROUGH) and len(inputs) == 1:
                alias[node.name] = inputs[0][0]
                continue
            scope = node.target.rpartition(".")[0]
            ops.append(GraphOp(node.name, node.target, _layer_kind(sub), scope, inputs, layer=True,
                               whole=bool(list(sub.children()))))
        elif node.op in ("call_function", "call_method"):
            source = node.all_input_nodes[0].name if node.all_input_nodes else ""
            if node.target is operator.getitem and shapes.get(source, ()) is None:
                alias[node.name] = alias.get(source, source)
                continue  # one element of a tuple (an LSTM's output): the edge carries its shape
            if inputs:  # not sizes or constants
                kind = _function_kind(node.target)
                ops.append(GraphOp(node.name, kind, kind, stack[-1][0] if stack else "", inputs))
    return ops


def _recorded_ops(model: nn.Module, x: torch.Tensor, depth: int | None) -> list[GraphOp]:
    """The graph of one real forward pass, for code torch.fx cannot trace: forward hooks record
    each layer's input and output tensors, a TorchFunctionMode the tensor functions called between
    layers; a tensor's identity links the op that made it to the ops that read it."""
    from torch.overrides import TorchFunctionMode
    from torch.utils._pytree import tree_leaves

    batch = x.shape[0]
    names = {m: n for n, m in model.named_modules()}
    made: dict[int, str] = {id(x): "input"}
    alive = [x]  # every tensor seen stays referenced, so that no id() is reused during the pass
    ops = [GraphOp("input", "input", "input", "", [])]
    stack: list[tuple[str, bool, list]] = []  # (module name, drawn as one op, its inputs)

    def tensor_inputs(args) -> list[tuple[str, tuple]]:
        found = []
        for t in tree_leaves(args):
            if torch.is_tensor(t) and id(t) in made and made[id(t)] not in [k for k, _ in found]:
                found.append((made[id(t)], _sample_shape(t.shape, batch)))
        return found

    def record(name, kind, scope, inputs, output, layer, whole=False) -> None:
        outputs = [t for t in tree_leaves(output) if torch.is_tensor(t)]
        if not inputs or not outputs:
            return  # a constant (zeros for an initial state), or not a tensor
        key = f"op{len(ops)}"
        ops.append(GraphOp(key, name, kind, scope, inputs, layer, whole))
        for t in outputs:
            made[id(t)] = key
            alive.append(t)

    def is_layer(module, name) -> bool:
        deep = depth is not None and name.count(".") + 1 >= depth
        return bool(name) and (not list(module.children()) or deep)

    class Mode(TorchFunctionMode):
        paused = False

        def __torch_function__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if not self.paused and not any(drawn for _, drawn, _ in stack):
                kind = _function_kind(func)
                record(kind, kind, stack[-1][0] if stack else "", tensor_inputs((args, kwargs)),
                       out, False)
            return out

    mode = Mode()

    def before(module, args):
        mode.paused = True
        name = names.get(module, "?")
        drawn = not any(d for _, d, _ in stack) and is_layer(module, name)
        stack.append((name, drawn, tensor_inputs(args) if drawn else []))
        mode.paused = False

    def after(module, args, output):
        mode.paused = True
        name, drawn, inputs = stack.pop()
        if drawn and isinstance(module, _PASS_THROUGH) and len(inputs) == 1:
            for t in tree_leaves(output):
                if torch.is_tensor(t):
                    made[id(t)] = inputs[0][0]
        elif drawn:
            record(name, _layer_kind(module), name.rpartition(".")[0], inputs, output, True,
                   bool(list(module.children())))
        mode.paused = False

    hooks = [h for m in model.modules() for h in (m.register_forward_pre_hook(before),
                                                   m.register_forward_hook(after))]
    try:
        with mode:
            out = model(x)
    finally:
        for h in hooks:
            h.remove()
    ops.append(GraphOp("output", "output", "output", "", tensor_inputs(out)))
    return ops


def _container(scope: str) -> str:
    """The container a scope belongs to, Sequential indices dropped: blocks.3a.branch3.1 and
    blocks.3a.branch3.0 are both in blocks.3a.branch3."""
    parts = scope.split(".") if scope else []
    while parts and parts[-1].isdigit():
        parts.pop()
    return ".".join(parts)


def _merge_chains(ops: list[GraphOp]) -> list[list[GraphOp]]:
    """Nodes to draw: ops feeding the output, and runs of ops with one way in and one way out
    inside the same container (conv, norm, activation) merged into one box, so that a ResNet-20
    stays a page of 24 boxes while its branches and joins stay edges. A module drawn whole because
    of the depth limit stays a box of its own."""
    by_key = {op.key: op for op in ops}
    needed, todo = set(), ["output"]
    while todo:  # what the output depends on (not shape arithmetic, not a discarded branch)
        key = todo.pop()
        if key in by_key and key not in needed:
            needed.add(key)
            todo += [k for k, _ in by_key[key].inputs]
    ops = [op for op in ops if op.key in needed]
    readers: dict[str, int] = {}
    for op in ops:
        for k, _ in op.inputs:
            readers[k] = readers.get(k, 0) + 1
    nodes: list[list[GraphOp]] = []
    tail: dict[str, list[GraphOp]] = {}  # key of a chain's last op -> the chain
    for op in ops:
        src = op.inputs[0][0] if len(op.inputs) == 1 else None
        chain = tail.get(src)
        if (chain and readers.get(src) == 1 and not op.whole and not chain[-1].whole
                and _container(chain[-1].scope) == _container(op.scope)
                and op.kind != "output" and chain[-1].kind != "input"):
            chain.append(op)
            del tail[src]
        else:
            chain = [op]
            nodes.append(chain)
        tail[op.key] = chain
    return nodes


def _title(chain: list[GraphOp], leaves: dict[str, int], root: str) -> str:
    """What a box is called: the module path its ops share, or a range of a container's children
    (features.0-2) when they are only part of it."""
    layers = [op for op in chain if op.layer]
    if len(layers) == 1:
        return layers[0].name
    # named by its layers where it has some (flatten > fc1 > relu is fc1), else by where it runs
    paths = ([op.name.split(".") for op in layers] if layers else
             [op.scope.split(".") if op.scope else [] for op in chain])
    common: list[str] = []
    for parts in zip(*paths):
        if len(set(parts)) > 1:
            break
        common.append(parts[0])
    prefix = ".".join(common)
    first, last = (p[len(common)] if len(p) > len(common) else "" for p in (paths[0], paths[-1]))
    if layers and len(layers) < leaves.get(prefix, 0) and first and last and first != last:
        return f"{prefix + '.' if prefix else ''}{first}–{last}"
    return prefix or root


def layer_graph(model: nn.Module, input_shape: tuple[int, ...], depth: int | None = None) -> LayerGraph:
    """The model's data flow for inputs of `input_shape` (one sample): traced by torch.fx, or, where
    fx cannot trace the code, recorded from one forward pass. `depth` draws modules nested deeper
    than that many levels as one box each (1: the model's direct children). The model runs as it
    predicts (eval mode), so GoogLeNet's training-only auxiliary classifiers are not drawn."""
    from deepstart.models.tta import FlipAverage

    if isinstance(model, FlipAverage):  # the net, not its two passes
        model = model.net
    if depth is not None and depth < 1:
        raise DeepstartError(f"the drawing depth counts nesting levels from 1; received {depth}.")
    params = next(model.parameters(), None)
    x = torch.zeros(2, *input_shape, device=params.device if params is not None else "cpu")
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            try:
                ops, traced_by = _fx_ops(model, x, depth), "torch.fx"
            except Exception:  # fx's TraceError, and whatever a user's code does with a Proxy
                traced_by = "one recorded forward pass"
                try:
                    ops = _recorded_ops(model, x, depth)
                except Exception as error:  # the model's own forward fails: say so in one line
                    first = (str(error).strip().splitlines() or [""])[0]
                    raise DeepstartError(
                        f"{type(model).__name__}'s forward pass failed on a batch of shape "
                        f"{tuple(x.shape)}, so it cannot be drawn: {type(error).__name__}: "
                        f"{first}") from error
    finally:
        model.train(was_training)
    nodes = _merge_chains(ops)
    leaves: dict[str, int] = {}  # module path -> how many layers it holds (to name partial runs)
    for name, module in model.named_modules():
        if name and not list(module.children()):
            parts = name.split(".")
            for i in range(len(parts)):
                leaves[".".join(parts[:i])] = leaves.get(".".join(parts[:i]), 0) + 1
    root = type(model).__name__
    return LayerGraph(nodes, [_title(chain, leaves, root) for chain in nodes], traced_by)


def _dot_text(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _shape_text(shape: tuple) -> str:
    return "×".join(str(s) for s in shape) if shape else "scalar"


def graph_dot(graph: LayerGraph, title: str = "", page: bool = False) -> str:
    """The graph as DOT text: a box per layer (or run of layers), an ellipse per join, the tensor
    shape (one sample) on every edge. `page` scales it down to an A4 page."""
    size = 'size="7.5,10.8", ' if page else ""  # A4 less margins, in inches
    lines = ["digraph model {",
             f"  graph [{size}rankdir=TB, nodesep=0.2, ranksep=0.25, fontname=Helvetica, "
             f"fontsize=11, labelloc=t, label={_dot_text(title)}];",
             '  node [shape=box, style="rounded,filled", fillcolor="#e8eef8", color="#6b7d99", '
             'fontname=Helvetica, fontsize=9, height=0.3, margin="0.08,0.03"];',
             '  edge [fontname=Helvetica, fontsize=8, color="#555555", arrowsize=0.6];']
    node_of = {op.key: f"n{i}" for i, chain in enumerate(graph.nodes) for op in chain}
    for i, (chain, name) in enumerate(zip(graph.nodes, graph.titles)):
        first = chain[0]
        if first.kind in ("input", "output"):
            lines.append(f'  n{i} [label={_dot_text(first.kind)}, shape=oval, fillcolor="#fdf1d8"];')
            continue
        label = f"{name}\n" + _wrapped(" › ".join(op.kind for op in chain), 36)
        shape = ', shape=ellipse, fillcolor="#f4e1e1"' if len(first.inputs) > 1 else ""
        lines.append(f"  n{i} [label={_dot_text(label)}{shape}];")
    for i, chain in enumerate(graph.nodes):
        for key, shape in chain[0].inputs:
            lines.append(f"  {node_of[key]} -> n{i} [label={_dot_text(' ' + _shape_text(shape))}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _wrapped(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width, break_on_hyphens=False)) or text


def draw_graph(model: nn.Module, input_shape: tuple[int, ...], path: str | Path, title: str = "",
               depth: int | None = None) -> tuple[LayerGraph, str]:
    """Draw the layer graph to `path`: PNG, SVG or PDF by the extension (laid out by Graphviz's
    `dot`), or the DOT text itself for a .dot file. Returns the graph and how it was sized: a
    graph up to twice an A4 page is scaled to one, a bigger one keeps its size (scaled further its
    text could not be read) and is named for --depth."""
    import shutil

    from deepstart.files import atomic_path

    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in GRAPH_FORMATS:
        raise DeepstartError(f"cannot draw to '{path}': use a .png, .svg, .pdf or .dot file name.")
    dot = shutil.which("dot")
    if fmt != "dot" and dot is None:
        raise DeepstartError(GRAPHVIZ_HINT)
    graph = layer_graph(model, input_shape, depth)
    text = graph_dot(graph, title)
    sizing = "laid out for Graphviz"
    if dot is not None:
        # `plain` output starts "graph SCALE WIDTH HEIGHT" (inches): the natural size
        width, height = (float(v) for v in _dot(dot, "plain", text).split()[2:4])
        scale = min(7.5 / width, 10.8 / height)
        if scale >= 1:
            sizing = f"{width:.1f} x {height:.1f} in, fits an A4 page"
        elif scale >= 0.5:
            text, sizing = graph_dot(graph, title, page=True), f"scaled by {scale:.2f} to an A4 page"
        else:
            sizing = (f"{width:.1f} x {height:.1f} in, {1 / scale:.1f} A4 pages; --depth N draws "
                      "modules nested deeper than N as one box each")
    with atomic_path(path) as tmp:
        if fmt == "dot":
            tmp.write_text(text, encoding="utf-8")
        else:
            _dot(dot, fmt, text, tmp)
    return graph, sizing


def _dot(dot: str, fmt: str, text: str, out: Path | None = None) -> str:
    """Run Graphviz's dot on DOT text: to a file, or return its output as text."""
    import subprocess

    extra = ["-Gdpi=150"] if fmt == "png" else []  # a page-sized PNG sharp enough to read
    done = subprocess.run([dot, f"-T{fmt}", *extra, *(["-o", str(out)] if out else [])],
                          input=text.encode(), capture_output=True, timeout=300)
    if done.returncode:
        error = done.stderr.decode(errors="replace").strip().splitlines()
        raise DeepstartError("Graphviz's dot could not draw the graph: "
                             f"{error[0] if error else 'exit ' + str(done.returncode)}")
    return done.stdout.decode(errors="replace")


FLOPS_COUNTED = ("torch.utils.flop_counter.FlopCounterMode on one input: matrix multiplies, "
                 "convolutions and attention, a multiply-add counted as 2 FLOPs")


def model_size(model: nn.Module, input_shape: tuple[int, ...], device="cpu") -> dict:
    """Parameters and FLOPs per sample (one forward pass of a zero input, in eval mode). FLOPs are
    None where the counter sees none of the model's work (a fused LSTM kernel is outside it)."""
    from torch.utils.flop_counter import FlopCounterMode

    parameters = sum(p.numel() for p in model.parameters())
    was_training = model.training
    model.eval()
    x = torch.zeros(1, *input_shape, device=device)
    config = getattr(model, "config", None)
    text_length = getattr(config, "text_length", None) or 0
    if text_length:  # all padding would be trimmed to nothing: count a text of L tokens
        x[:, config.text_start:config.text_start + text_length] = 1.0  # [UNK], any word
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
    finally:
        model.train(was_training)
    flops = int(counter.get_total_flops())
    # the fused recurrent kernels are one opaque op to the counter: a total without them would
    # be the head's FLOPs alone, so none is given
    hidden = sorted({type(m).__name__ for m in model.modules() if isinstance(m, nn.RNNBase)})
    if text_length and not hidden and any(isinstance(m, (nn.Embedding, nn.EmbeddingBag))
                                          for m in model.modules()):
        hidden = ["embedding lookups"] if not flops else []
    return {"parameters": int(parameters), "flops_per_sample": (flops or None) if not hidden else None,
            "flops_not_counted": hidden, "input_shape": list(input_shape),
            "text_length": text_length or None,
            "flops_counted_by": FLOPS_COUNTED}


def short_count(n: float) -> str:
    """6.6M, 412K, 1.2G: a count as a paper states it."""
    for size, unit in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= size:
            return f"{n / size:.3g}{unit}" if n / size < 100 else f"{n / size:.0f}{unit}"
    return f"{n:g}"
