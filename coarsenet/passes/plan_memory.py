"""plan_memory — requires: a Graph, its Schedule, shapes and dtypes of every entry, and the
entries bound to outside arrays (arguments, aux states, gradients of arguments). Provides: a
MemoryPlan placing every other entry (activations, their gradients) and every op workspace at
an offset of ONE arena, plus statistics.

Two phases.
1. Sharing: the schedule is simulated step by step; an entry is live from its producer to its
   last reader (graph outputs to the end). A produced entry takes over the block of the entry it
   aliases (gradient accumulation, req = add), or the block of an input in place when the op
   declares the pair, the input has no later reader, is neither bound outside the arena nor a
   graph output, and has the same size; otherwise it opens a new block. A workspace is a block
   live for its step only. A block's lifetime is therefore one interval of steps.
2. Placement: all lifetimes are known, so blocks are packed offline, largest first, each at
   the lowest offset where it fits in the smallest gap between blocks live at the same time
   ("greedy by size", as TensorFlow Lite's arena planner). Offsets are 64-byte aligned. This
   gets much closer to the peak of live bytes than reusing freed buffers one by one, which
   strands large workspaces under small long-lived activations.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import _core
from ..base import REQ_WRITE, CoarsenetError, dtype_code
from ..graph import BACKWARD, OP, VARIABLE, Entry, Graph
from .schedule import Schedule, alias_groups

ALIGN = 64


@dataclass
class MemoryPlan:
    arena_bytes: int
    offsets: dict               # arena Entry -> byte offset
    nbytes: dict                # arena Entry -> bytes
    external: dict              # Entry -> key of the outside array it lives in
    workspaces: dict            # Node -> (offset, bytes); nodes without workspace are absent
    inplace: dict               # output Entry -> input Entry whose storage it took (op-declared)
    shares: dict                # output Entry -> Entry it shares storage with (alias or inplace)
    live: dict                  # arena Entry -> (first step, last step), for checks and debugging
    storage_of: dict            # arena Entry -> storage id
    stats: dict = field(default_factory=dict)


def plan_memory(graph: Graph, sched: Schedule, shapes: dict, dtypes: dict,
                external: dict | None = None, slices: dict | None = None) -> MemoryPlan:
    """external: {Entry: key} for non-variable entries that live in outside arrays (gradients of
    bound arguments). Variable entries are always outside the arena. slices: {Node: slices} of
    calls that may run in slices of their batch (passes/batch_split.py); their workspace also
    holds the slices' workspaces and gradient buffers."""
    groups = alias_groups(sched.order)
    ext = _external_entries(graph, sched.order, groups, dict(external or {}))
    sim = _Simulation(graph, sched, shapes, dtypes, ext, slices or {})
    sim.run()
    return sim.result(ext)


def entry_bytes(shape, dtype) -> int:
    if shape is None or dtype is None:
        raise CoarsenetError("plan_memory needs every shape and dtype; infer them first")
    return int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def _external_entries(graph, order, groups, external: dict) -> dict:
    ext = {}
    for node in graph.nodes:
        if node.kind == VARIABLE:
            ext[Entry(node, 0)] = node
    by_group = {}
    for e, key in list(external.items()) + list(ext.items()):
        by_group[groups.get(e, e)] = key
        ext[e] = key
    for e, root in groups.items():
        if root in by_group:
            ext[e] = by_group[root]
    return ext


