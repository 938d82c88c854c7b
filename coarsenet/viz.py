"""Looking at networks: a layer table (print_summary), graphviz dot text (plot_network) and
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


def plot_network(symbol, title: str = "plot", shape: dict | None = None,
                 hide_weights: bool = True) -> str:
    """The network as graphviz dot text (render it with the graphviz package or `dot`).
    With `shape`, edges are labelled with tensor shapes."""
    nodes = _graph(symbol)
    shapes = _output_shapes(symbol, shape) if shape else {}
    arguments = set(symbol.list_arguments()) | set(symbol.list_auxiliary_states())
    lines = [f'digraph "{title}" {{', "  node [shape=box, style=rounded];"]

    def hidden(node):
        return node["op"] == "null" and hide_weights and node["name"] in arguments and \
            not (shape and node["name"] in shape)

    for i, node in enumerate(nodes):
        if hidden(node):
            continue
        label = node["name"] if node["op"] == "null" else f"{node['op']}\\n{node['name']}"
        lines.append(f'  n{i} [label="{label}"];')
    for i, node in enumerate(nodes):
        for src, index, *_ in node["inputs"]:
            if hidden(nodes[src]):
                continue
            src_name = nodes[src]["name"]
            edge_shape = shapes.get(f"{src_name}_output") or shapes.get(f"{src_name}_output{index}")
            if nodes[src]["op"] == "null":
                edge_shape = (shape or {}).get(src_name)
            label = f' [label="{"x".join(map(str, edge_shape))}"]' if edge_shape else ""
            lines.append(f"  n{src} -> n{i}{label};")
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
