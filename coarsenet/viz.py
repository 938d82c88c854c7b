"""Looking at networks: a layer table (print_summary) and graphviz dot text (plot_network)."""
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
