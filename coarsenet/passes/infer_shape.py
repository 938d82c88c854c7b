"""infer_shape — requires: a Graph and the shapes known for some variables. Provides: a map
Entry -> shape tuple (None where still unknown).

The shared fixed-point loop of infer_attr.py with each op's infer_shape as the rule (which may
also fill unknown inputs: FullyConnected's weight from data and num_hidden); this module adds
the starting shapes: given ones, else a variable's declared __shape__.
"""
from __future__ import annotations

import ast

from ..base import CoarsenetError
from ..graph import VARIABLE, Entry, Graph
from .infer_attr import AttrRule, infer_attr

# The shape rule of the shared fixed-point loop: None is unknown, shapes are tuples.
SHAPE = AttrRule("shape", "shape", None, lambda s: s is not None,
                 lambda node, ins, auxs: node.op.infer_shape(ins, auxs), normalize=tuple)


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
    return infer_attr(graph, shapes, SHAPE)


def _declared_shape(node):
    text = node.attrs.get("__shape__")
    if text is None:
        return None
    value = ast.literal_eval(text)
    # The file loader (graph_json._check_variable_attrs) accepts a bare integer as one dim.
    shape = (value,) if isinstance(value, int) else tuple(value)
    # MXNet marks unknown dims with 0; a declared shape with unknown dims says nothing here.
    return None if any(int(d) <= 0 for d in shape) else shape


def _compatible(a, b) -> bool:
    return tuple(int(x) for x in a) == tuple(int(x) for x in b)
