"""schedule — requires: a Graph (forward heads first, then any gradient heads) and the number of
forward heads. Provides: the execution order of its op and backward nodes and how many of them
form the forward part.

Sequential topological order: every node reachable from the forward heads first (so a forward
pass can run alone, for inference or before backward), then the nodes only the gradient heads
need (backward nodes, gradient sums, and any recomputed forward nodes a mirror pass inserted).
A recomputed node is placed right before its first reader (after the recomputed nodes it reads),
so recomputation happens segment by segment as backward reaches it, not all at its start.

With `concurrent=True` the order is also cut into stages: each part (forward, then the rest) is
levelled as soon as possible (a node's stage is one past the latest stage of the nodes it must
follow) and reordered by stage, so the ops of one stage may run at the same time (Inception's
towers, a projection shortcut next to the main path). A node must follow (hazards on storage that
exists before the memory plan, so a plan cannot remove them):
- the producers of what it reads (data dependency);
- the earlier writers and readers of what it writes: outputs that accumulate into one gradient
  (`alias`, req add) share one storage, and ops updating aux states (BatchNorm in training) write
  their aux inputs, so two such writers are never in one stage.
Reuse of freed bytes is the memory planner's side: plan_memory keeps every entry of a stage live
for the whole stage (see there), and the executor checks the result (concurrency_conflicts).
Parts with recomputed nodes stay sequential (placing recomputation just in time is what bounds
their memory).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from .. import _core
from .. import ops as _ops
from ..graph import BACKWARD, OP, VARIABLE, Entry, Graph, topological_order


@dataclass
class Schedule:
    order: list        # op and backward nodes in execution order
    num_forward: int   # order[:num_forward] is the forward pass
    # stage_of[k]: the stage of order[k], nondecreasing; nodes of one stage may run concurrently.
    # Sequential schedules have one node per stage (stage_of[k] == k).
    stage_of: list = field(default_factory=list)
    # The forward nodes in sequential order (before levelling): random seeds are keyed by it,
    # so Dropout draws the same numbers with or without stages (and as a mirrored plan).
    sequential_forward: list = field(default_factory=list)

    def __post_init__(self):
        if not self.stage_of:
            self.stage_of = list(range(len(self.order)))
        if not self.sequential_forward:
            self.sequential_forward = self.order[:self.num_forward]

    @property
    def num_stages(self) -> int:
        return self.stage_of[-1] + 1 if self.stage_of else 0

    def stages(self) -> list:
        """[(begin, end)] position ranges of the stages, in order."""
        bounds, begin = [], 0
        for k in range(1, len(self.order) + 1):
            if k == len(self.order) or self.stage_of[k] != self.stage_of[begin]:
                bounds.append((begin, k))
                begin = k
        return bounds


def schedule(graph: Graph, num_forward_heads: int | None = None,
             concurrent: bool = False) -> Schedule:
    if num_forward_heads is None:
        num_forward_heads = len(graph.heads)
    forward = topological_order(graph.heads[:num_forward_heads])
    seen = set(forward)
    rest = [n for n in topological_order(graph.heads) if n not in seen]
    forward = [n for n in forward if n.kind != VARIABLE]
    rest = _recompute_just_in_time([n for n in rest if n.kind != VARIABLE])
    if not concurrent:
        return Schedule(forward + rest, len(forward))
    roots = alias_groups(forward + rest)
    sequential_forward = forward
    forward, f_stage = _levelled(forward, roots, 0)
    if any(n.is_recompute for n in rest):
        r_stage = list(range(f_stage[-1] + 1 if f_stage else 0,
                             (f_stage[-1] + 1 if f_stage else 0) + len(rest)))
    else:
        rest, r_stage = _levelled(rest, roots, f_stage[-1] + 1 if f_stage else 0)
    return Schedule(forward + rest, len(forward), f_stage + r_stage, sequential_forward)


def alias_groups(order) -> dict:
    """Entry -> representative of its alias group: entries that share one storage because a node
    declares `alias` (gradient accumulation). The memory planner gives each group one storage;
    the stage split treats a group as one thing written and read."""
    parent: dict = {}

    def find(e):
        while parent.get(e, e) != e:
            e = parent[e]
        return e

    for node in order:
        for i, target in node.alias.items():
            parent[find(Entry(node, i))] = find(target)
    # Roots too: the first writer of an accumulated gradient is a root, and it must land in the
    # same (possibly bound) storage as the entries that add into it.
    return {e: find(e) for e in list(parent) + list(parent.values())}


def _reads_writes(node, roots) -> tuple:
    root = lambda e: roots.get(e, e)  # noqa: E731
    reads = {root(e) for e in node.inputs}
    if node.kind == BACKWARD:
        writes = {root(Entry(node, i)) for i, r in enumerate(node.backward.req) if r}
    else:
        writes = {root(Entry(node, j)) for j in range(node.num_outputs)}
        if node.kind == OP and node.op.flags & _core.FLAG_UPDATES_AUX:
            writes |= {root(e) for e in node.inputs[node.num_inputs:]}
    return reads, writes


def _levelled(part: list, roots: dict, first: int) -> tuple:
    """(part reordered by stage, keeping the given order inside a stage; the stage of each)."""
    level: dict = {}
    last_writer: dict = {}   # storage root -> stage of its latest writer so far
    readers: dict = {}       # storage root -> latest stage that read it since that writer
    for node in part:
        reads, writes = _reads_writes(node, roots)
        after = first - 1
        for r in reads | writes:
            after = max(after, last_writer.get(r, first - 1))
        for w in writes:
            after = max(after, readers.get(w, first - 1))
        stage = after + 1
        level[node] = stage
        for r in reads:
            readers[r] = max(readers.get(r, first - 1), stage)
        for w in writes:
            last_writer[w] = stage
    ordered = sorted(range(len(part)), key=lambda k: (level[part[k]], k))
    nodes = [part[k] for k in ordered]
    return nodes, [level[n] for n in nodes]


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


# Cost proxy of a call for spreading a stage over threads, in "convolution flop" units: the
# time per element of the cheap ops (measured on Inception-BN's ops, 1 thread: a GEMM flop
# costs ~0.015 ns, a BatchNorm element ~0.45 ns, a ReLU element ~0.1 ns, a pooling window
# element ~0.15 ns). Counting their output elements as one flop each, as node_flops does, made a
# 3x3 max pooling look 30x cheaper than the 1x1 convolution next to it while it took 3x longer,
# so a stage's bins paired it with a convolution and the other thread waited.
_ELEMENT_COST = {"BatchNorm": 30.0, "Pooling": 10.0, "Activation": 6.0}
_DEFAULT_ELEMENT_COST = 8.0


def stage_cost(node, shapes: dict) -> float:
    """The cost proxy of an op or backward node (backward: twice its forward)."""
    fwd = node.backward.forward if node.kind == BACKWARD else node
    original = fwd.recompute_of or fwd
    outs = [shapes.get(Entry(original, j)) for j in range(original.num_outputs)]
    elems = [int(np.prod(s, dtype=np.int64)) for s in outs if s is not None]
    ins = [int(np.prod(s, dtype=np.int64)) for s in
           (shapes.get(e) for e in original.data_inputs()) if s is not None]
    weight = shapes.get(original.inputs[1]) if original.num_inputs >= 2 else None
    if fwd.op.flags & _ops.EXPENSIVE and weight and elems:  # as node_flops counts them
        cost = 2.0 * elems[0] * int(np.prod(weight[1:], dtype=np.int64))
    else:
        work = sum(elems)
        if fwd.op.name == "Pooling":  # every output reads its window
            kernel = re.findall(r"\d+", str(original.params.get("kernel", "1")))
            work *= int(np.prod([int(k) for k in kernel]))
        # A reduction (global pooling, a loss) reads more than it writes.
        work = max(work, max(ins, default=0))
        cost = _ELEMENT_COST.get(fwd.op.name, _DEFAULT_ELEMENT_COST) * work
    return (2.0 * cost if node.kind == BACKWARD else cost) + 1.0
