"""The single-level search the mirror pass used before the chain DP (Chen et al. 2016): k
segments cut at clean positions spaced by bytes of output, checkpoints kept, and optionally a
fraction of the EXPENSIVE outputs (Convolution, FullyConnected) inside segments kept so that
recomputation skips them. The chain DP recomputes whole blocks; keeping expensive outputs
inside recomputed segments is something it cannot express, so for a byte budget the pass
also measures these candidates and keeps whichever plan recomputes least.
"""
from __future__ import annotations

from .. import ops as _ops
from ..graph import BACKWARD, OP, BackwardCall, Entry, Graph, Node
from .mirror_common import ForwardPart, measured, node_flops

_KEEP_EXPENSIVE = (0.125, 0.25, 0.5, 0.75, 1.0)  # fractions of expensive outputs kept


def segment_plan(graph, num_forward_heads, budget: int, shapes, dtypes):
    """The least-recompute single-level plan whose arena fits `budget`, or None."""
    an = _Segments(graph, num_forward_heads, shapes, dtypes)
    lean, k = [], 1
    while k <= 2 * an.num_cuts:
        lean.append(an.evaluate(k, None))
        best = min(c.arena_bytes for c in lean)
        if len(lean) >= 3 and lean[-1].arena_bytes > lean[-2].arena_bytes > best:
            break
        k *= 2
    fitting = [c for c in lean if c.arena_bytes <= budget]
    if not fitting:
        return None
    chosen = _least_recompute(fitting)
    for c in sorted(fitting, key=lambda c: c.arena_bytes)[:2]:
        for q in _KEEP_EXPENSIVE:
            candidate = an.evaluate(c.segments, q)
            if candidate.arena_bytes > budget:
                break
            chosen = _least_recompute([chosen, candidate])
    return chosen


def _least_recompute(plans: list):
    """The least recomputation; within 2% of it (the same work, give or take a node), the
    smallest arena."""
    least = min(p.recompute_flops for p in plans)
    near = [p for p in plans if p.recompute_flops <= least * 1.02]
    return min(near, key=lambda p: (p.arena_bytes, p.recompute_flops))


class _Segments(ForwardPart):
    """Facts about the forward part that every candidate plan shares."""

    def __init__(self, graph, num_forward_heads, shapes, dtypes):
        super().__init__(graph, num_forward_heads, shapes, dtypes)
        heads = self.heads
        self.always_drop = {n for n in self.fwd if self.forced[n] is True and n not in heads}
        self.mirrorable = [n for n in self.fwd if n not in heads and self.forced[n] is not False]
        self.expensive = [n for n in self.mirrorable if n.op.flags & _ops.EXPENSIVE]
        self._cuts()

    def _cuts(self) -> None:
        """crossing[p]: the nodes whose outputs a forward node after position p reads;
        articulation[p]: that set is just the node at p (a clean cut between two blocks)."""
        pos = {n: p for p, n in enumerate(self.fwd)}
        last = {}
        for p, node in enumerate(self.fwd):
            for e in node.inputs:
                if e.node in pos:
                    last[e.node] = p
        active, self.crossing, self.articulation = set(), [], []
        for p, node in enumerate(self.fwd):
            active = {n for n in active if last[n] > p}
            if last.get(node, -1) > p:
                active.add(node)
            self.crossing.append(frozenset(active))
            self.articulation.append(active == {node})

    @property
    def num_cuts(self) -> int:
        return max(1, sum(self.articulation))

    def cost(self, k: int, j) -> int:
        """recompute_flops of candidate (k, j) without building it."""
        needed = _needed(self.rest, self.dropped(k, j))
        return sum(node_flops(n, self.shapes, n) for n in needed)

    def dropped(self, k: int, j) -> set:
        if k == 0:
            return set(self.always_drop)
        total = sum(self.out_bytes[n] for n in self.mirrorable)
        seg = total / k
        keep, acc, last_cut = set(), 0, -1
        for p, node in enumerate(self.fwd):
            acc += self.out_bytes[node]
            if acc >= seg and (self.articulation[p] or acc >= 2 * seg):
                keep.update(self.crossing[p])
                acc, last_cut = 0, p
        # The last segment is kept: its outputs are live when backward starts either way, so
        # recomputing them would cost time and save nothing (Chen et al.).
        keep.update(self.fwd[last_cut + 1:])
        if j:  # a fraction j of the expensive outputs, spread evenly
            keep.update(n for i, n in enumerate(self.expensive)
                        if int((i + 1) * j) > int(i * j))
        return {n for n in self.mirrorable if n not in keep} | self.always_drop

    def evaluate(self, k: int, j):
        new, shapes, dtypes = _rewrite(self.graph, self.nh, self.fwd, self.rest,
                                       self.dropped(k, j), self.shapes, self.dtypes)
        return measured(new, self.nh, shapes, dtypes, k, 0)


def _needed(rest, dropped) -> set:
    """Dropped nodes that backward reads, and the dropped nodes those copies read."""
    stack = [e.node for node in rest for e in node.inputs if e.node in dropped]
    needed = set()
    while stack:
        node = stack.pop()
        if node not in needed:
            needed.add(node)
            stack.extend(e.node for e in node.inputs if e.node in dropped)
    return needed


def _rewrite(graph, nh, fwd, rest, dropped, shapes, dtypes):
    """The graph in which backward reads copies of the dropped nodes it needs."""
    needed = _needed(rest, dropped)
    new: dict = {}  # old node -> its copy (forward) or rebuilt node (backward part)

    def m(e):
        if e is None or e.node not in new:
            return e
        return Entry(new[e.node], e.index)

    for node in fwd:
        if node in needed:
            new[node] = Node(OP, f"{node.name}_recompute", op=node.op,
                             inputs=[m(e) for e in node.inputs], params=node.params,
                             attrs=node.attrs, recompute_of=node)
    for node in rest:
        alias = {i: m(e) for i, e in node.alias.items()}
        if node.kind == BACKWARD:
            c = node.backward
            call = BackwardCall(c.forward, [m(e) for e in c.out_grads], [m(e) for e in c.inputs],
                                [m(e) for e in c.outputs], list(c.req))
            new[node] = Node(BACKWARD, node.name, op=node.op, inputs=[m(e) for e in node.inputs],
                             attrs=node.attrs, backward=call, alias=alias)
        else:
            new[node] = Node(node.kind, node.name, op=node.op, inputs=[m(e) for e in node.inputs],
                             params=node.params, attrs=node.attrs, alias=alias,
                             recompute_of=node.recompute_of)
    heads = list(graph.heads[:nh]) + [m(e) for e in graph.heads[nh:]]
    new_shapes, new_dtypes = dict(shapes), dict(dtypes)
    for e, s in shapes.items():
        if e.node in new:
            new_shapes[Entry(new[e.node], e.index)] = s
    for e, t in dtypes.items():
        if e.node in new:
            new_dtypes[Entry(new[e.node], e.index)] = t
    return Graph(heads), new_shapes, new_dtypes
