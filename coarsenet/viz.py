"""Looking at networks: a layer table (print_summary), a graphviz graph (plot_network) and
the planned memory of executors over their schedule (plot_memory)."""
from __future__ import annotations

import json

import numpy as np


def _graph(symbol):
    nodes = json.loads(symbol.tojson())["nodes"]
    return nodes


def _output_shapes(symbol, shapes: dict) -> dict:
    """name of each internal output -> its shape."""
    internals = symbol.get_internals()
    _, out_shapes, _ = internals.infer_shape(**shapes)
    return dict(zip(internals.list_outputs(), out_shapes))


def print_summary(symbol, shape: dict | None = None, line_length: int = 100,
                  print_fn=print) -> int:
    """Prints one row per op (name, op, output shape, parameter count, inputs) and the totals.
    `shape` maps input names to shapes. Returns the total number of parameters."""
    shape = dict(shape or {})
    nodes = _graph(symbol)
    out_shapes = _output_shapes(symbol, shape)
    arg_shapes = dict(zip(symbol.list_arguments(), symbol.infer_shape(**shape)[0]))
    inputs = set(shape)
    columns = [("Layer (op)", 0.35), ("Output shape", 0.22), ("Params", 0.13), ("Inputs", 0.30)]

    def row(values):
        text = ""
        for value, (_, fraction) in zip(values, columns):
            width = int(line_length * fraction)
            text = (text + str(value))[: len(text) + width - 1].ljust(len(text) + width)
        print_fn(text.rstrip())

    print_fn("_" * line_length)
    row([c for c, _ in columns])
    print_fn("=" * line_length)
    total = 0
    for node in nodes:
        if node["op"] == "null":
            continue
        params, sources = 0, []
        for src, *_ in node["inputs"]:
            src_node = nodes[src]
            if src_node["op"] == "null":
                name = src_node["name"]
                if name in arg_shapes and name not in inputs and not name.endswith("_label"):
                    params += int(np.prod(arg_shapes[name]))
            else:
                sources.append(src_node["name"])
        total += params
        key = f"{node['name']}_output"
        out = out_shapes.get(key, out_shapes.get(f"{node['name']}_output0", ""))
        row([f"{node['name']} ({node['op']})", out, params, ", ".join(sources)])
    print_fn("=" * line_length)
    print_fn(f"Total params: {total}")
    print_fn("_" * line_length)
    return total


_WEIGHT_LIKE = ("_weight", "_bias", "_beta", "_gamma", "_moving_var", "_moving_mean",
                "_running_var", "_running_mean")
# MXNet's node colours: inputs, conv/fc, activations, batchnorm, pooling, reshaping, softmax,
# everything else.
_COLOURS = ("#8dd3c7", "#fb8072", "#ffffb3", "#bebada", "#80b1d3", "#fdb462", "#b3de69",
            "#fccde5")


def _tuple_text(text) -> str:
    return "x".join(p.strip() for p in str(text).strip("()[] ").split(",") if p.strip())


def _node_look(node) -> tuple[str, int, str]:
    """(label, colour index, shape) of a node as MXNet's plot_network draws it."""
    op, name, attrs = node["op"], node["name"], node.get("attrs", {})
    if op == "null":
        return name, 0, "oval"
    if op == "Convolution":
        stride = _tuple_text(attrs["stride"]) if "stride" in attrs else "1"
        return f"Convolution\n{_tuple_text(attrs['kernel'])}/{stride}, {attrs['num_filter']}", \
            1, "box"
    if op == "FullyConnected":
        return f"FullyConnected\n{attrs['num_hidden']}", 1, "box"
    if op in ("Activation", "LeakyReLU"):
        return f"{op}\n{attrs.get('act_type', 'Leaky' if op == 'LeakyReLU' else '')}", 2, "box"
    if op == "BatchNorm":
        return name, 3, "box"
    if op == "Pooling":
        kernel = _tuple_text(attrs["kernel"]) if "kernel" in attrs else "[]"
        stride = _tuple_text(attrs["stride"]) if "stride" in attrs else "1"
        return f"Pooling\n{attrs.get('pool_type', 'max')}, {kernel}/{stride}", 4, "box"
    if op in ("Concat", "Flatten", "Reshape", "concat", "flatten", "reshape"):  # with aliases
        return name, 5, "box"
    if op == "Softmax":
        return name, 6, "box"
    return (attrs["op_type"] if op == "Custom" else name), 7, "box"


