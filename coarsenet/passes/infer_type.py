"""infer_type — requires: a Graph and the dtypes known for some variables. Provides: a map
Entry -> numpy dtype (None where unknown; executors default those to float32, as MXNet does).

Like infer_shape: forward through each op's infer_type (which may fill inputs), repeated until
nothing changes; backward outputs take the dtype of the forward input they are the gradient of.
"""
from __future__ import annotations

import numpy as np

from ..base import CODE_TO_DTYPE, CoarsenetError, dtype_code
from ..graph import BACKWARD, OP, VARIABLE, Entry, Graph

_MAX_SWEEPS = 100


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
    _run(graph, codes)
    if default is not None:
        fill = dtype_code(default)
        for node in graph.nodes:
            if node.kind == VARIABLE and node.like is None and codes[Entry(node, 0)] < 0:
                codes[Entry(node, 0)] = fill
        _run(graph, codes)
    return {e: (np.dtype(CODE_TO_DTYPE[c]) if c >= 0 else None) for e, c in codes.items()}


def _run(graph, codes) -> None:
    for _ in range(_MAX_SWEEPS):
        if not _sweep(graph, codes):
            return


def _sweep(graph: Graph, codes: dict) -> bool:
    changed = False
    for node in graph.nodes:
        if node.kind == VARIABLE:
            out = Entry(node, 0)
            if node.like is not None and codes.get(out, -1) < 0 and codes.get(node.like, -1) >= 0:
                codes[out] = codes[node.like]
                changed = True
        elif node.kind == OP:
            changed |= _infer_op(node, codes)
        elif node.kind == BACKWARD:
            for i, e in enumerate(node.backward.forward.data_inputs()):
                out = Entry(node, i)
                if codes.get(out, -1) < 0 and codes.get(e, -1) >= 0:
                    codes[out] = codes[e]
                    changed = True
    return changed


def _infer_op(node, codes: dict) -> bool:
    n_in = node.num_inputs
    try:
        ins, outs, auxs = node.op.infer_type([codes.get(e, -1) for e in node.inputs[:n_in]])
    except CoarsenetError as err:
        raise CoarsenetError(f"type inference failed at node '{node.name}': {err}") from None
    changed = False
    names = list(node.op.input_names) + list(node.op.aux_names)
    for e, code, slot in zip(node.inputs, list(ins) + list(auxs), names):
        current = codes.get(e, -1)
        if code < 0:
            continue
        if current < 0:
            codes[e] = code
            changed = True
        elif current != code:
            raise CoarsenetError(
                f"type inference failed at node '{node.name}' ({node.op.name}): input '{slot}' "
                f"(from '{e.node.name}') has dtype {CODE_TO_DTYPE[current]}, but the op "
                f"expects {CODE_TO_DTYPE[code]}")
    for j, code in enumerate(outs):
        out = Entry(node, j)
        if code >= 0 and codes.get(out, -1) < 0:
            codes[out] = code
            changed = True
    return changed