class _Simulation:
    def __init__(self, graph, sched, shapes, dtypes, external, slices):
        self.graph, self.sched, self.shapes, self.dtypes = graph, sched, shapes, dtypes
        self.slices = slices
        self.external = external
        self.reads = graph.readers()
        self.pinned = set(graph.heads)
        self.size: list = []           # storage id -> bytes
        self.sid_reads: dict = {}      # storage id -> remaining reads of its entries
        self.sid_pinned: set = set()
        self.storage_of, self.nbytes, self.live = {}, {}, {}
        self.inplace, self.shares, self.workspace_sid = {}, {}, {}
        self.naive = 0

    # ---------------------------------------------------------------- simulation
    def run(self) -> None:
        # A step is a stage of the schedule (one node unless the schedule lets several run
        # concurrently): everything a stage's nodes produce, read and scratch is live for the
        # whole stage, and reads are released only after the stage, so no two nodes of one
        # stage get the same bytes, and none writes in place over an input a stage-mate reads.
        stage_of = self.sched.stage_of
        for k, node in enumerate(self.sched.order):
            step = stage_of[k]
            self._place_node(node, step)
            if k + 1 == len(stage_of) or stage_of[k + 1] != step:
                for mate in self.sched.order[self._stage_begin(k): k + 1]:
                    self._release_reads(mate, step)
        last = self.sched.num_stages - 1
        for e in self.pinned:
            if e in self.live:
                self.live[e] = (self.live[e][0], last)

    def _stage_begin(self, k: int) -> int:
        stage_of = self.sched.stage_of
        while k > 0 and stage_of[k - 1] == stage_of[k]:
            k -= 1
        return k

    def _release_reads(self, node, step) -> None:
        for e in node.inputs:
            sid = self.storage_of.get(e)
            if sid is None:
                continue
            self.sid_reads[sid] -= 1
            first, _ = self.live[e]
            self.live[e] = (first, step)

    def _place_node(self, node, step) -> None:
        taken = set()
        for out in self._outputs(node):
            if out in self.external:
                continue
            nbytes = entry_bytes(self.shapes.get(out), self.dtypes.get(out))
            self.nbytes[out] = nbytes
            self.naive += _align(nbytes)
            sid = self._place(node, out, nbytes, taken)
            taken.add(sid)
            self.storage_of[out] = sid
            self.sid_reads[sid] = self.sid_reads.get(sid, 0) + self.reads.get(out, 0)
            if out in self.pinned:
                self.sid_pinned.add(sid)
            self.live[out] = (step, step)
        ws = self._workspace_bytes(node)
        if ws:
            self.naive += _align(ws)
            sid = self._allocate(ws)
            self.workspace_sid[node] = (sid, ws)
            self.sid_reads[sid] = 0

    def _outputs(self, node) -> list:
        if node.kind == BACKWARD:
            return [Entry(node, i) for i, r in enumerate(node.backward.req) if r != 0]
        return [Entry(node, j) for j in range(node.num_outputs)]

    def _place(self, node, out, nbytes, taken) -> int:
        target = node.alias.get(out.index)
        if target is not None:
            self.shares[out] = target
            return self.storage_of[target]
        for candidate in self._inplace_candidates(node, out):
            sid = self.storage_of.get(candidate)
            if (sid is None or sid in taken or sid in self.sid_pinned
                    or self.nbytes.get(candidate) != nbytes
                    or self.sid_reads[sid] != 1 or node.inputs.count(candidate) != 1):
                continue
            self.inplace[out] = candidate
            self.shares[out] = candidate
            return sid
        return self._allocate(nbytes)

    def _inplace_candidates(self, node, out) -> list:
        if node.kind == OP:
            return [node.inputs[i] for i, j in node.op.inplace
                    if j == out.index and i < len(node.inputs)]
        if node.kind == BACKWARD:
            call = node.backward
            if call.req[out.index] != REQ_WRITE:
                return []
            return [call.out_grads[j] for j, i in node.op.backward_inplace
                    if i == out.index and call.out_grads[j] is not None]
        return []

    def _allocate(self, nbytes: int) -> int:
        self.size.append(_align(nbytes))
        return len(self.size) - 1

    def _workspace_bytes(self, node) -> int:
        if node.kind == OP:
            fwd, backward = node, False
        elif node.kind == BACKWARD:
            fwd, backward = node.backward.forward, True
        else:
            return 0
        n_in = fwd.num_inputs
        ins = [self.shapes[e] for e in fwd.inputs[:n_in]]
        outs = [self.shapes[Entry(fwd, j)] for j in range(fwd.num_outputs)]
        # The call's dtype (the rule lives in C++: _core.call_dtype) sizes element-counted scratch.
        def code(e):
            return dtype_code(self.dtypes[e]) if self.dtypes.get(e) is not None else -1
        in_codes = [code(e) for e in fwd.inputs[:n_in]]
        out_codes = [code(Entry(fwd, j)) for j in range(fwd.num_outputs)]
        call = _core.call_dtype(in_codes, out_codes)
        nbytes = int(fwd.op.workspace_bytes(ins, outs, backward, call))
        slices = self.slices.get(node, 1)
        if slices > 1:  # whole or in slices, never both at once: the larger of the two
            req = list(node.backward.req) if backward else None
            nbytes = max(nbytes, int(fwd.op.split_workspace_bytes(
                ins, outs, backward, in_codes, out_codes, slices, req)))
        return nbytes

    # ---------------------------------------------------------------- layout
    def result(self, ext) -> MemoryPlan:
        span = self._block_lifetimes()
        base, arena, reused = _pack(self.size, span)
        offsets = {e: base[sid] for e, sid in self.storage_of.items()}
        workspaces = {n: (base[sid], nbytes) for n, (sid, nbytes) in self.workspace_sid.items()}
        stats = {
            "naive_bytes": self.naive,
            "planned_bytes": arena,
            "workspace_bytes": sum(nb for _, nb in self.workspace_sid.values()),
            "inplace_count": len(self.inplace),
            "reused_count": reused,
            "storage_count": len(self.size),
            "recomputed_count": sum(1 for n in self.sched.order if n.kind == OP
                                    and n.recompute_of is not None),
        }
        return MemoryPlan(arena, offsets, dict(self.nbytes), ext, workspaces, dict(self.inplace),
                          dict(self.shares), dict(self.live), dict(self.storage_of), stats)

    def _block_lifetimes(self) -> list:
        span = [None] * len(self.size)
        position = {node: self.sched.stage_of[k] for k, node in enumerate(self.sched.order)}
        intervals = [(self.storage_of[e], first, last) for e, (first, last) in self.live.items()]
        intervals += [(sid, position[n], position[n]) for n, (sid, _) in self.workspace_sid.items()]
        for sid, first, last in intervals:
            old = span[sid]
            span[sid] = (first, last) if old is None else (min(old[0], first), max(old[1], last))
        return span