def plot_network(symbol, title: str = "plot", save_format: str = "pdf", shape: dict | None = None,
                 dtype: dict | None = None, node_attrs: dict | None = None,
                 hide_weights: bool = True):
    """The network as MXNet draws it: a graphviz.Digraph when the graphviz package is
    installed (`.render()` draws it with Graphviz's `dot`), else the same graph's dot text.
    Nodes are named after the graph's nodes, labelled with the op and its main parameters;
    weight-like inputs are hidden (hide_weights); with `shape`, each edge is labelled with the
    tensor's shape without the batch axis, and with `dtype` its type."""
    nodes = _graph(symbol)
    shapes = _output_shapes(symbol, shape) if shape else {}
    types = {}
    if dtype:
        internals = symbol.get_internals()
        _, out_types, _ = internals.infer_type(**dtype)
        types = dict(zip(internals.list_outputs(), out_types))
    base = {"shape": "box", "fixedsize": "true", "width": "1.3", "height": "0.8034",
            "style": "filled", **(node_attrs or {})}
    hidden = set()
    vertices = []  # (name, label, attributes)
    for node in nodes:
        if node["op"] == "null" and node["name"].endswith(_WEIGHT_LIKE):
            if hide_weights:
                hidden.add(node["name"])
            continue
        label, colour, form = _node_look(node)
        attrs = dict(base, fillcolor=_COLOURS[colour])
        if form == "oval":
            attrs["shape"] = "oval"
        vertices.append((node["name"], label, attrs))
    edges = []  # (op name, input name, attributes): drawn from the op back to its input
    for node in nodes:
        if node["op"] == "null":
            continue
        for src, index, *_ in node["inputs"]:
            source = nodes[src]
            if source["name"] in hidden:
                continue
            key = source["name"]
            if source["op"] != "null":
                n_out = int(source.get("attrs", {}).get("num_outputs", 1))
                key += "_output" + (str(n_out - 1) if "num_outputs" in source.get("attrs", {})
                                    else "")
            label = ""
            if shape and shapes.get(key) is not None:
                label = "x".join(str(d) for d in shapes[key][1:])
            if dtype and types.get(key) is not None:
                label += ("\n" if label else "") + np.dtype(types[key]).name
            edges.append((node["name"], source["name"],
                          {"dir": "back", "arrowtail": "open", "label": label}))
    try:
        from graphviz import Digraph
    except ImportError:
        return _dot_text(title, vertices, edges)
    dot = Digraph(name=title, format=save_format)
    for name, label, attrs in vertices:
        dot.node(name=name, label=label, **attrs)
    for head, tail, attrs in edges:
        dot.edge(tail_name=head, head_name=tail, **attrs)
    return dot


def _dot_text(title, vertices, edges) -> str:
    """The same graph as dot source, when the graphviz package is missing."""
    def q(text):
        return '"' + str(text).replace('"', '\\"').replace("\n", "\\n") + '"'

    def attr_list(attrs):
        return ", ".join(f"{k}={q(v)}" for k, v in attrs.items())

    lines = [f"digraph {q(title)} {{"]
    lines += [f"  {q(name)} [label={q(label)}, {attr_list(attrs)}];"
              for name, label, attrs in vertices]
    lines += [f"  {q(head)} -> {q(tail)} [{attr_list(attrs)}];" for head, tail, attrs in edges]
    lines.append("}")
    return "\n".join(lines)


def plot_memory(executors, path: str, labels=None, title: str = "Planned live memory") -> str:
    """Draws the live arena bytes over the schedule of each executor, side by side (shared y
    axis), with the forward part shaded and recomputation steps marked; saves a PNG at `path`.
    The curve is the planner's own liveness data (plan_memory.live_bytes_per_step), so it shows
    the plan, not a measurement. Needs matplotlib (optional dependency)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        from .base import CoarsenetError

        raise CoarsenetError("plot_memory needs matplotlib: pip install matplotlib") from None
    from .passes.plan_memory import live_bytes_per_step

    executors = list(executors)
    labels = list(labels) if labels is not None else [f"plan {i}" for i in
                                                      range(len(executors))]
    fig, axes = plt.subplots(1, len(executors), figsize=(4.2 * len(executors), 3.6),
                             sharey=True, squeeze=False)
    mib = 1024.0 * 1024.0
    for ax, exe, label in zip(axes[0], executors, labels):
        sched = exe._sched
        live = np.asarray(live_bytes_per_step(exe._plan, sched)) / mib
        steps = np.arange(len(live))
        ax.axvspan(-0.5, sched.num_forward - 0.5, color="0.92", label="forward")
        ax.plot(steps, live, color="tab:blue", lw=1.2, label="live bytes")
        recompute = [k for k, n in enumerate(sched.order) if getattr(n, "is_recompute", False)]
        if recompute:
            ax.scatter(recompute, live[recompute], s=6, color="tab:red", zorder=3,
                       label="recompute")
        ax.axhline(exe._plan.arena_bytes / mib, color="tab:blue", ls=":", lw=1,
                   label="arena")
        ax.set_title(f"{label}\narena {exe._plan.arena_bytes / mib:.1f} MiB", fontsize=9)
        ax.set_xlabel("schedule step (forward | backward)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("MiB live")
    axes[0][-1].legend(fontsize=7, loc="upper right")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_tradeoff(curve: list, path: str, title: str = "Memory / recomputation trade-off") -> str:
    """Draws cn.mirror.tradeoff's curve (planned arena against recomputation in forward
    passes, the "auto" choice marked) and saves a PNG at `path`. Needs matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        from .base import CoarsenetError

        raise CoarsenetError("plot_tradeoff needs matplotlib: pip install matplotlib") from None
    gib = 1024.0 ** 3
    xs = [p["planned_bytes"] / gib for p in curve]
    ys = [p["recompute_passes"] for p in curve]
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    ax.plot(xs, ys, "o-", color="tab:blue", lw=1.2, ms=4, label="plans")
    for p, x, y in zip(curve, xs, ys):
        if p.get("auto"):
            ax.scatter([x], [y], s=60, color="tab:red", zorder=3, label='mirror="auto"')
    ax.set_xscale("log")
    ax.set_xlabel("planned arena (GiB, log scale)")
    ax.set_ylabel("recomputation (forward passes)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
