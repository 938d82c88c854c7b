"""mirror — requires: the forward+backward Graph of the gradient pass, its number of forward
heads, and the shapes and dtypes of every entry. Provides: a NEW Graph with the same heads in
which backward nodes read recomputed copies of some forward nodes instead of the originals
(Chen et al. 2016, "Training Deep Nets with Sublinear Memory Cost"). The input graph is never
mutated; its forward nodes are shared, its backward nodes are rebuilt.

How it works. The forward nodes are cut into segments at checkpoints. A checkpoint at position
p of the forward order keeps every entry that crosses p (produced before or at p, read by a
forward node after p); on a chain of residual units that is the one tensor between two units.
Every other forward node is dropped: its output is freed once the forward pass has read it,
and the backward nodes read a copy (`Node.recompute_of`) that reads checkpoints or other
copies. The schedule pass places each copy right before its first reader, so the copies of one
segment are computed when backward reaches that segment and die inside it: at most about one
segment of recomputed activations is live at a time. Optionally the outputs of EXPENSIVE ops
(Convolution, FullyConnected) inside segments are kept too, so that recomputation skips them.

Candidate plans are built and measured with schedule + plan_memory, so the figure compared is
the planned arena. Stage 1 (memory) tries k = 1, 2, 4, ... segments (checkpoints at clean cuts
spaced by bytes of output) until the arena grows again; the best k is about sqrt(N). Stage 2
(time) also keeps a fraction of the expensive outputs inside segments, as long as it fits:
  - "auto": the least recomputation among the plans whose arena is within 50% of the smallest
    arena found, so it grows like sqrt(N);
  - an int budget in bytes: no recomputation if the plain plan fits, else the least
    recomputation among the plans that fit; none fitting raises CoarsenetError naming the
    smallest arena found (the smallest feasible budget).
Per node, attribute `force_mirroring` (or `__force_mirroring__`) = "True" always recomputes the
node, "False" always keeps it. Variables, and the nodes producing graph outputs, are never
recomputed. A copy runs with is_recompute=True (BatchNorm leaves its running statistics alone)
and the original's random seed (Dropout draws the same mask); nothing here is op-specific
beyond the declared flags.

Recomputation cost (`recompute_flops`) is a proxy: for EXPENSIVE ops 2 x output elements x the
fan-in of their second input (the weight: C*kh*kw for Convolution, D for FullyConnected), for
every other op its output elements.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import ops as _ops
from ..base import CoarsenetError
from ..graph import BACKWARD, OP, BackwardCall, Entry, Graph, Node, topological_order
from .plan_memory import entry_bytes, plan_memory
from .schedule import schedule

AUTO_SLACK = 1.5        # "auto" accepts this much more arena than the smallest for less recompute
_KEEP_EXPENSIVE = (0.125, 0.25, 0.5, 0.75, 1.0)  # fractions of expensive outputs kept


@dataclass
class MirrorPlan:
    graph: Graph
    arena_bytes: int
    recompute_flops: int
    recomputed_nodes: int
    segments: int
    keep_expensive: float | None  # fraction of expensive outputs kept inside segments


def mirror(graph: Graph, num_forward_heads: int, option, shapes: dict, dtypes: dict) -> Graph:
    """option: "auto" (or True), or a budget in bytes for the planned arena."""
    return mirror_plan(graph, num_forward_heads, option, shapes, dtypes).graph


def mirror_plan(graph: Graph, num_forward_heads: int, option, shapes: dict,
                dtypes: dict) -> MirrorPlan:
    """Like mirror(), returning the chosen candidate with its figures."""
    budget = _parse_option(option)
    an = _Analysis(graph, num_forward_heads, shapes, dtypes)
    plain = an.evaluate(0, None)
    if budget is not None and plain.arena_bytes <= budget:
        return plain  # no recomputation needed
    # Stage 1, memory: segment counts k = 1, 2, 4, ... until the arena has grown twice in a row
    # past its minimum (it falls while segments shrink, rises once checkpoints dominate).
    lean, k = [], 1
    while k <= 2 * an.num_cuts:
        lean.append(an.evaluate(k, None))
        best = min(c.arena_bytes for c in lean)
        if len(lean) >= 3 and lean[-1].arena_bytes > lean[-2].arena_bytes > best:
            break
        k *= 2
    smallest = min(plain.arena_bytes, best)
    if budget is not None and smallest > budget:
        raise CoarsenetError(
            f"mirror: no recomputation plan fits a budget of {budget} bytes; the smallest "
            f"feasible budget is {smallest} bytes (the smallest planned arena found)")
    limit = smallest * AUTO_SLACK if budget is None else budget
    fitting = [c for c in [plain] + lean if c.arena_bytes <= limit]
    # Stage 2, time: also keep a fraction q of the expensive outputs inside the segments, for
    # the two smallest fitting segment counts. Keeping more never shrinks the arena, so q grows
    # until a plan stops fitting.
    chosen = _least_recompute(fitting)
    for c in sorted((c for c in fitting if c.segments), key=lambda c: c.arena_bytes)[:2]:
        for q in _KEEP_EXPENSIVE:
            candidate = an.evaluate(c.segments, q)
            if candidate.arena_bytes > limit:
                break
            chosen = _least_recompute([chosen, candidate])
    return chosen


def recompute_flops(graph: Graph, shapes: dict) -> int:
    """The cost proxy summed over the recompute nodes of `graph`."""
    return sum(_node_flops(n, shapes, n.recompute_of) for n in graph.nodes
               if n.kind == OP and n.recompute_of is not None)


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


# ------------------------------------------------------------------------------- helpers


def _least_recompute(plans: list) -> MirrorPlan:
    """The least recomputation; within 2% of it (the same work, give or take a node), the
    smallest arena."""
    least = min(p.recompute_flops for p in plans)
    near = [p for p in plans if p.recompute_flops <= least * 1.02]
    return min(near, key=lambda p: (p.arena_bytes, p.recompute_flops))


def _parse_option(option) -> int | None:
    if option is True or (isinstance(option, str) and option.strip().lower() == "auto"):
        return None
    if isinstance(option, str) and option.strip().isdigit():
        option = int(option.strip())
    if isinstance(option, (int, np.integer)) and not isinstance(option, bool) and option > 0:
        return int(option)
    raise CoarsenetError(f"mirror must be 'auto' or a positive memory budget in bytes, "
                         f"found {option!r}")


def _node_flops(node: Node, shapes: dict, original: Node) -> int:
    outs = [shapes.get(Entry(original, j)) for j in range(original.num_outputs)]
    elems = [int(np.prod(s, dtype=np.int64)) for s in outs if s is not None]
    if node.op.flags & _ops.EXPENSIVE and original.num_inputs >= 2 and elems:
        weight = shapes.get(original.inputs[1])
        if weight:
            return 2 * elems[0] * int(np.prod(weight[1:], dtype=np.int64))
    return sum(elems)


class _Analysis:
    """Facts about the forward part that every candidate plan shares."""

    def __init__(self, graph, num_forward_heads, shapes, dtypes):
        self.graph, self.nh, self.shapes, self.dtypes = graph, num_forward_heads, shapes, dtypes
        self.fwd = [n for n in topological_order(graph.heads[:num_forward_heads])
                    if n.kind == OP]
        fwd_set = set(self.fwd)
        self.rest = [n for n in graph.nodes if n.kind != "variable" and n not in fwd_set]
        heads = {e.node for e in graph.heads}
        self.forced = {n: force_mirroring(n) for n in self.fwd}
        self.always_drop = {n for n in self.fwd if self.forced[n] is True and n not in heads}
        self.mirrorable = [n for n in self.fwd if n not in heads and self.forced[n] is not False]
        self.out_bytes = {n: sum(entry_bytes(shapes[Entry(n, j)], dtypes[Entry(n, j)])
                                 for j in range(n.num_outputs)) for n in self.fwd}
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
        return sum(_node_flops(n, self.shapes, n) for n in needed)

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

    def evaluate(self, k: int, j) -> MirrorPlan:
        new, shapes, dtypes = _rewrite(self.graph, self.nh, self.fwd, self.rest,
                                       self.dropped(k, j), self.shapes, self.dtypes)
        sched = schedule(new, self.nh)
        external = {e: ("grad", i) for i, e in enumerate(new.heads[self.nh:])}
        plan = plan_memory(new, sched, shapes, dtypes, external)
        copies = [n for n in sched.order if n.kind == OP and n.recompute_of is not None]
        return MirrorPlan(new, plan.arena_bytes, recompute_flops(new, shapes), len(copies), k, j)


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
