"""infer_shape — requires: a Graph and the shapes known for some variables. Provides: a map
Entry -> shape tuple (None where still unknown).

Shapes propagate forward through each op's infer_shape, which may also fill unknown inputs
(FullyConnected's weight from data and num_hidden); a filled variable shape then reaches the
variable's other readers, so the sweep repeats until nothing changes. Backward nodes give each
input gradient the shape of that input; head-gradient and zero variables copy their `like` entry.
"""
from __future__ import annotations

import ast

from ..base import CoarsenetError
from ..graph import BACKWARD, OP, VARIABLE, Entry, Graph

_MAX_SWEEPS = 100


def infer_shape(graph: Graph, known: dict | None = None) -> dict:
    """known: {variable Node or name: shape}. Raises CoarsenetError naming the node on conflicts."""
    shapes: dict = {}
    by_name = {}
    for key, value in (known or {}).items():
        by_name[key if isinstance(key, str) else key.name] = value
    for node in graph.nodes:
        if node.kind == VARIABLE:
            given = by_name.get(node.name)
            declared = _declared_shape(node)
            if given is not None and declared is not None and not _compatible(given, declared):
                raise CoarsenetError(
                    f"variable '{node.name}': given shape {tuple(given)} conflicts with its "
                    f"declared __shape__ {declared}")
            shape = given if given is not None else declared
            shapes[Entry(node, 0)] = tuple(int(d) for d in shape) if shape is not None else None
    for _ in range(_MAX_SWEEPS):
        if not _sweep(graph, shapes):
            break
    return shapes


def _declared_shape(node):
    text = node.attrs.get("__shape__")
    if text is None:
        return None
    shape = tuple(ast.literal_eval(text))
    # MXNet marks unknown dims with 0; a declared shape with unknown dims says nothing here.
    return None if any(int(d) <= 0 for d in shape) else shape


def _compatible(a, b) -> bool:
    return tuple(int(x) for x in a) == tuple(int(x) for x in b)


def _sweep(graph: Graph, shapes: dict) -> bool:
    changed = False
    for node in graph.nodes:
        if node.kind == VARIABLE:
            if node.like is not None and shapes.get(Entry(node, 0)) is None:
                if shapes.get(node.like) is not None:
                    shapes[Entry(node, 0)] = shapes[node.like]
                    changed = True
        elif node.kind == OP:
            changed |= _infer_op(node, shapes)
        elif node.kind == BACKWARD:
            for i, e in enumerate(node.backward.forward.data_inputs()):
                out = Entry(node, i)
                if shapes.get(out) is None and shapes.get(e) is not None:
                    shapes[out] = shapes[e]
                    changed = True
    return changed


def _infer_op(node, shapes: dict) -> bool:
    n_in = node.num_inputs
    in_shapes = [shapes.get(e) for e in node.inputs[:n_in]]
    aux_shapes = [shapes.get(e) for e in node.inputs[n_in:]]
    try:
        ins, outs, auxs = node.op.infer_shape(in_shapes, aux_shapes)
    except CoarsenetError as err:
        raise CoarsenetError(f"shape inference failed at node '{node.name}': {err}") from None
    changed = False
    slots = list(zip(node.inputs, list(ins) + list(auxs)))
    names = list(node.op.input_names) + list(node.op.aux_names)
    for (e, inferred), slot in zip(slots, names):
        if inferred is None:
            continue
        inferred = tuple(inferred)
        current = shapes.get(e)
        if current is None:
            shapes[e] = inferred
            changed = True
        elif current != inferred:
            raise CoarsenetError(
                f"shape inference failed at node '{node.name}' ({node.op.name}): input "
                f"'{slot}' (from '{e.node.name}') has shape {current}, but the op expects "
                f"{inferred}")
    for j, inferred in enumerate(outs):
        out = Entry(node, j)
        if inferred is not None and shapes.get(out) is None:
            shapes[out] = tuple(inferred)
            changed = True
    return changed
