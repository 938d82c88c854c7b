"""schedule — requires: a Graph (forward heads first, then any gradient heads) and the number of
forward heads. Provides: the execution order of its op and backward nodes and how many of them
form the forward part.

Sequential topological order: every node reachable from the forward heads first (so a forward
pass can run alone, for inference or before backward), then the nodes only the gradient heads
need (backward nodes, gradient sums, and any recomputed forward nodes a mirror pass inserted).
A recomputed node is placed right before its first reader (after the recomputed nodes it reads),
so recomputation happens segment by segment as backward reaches it, not all at its start.
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
    rest = _recompute_just_in_time([n for n in rest if n.kind != VARIABLE])
    return Schedule(forward + rest, len(forward))


def _recompute_just_in_time(rest: list) -> list:
    if not any(n.is_recompute for n in rest):
        return rest
    order, placed = [], set()

    def place(node) -> None:  # node after the unplaced recomputed nodes it reads
        stack = [(node, iter(node.inputs))]
        while stack:
            n, inputs = stack[-1]
            child = next((e.node for e in inputs
                          if e.node.is_recompute and e.node not in placed), None)
            if child is not None:
                stack.append((child, iter(child.inputs)))
                continue
            stack.pop()
            if n not in placed:
                placed.add(n)
                order.append(n)

    for node in rest:
        if not node.is_recompute:
            place(node)
    for node in rest:  # defensive: a recomputed node nothing in backward reads
        if node not in placed:
            place(node)
    return order
