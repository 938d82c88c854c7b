"""infer_type — requires: a Graph and the dtypes known for some variables. Provides: a map
Entry -> numpy dtype (None where unknown; executors default those to float32, as MXNet does).

The shared fixed-point loop of infer_attr.py over dtype codes with each op's infer_type as the
rule (which may fill inputs); this module adds the starting dtypes (given ones, else a
variable's __dtype__) and the default for variables still unknown.
"""
from __future__ import annotations

import numpy as np

from ..base import CODE_TO_DTYPE, dtype_code
from ..graph import VARIABLE, Entry, Graph
from .infer_attr import AttrRule, infer_attr

# The type rule of the shared fixed-point loop: values are dtype codes, negative is unknown.
TYPE = AttrRule("type", "dtype", -1, lambda code: code >= 0,
                lambda node, ins, auxs: node.op.infer_type(ins), show=lambda c: CODE_TO_DTYPE[c])


def infer_type(graph: Graph, known: dict | None = None, default=None) -> dict:
    """known: {variable Node or name: dtype}; `default` fills variables still unknown at the end
    (and the sweep runs again), e.g. np.float32 for binding."""
    codes: dict = {}
    by_name = {(k if isinstance(k, str) else k.name): v for k, v in (known or {}).items()}
    for node in graph.nodes:
        if node.kind == VARIABLE:
            given = by_name.get(node.name)
            if given is None and "__dtype__" in node.attrs:
                given = CODE_TO_DTYPE.get(int(node.attrs["__dtype__"]))
            codes[Entry(node, 0)] = dtype_code(given) if given is not None else -1
    infer_attr(graph, codes, TYPE)
    if default is not None:
        fill = dtype_code(default)
        for node in graph.nodes:
            if node.kind == VARIABLE and node.like is None and codes[Entry(node, 0)] < 0:
                codes[Entry(node, 0)] = fill
        infer_attr(graph, codes, TYPE)
    return {e: (np.dtype(CODE_TO_DTYPE[c]) if c >= 0 else None) for e, c in codes.items()}
