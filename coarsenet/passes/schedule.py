"""schedule — requires: a Graph (forward heads first, then any gradient heads) and the number of
forward heads. Provides: the execution order of its op and backward nodes and how many of them
form the forward part.

Sequential topological order: every node reachable from the forward heads first (so a forward
pass can run alone, for inference or before backward), then the nodes only the gradient heads
need (backward nodes, gradient sums, and any recomputed forward nodes a mirror pass inserted).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..graph import VARIABLE, Graph, topological_order


@dataclass
class Schedule:
    order: list        # op and backward nodes in execution order
    num_forward: int   # order[:num_forward] is the forward pass


def schedule(graph: Graph, num_forward_heads: int | None = None) -> Schedule:
    if num_forward_heads is None:
        num_forward_heads = len(graph.heads)
    forward = topological_order(graph.heads[:num_forward_heads])
    seen = set(forward)
    rest = [n for n in topological_order(graph.heads) if n not in seen]
    forward = [n for n in forward if n.kind != VARIABLE]
    rest = [n for n in rest if n.kind != VARIABLE]
    return Schedule(forward + rest, len(forward))
