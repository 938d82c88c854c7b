"""What the mirror pass's two searches (mirror.py's chain DP, mirror_segments.py's single-level
segments) share, below both so neither imports the other: the candidate they return
(MirrorPlan: the rewritten graph with its shapes, dtypes, schedule and memory plan, so the
pipeline binds it without planning again), how a candidate is measured, the recomputation cost
proxy and the per-node force_mirroring override.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import ops as _ops
from ..base import CoarsenetError
from ..graph import OP, Entry, Graph, Node, topological_order
from .plan_memory import MemoryPlan, entry_bytes, plan_memory
from .schedule import Schedule, schedule


@dataclass
class MirrorPlan:
    graph: Graph
    arena_bytes: int
    recompute_flops: int
    recomputed_nodes: int
    segments: int           # checkpoints kept by the forward pass
    model_bytes: int = 0    # the memory the chain DP was given (0: no recomputation)
    shapes: dict | None = None
    dtypes: dict | None = None
    schedule: Schedule | None = None
    # Planned with the gradient heads bound outside as ("grad", k), k their position among
    # graph.heads[num_forward_heads:]; the pipeline renames k to the variable's name.
    memory: MemoryPlan | None = None


def measured(graph: Graph, num_forward_heads: int, shapes: dict, dtypes: dict,
             segments: int, model_bytes: int) -> MirrorPlan:
    """A rewritten graph scheduled and planned: the candidate with its real arena."""
    sched = schedule(graph, num_forward_heads)
    external = {e: ("grad", k) for k, e in enumerate(graph.heads[num_forward_heads:])}
    memory = plan_memory(graph, sched, shapes, dtypes, external)
    copies = sum(1 for n in sched.order if n.kind == OP and n.recompute_of is not None)
    return MirrorPlan(graph, memory.arena_bytes, recompute_flops(graph, shapes), copies,
                      segments, model_bytes, shapes, dtypes, sched, memory)


def recompute_flops(graph: Graph, shapes: dict) -> int:
    """The cost proxy summed over the recompute nodes of `graph`."""
    return sum(node_flops(n, shapes, n.recompute_of) for n in graph.nodes
               if n.kind == OP and n.recompute_of is not None)


def node_flops(node: Node, shapes: dict, original: Node) -> int:
    """For EXPENSIVE ops 2 x output elements x the fan-in of their second input (the weight),
    for every other op its output elements."""
    outs = [shapes.get(Entry(original, j)) for j in range(original.num_outputs)]
    elems = [int(np.prod(s, dtype=np.int64)) for s in outs if s is not None]
    if node.op.flags & _ops.EXPENSIVE and original.num_inputs >= 2 and elems:
        weight = shapes.get(original.inputs[1])
        if weight:
            return 2 * elems[0] * int(np.prod(weight[1:], dtype=np.int64))
    return sum(elems)


def force_mirroring(node: Node) -> bool | None:
    """The node's force_mirroring attribute: True, False, or None when absent."""
    value = node.attrs.get("force_mirroring", node.attrs.get("__force_mirroring__"))
    if value is None:
        return None
    text = str(value).strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise CoarsenetError(f"node '{node.name}': force_mirroring must be 'True' or 'False', "
                         f"found '{value}'")


class ForwardPart:
    """What both mirror searches read of a training graph's forward part: its op nodes in
    order (`fwd`), the other op nodes (`rest`), the nodes behind a graph head (`heads`), each
    forward node's force_mirroring (`forced`) and output bytes (`out_bytes`)."""

    def __init__(self, graph: Graph, num_forward_heads: int, shapes: dict, dtypes: dict):
        self.graph, self.nh, self.shapes, self.dtypes = graph, num_forward_heads, shapes, dtypes
        self.fwd = [n for n in topological_order(graph.heads[:num_forward_heads])
                    if n.kind == OP]
        self.fwd_set = set(self.fwd)
        self.rest = [n for n in graph.nodes if n.kind != "variable" and n not in self.fwd_set]
        self.heads = {e.node for e in graph.heads}
        self.forced = {n: force_mirroring(n) for n in self.fwd}
        self.out_bytes = {n: sum(entry_bytes(shapes[Entry(n, j)], dtypes[Entry(n, j)])
                                 for j in range(n.num_outputs)) for n in self.fwd}