def _pack(sizes: list, span: list):
    """Offsets for blocks of `sizes` (aligned) live over steps `span[i] = (first, last)`: largest
    first, each into the smallest gap among already placed blocks whose lifetime overlaps.
    Returns (offsets, arena bytes, number of blocks sharing bytes with an earlier-dead block)."""
    order = sorted(range(len(sizes)), key=lambda b: (-sizes[b], span[b][0], b))
    placed: list = []  # (offset, size, first, last)
    offsets = [0] * len(sizes)
    for b in order:
        first, last = span[b]
        busy = sorted((o, o + n) for o, n, f, l in placed if f <= last and first <= l)
        best, best_gap, end = None, None, 0
        for start, stop in busy:
            gap = start - end
            if gap >= sizes[b] and (best_gap is None or gap < best_gap):
                best, best_gap = end, gap
            end = max(end, stop)
        offsets[b] = end if best is None else best
        placed.append((offsets[b], sizes[b], first, last))
    arena = max((o + n for o, n, _, _ in placed), default=0)
    return offsets, arena, _count_reused(placed)


def _count_reused(placed: list) -> int:
    """Blocks whose bytes some block that died earlier used before (a sweep over offsets)."""
    reused, active = set(), []
    for k, (o, n, f, l) in sorted(enumerate(placed), key=lambda kb: kb[1][0]):
        active = [(j, b) for j, b in active if b[0] + b[1] > o]
        for j, (_, _, fj, lj) in active:
            if lj < f:
                reused.add(k)
            elif l < fj:
                reused.add(j)
        active.append((k, (o, n, f, l)))
    return len(reused)

def live_bytes_per_step(plan: MemoryPlan, sched: Schedule) -> list:
    """Bytes of arena data live at each step of `sched` (entries from producer to last reader,
    counted once where an output took over an input's storage, plus the step's workspace).
    Data for plots such as cn.viz.plot_memory; the arena is at least the maximum."""
    diff = np.zeros(sched.num_stages + 1, dtype=np.int64)
    for e, (first, last) in plan.live.items():
        diff[first] += plan.nbytes[e]
        diff[last + 1] -= plan.nbytes[e]
    for out, target in plan.shares.items():
        if out in plan.live and target in plan.live and plan.live[target][1] >= plan.live[out][0]:
            step = plan.live[out][0]
            diff[step] -= min(plan.nbytes[out], plan.nbytes[target])
            diff[step + 1] += min(plan.nbytes[out], plan.nbytes[target])
    step_of = {node: sched.stage_of[k] for k, node in enumerate(sched.order)}
    for node, (_, nbytes) in plan.workspaces.items():
        diff[step_of[node]] += nbytes
        diff[step_of[node] + 1] -= nbytes
    return np.cumsum(diff)[:-1].tolist()


def concurrency_conflicts(sched: Schedule, plan: MemoryPlan) -> list:
    """Pairs of nodes of one stage (which may run at the same time) where one writes bytes the
    other reads or writes: arena ranges (entries, workspaces) and outside arrays (bound
    gradients, aux states). Empty for a correct plan; the executor refuses to run stages
    concurrently otherwise."""
    conflicts = []
    for begin, end in sched.stages():
        if end - begin < 2:
            continue
        touched = [_touched(node, plan) for node in sched.order[begin:end]]
        for a in range(end - begin):
            for b in range(a + 1, end - begin):
                if _overlap(touched[a], touched[b]):
                    conflicts.append((sched.order[begin + a], sched.order[begin + b]))
    return conflicts


def _touched(node, plan: MemoryPlan) -> list:
    """[(key or None, start, stop, writes)]: arena byte ranges (key None) and outside arrays."""
    def where(e, writes):
        if e in plan.offsets:
            return (None, plan.offsets[e], plan.offsets[e] + plan.nbytes[e], writes)
        key = plan.external.get(e)
        return None if key is None else (key, 0, 1, writes)

    if node.kind == BACKWARD:
        outs = [Entry(node, i) for i, r in enumerate(node.backward.req) if r]
        aux_written = []
    else:
        outs = [Entry(node, j) for j in range(node.num_outputs)]
        aux_written = node.inputs[node.num_inputs:] if node.op.flags & _core.FLAG_UPDATES_AUX \
            else []
    items = [where(e, False) for e in node.inputs] + [where(e, True) for e in outs + aux_written]
    if node in plan.workspaces:
        offset, nbytes = plan.workspaces[node]
        items.append((None, offset, offset + nbytes, True))
    return [t for t in items if t is not None]


def _overlap(xs: list, ys: list) -> bool:
    for kx, a0, a1, wx in xs:
        for ky, b0, b1, wy in ys:
            if (wx or wy) and kx == ky and a0 < b1 and b0 < a1:
                return True
    return False
