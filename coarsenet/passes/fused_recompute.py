"""fused_recompute — requires: a forward Graph. Provides: the same graph in which every op node
that declares a boolean `recompute` param (the fused RNN op) has it set to True, so that the op
recomputes inside itself during backward.

Why: the graph-level mirror pass (mirror.py) can only keep or recompute a node's outputs as a
whole. A fused op like RNN is one node whose hidden `reserve` (every time step's gates and states)
is most of the memory of a long sequence, and no checkpoint can be placed inside it. With
`recompute` the op keeps the states at about sqrt(T) step checkpoints and re-runs each segment's
forward during backward; its declared reserve and workspace shrink accordingly, so shape
inference and the memory planner see the smaller memory. The pipeline runs this before the
gradient pass whenever mirror is on. Nodes with force_mirroring="False" are left as they are.
Variables are shared with the input graph; op nodes are copied, never mutated.
"""
from __future__ import annotations

import dataclasses

from .. import ops as _ops
from ..graph import OP, Entry, Graph

PARAM = "recompute"
_declares: dict = {}


def declares_recompute(op) -> bool:
    """Whether the op type has a `recompute` param (cached per op name and library)."""
    key = (op.name, op.library)
    if key not in _declares:
        _declares[key] = PARAM in _ops.info(op.name).param_names()
    return _declares[key]


def fused_recompute(graph: Graph) -> Graph:
    from .mirror import force_mirroring  # the same attribute the mirror pass honours

    def wants(node) -> bool:
        return (node.kind == OP and declares_recompute(node.op)
                and str(node.params.get(PARAM, "False")).lower() not in ("true", "1")
                and force_mirroring(node) is not False)

    if not any(wants(n) for n in graph.nodes):
        return graph
    new: dict = {}
    for node in graph.nodes:  # inputs before their readers
        if node.kind != OP:
            continue
        inputs = [Entry(new.get(e.node, e.node), e.index) for e in node.inputs]
        changed = any(a.node is not b.node for a, b in zip(inputs, node.inputs))
        if wants(node):
            params = {**node.params, PARAM: "True"}
            new[node] = dataclasses.replace(node, inputs=inputs, params=params,
                                            op=_ops.make(node.op.name, params))
        elif changed:
            new[node] = dataclasses.replace(node, inputs=inputs)
    return Graph([Entry(new.get(e.node, e.node), e.index) for e in graph.heads])
