"""mirror — requires: the forward+backward Graph of the gradient pass, its number of forward
heads, and the shapes and dtypes of every entry. Provides: a NEW Graph with the same heads in
which backward nodes read recomputed copies of some forward nodes instead of the originals
(Chen et al. 2016, "Training Deep Nets with Sublinear Memory Cost"). The input graph is never
mutated; its forward nodes are shared, its backward nodes are rebuilt.

How it works. The forward nodes are cut into a chain of blocks at articulation points whose
value backward reads (mirror_rewrite.Chain); per block: its forward cost, the bytes of its
output, of what its backward reads, and of its backward's working set. mirror_chain solves the
optimal schedule (Rotor's dynamic program) for every memory at once, at two resolutions, and
again with a fraction q (1/4, 1/2) of the expensive outputs kept from the forward pass to their
block's backward (held bytes in the DP; a recomputed block skips those ops); the memories where
the least recompute drops, over all q, are the candidates. "min" also measures the lowest
candidates of the chain cut at every articulation point (finer blocks, a looser model). A candidate's operation sequence becomes a graph in
which backward reads generations of copies (`Node.recompute_of`), possibly copies made from
copies (multi-level); schedule + plan_memory measure its real arena. The model's memory is an
approximation of the planner's, so the choice is made on measured arenas:
  - "auto": the knee of the measured curve, or where less memory is reachable for at most
    AUTO_PASSES forward passes of recompute, that plan (see auto());
  - "min": the smallest arena among the few least-memory candidates;
  - an int budget in bytes: no recomputation if the plain plan fits, else the largest
    candidate that fits (bisection over the DP's memory), compared with the single-level
    plans of mirror_segments (which keep expensive outputs inside segments); none fitting
    raises CoarsenetError naming the smallest arena found (the smallest feasible budget).
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

import numpy as np

from .. import ops as _ops
from ..base import CoarsenetError
from ..graph import Entry, Graph
from .mirror_chain import ChainSolution
from .mirror_common import (ForwardPart, MirrorPlan, force_mirroring, measured,  # noqa: F401
                            recompute_flops)
from .mirror_common import node_flops as _node_flops
from .mirror_rewrite import Chain, build
from .mirror_segments import segment_plan
from .plan_memory import entry_bytes

MAX_BLOCKS = 100    # longer chains are solved over groups of neighbouring blocks
LOW_TRIES = 3       # least-memory candidates measured with the planner for "min"
CURVE_POINTS = 10   # candidates measured for "auto" and tradeoff()
REFINE_PLANS = 2     # the largest fitting plans whose expensive-output variants are measured
_KEEP_EXPENSIVE = (0.125, 0.25, 0.5, 0.75, 1.0)  # fractions of expensive outputs kept
DP_KEEP_EXPENSIVE = (0.0, 0.25, 0.5)  # the same, solved for by the DP
MAX_RECOMPUTE = 3.0  # candidates recompute at most this many forward passes (see _Analysis)
AUTO_PASSES = 0.5    # "auto" takes the least memory within this recompute if below the knee
AUTO_TRIES = 6       # candidates measured for that least memory


def mirror(graph: Graph, num_forward_heads: int, option, shapes: dict, dtypes: dict) -> Graph:
    """option: "auto" (or True), "min", or a budget in bytes for the planned arena."""
    return mirror_plan(graph, num_forward_heads, option, shapes, dtypes).graph


def mirror_plan(graph: Graph, num_forward_heads: int, option, shapes: dict,
                dtypes: dict) -> MirrorPlan:
    """The chosen candidate: its graph with its shapes, dtypes, schedule and memory plan (the
    pipeline binds these as they are) and its figures."""
    budget = _parse_option(option)
    an = _Analysis(graph, num_forward_heads, shapes, dtypes)
    plain = an.plain()
    if isinstance(budget, int) and plain.arena_bytes <= budget:
        return plain  # no recomputation needed
    lows = an.lowest()
    smallest = min([plain] + lows, key=lambda p: (p.arena_bytes, p.recompute_flops))
    if budget == "min":
        return smallest
    if isinstance(budget, int):
        if smallest.arena_bytes > budget:
            raise CoarsenetError(
                f"mirror: no recomputation plan fits a budget of {budget} bytes; the smallest "
                f"feasible budget is {smallest.arena_bytes} bytes (the smallest planned arena "
                f"found)")
        chosen = an.within(budget, smallest)
        fitting = [p for p in an.cache.values() if p.arena_bytes <= budget]
        chosen = an.refine(sorted(fitting, key=lambda p: -p.arena_bytes)[:REFINE_PLANS]
                           + [chosen], budget)
        single = segment_plan(graph, num_forward_heads, budget, shapes, dtypes)
        if single is not None and single.recompute_flops < chosen.recompute_flops:
            return single  # keeping expensive outputs inside segments beat whole blocks
        return chosen
    chosen = auto(an.curve(smallest), an.forward_flops)
    if chosen.recompute_flops == 0:
        return chosen
    # The knee's arena is the budget: keep expensive outputs where that recomputes less.
    fitting = [p for p in an.cache.values() if p.arena_bytes <= chosen.arena_bytes]
    return an.refine(sorted(fitting, key=lambda p: -p.arena_bytes)[:REFINE_PLANS],
                     chosen.arena_bytes)


def tradeoff_plans(graph: Graph, num_forward_heads: int, shapes: dict, dtypes: dict,
                   points: int = CURVE_POINTS) -> tuple[list, int]:
    """(the memory / recompute curve as MirrorPlans, from least memory to no recomputation,
    the forward pass's cost in the same units)."""
    an = _Analysis(graph, num_forward_heads, shapes, dtypes)
    lows = an.lowest()
    smallest = min([an.plain()] + lows, key=lambda p: (p.arena_bytes, p.recompute_flops))
    return an.curve(smallest, points), an.forward_flops


def auto(curve: list, forward_flops: int) -> MirrorPlan:
    """mirror="auto": the knee of the curve, unless a plan recomputing at most AUTO_PASSES
    forward passes (a training step costs about three, so at most about 1/6 more time) needs
    less memory. The knee alone depends on the curve's far ends: on ResNet-152 the many
    cheap savings near no recomputation pull it to 5.3x less memory at 0.37 passes while 6x
    costs 0.48."""
    pts = pareto(curve)
    chosen = knee(pts)
    cheap = [p for p in pts if p.recompute_flops <= AUTO_PASSES * forward_flops]
    if cheap and cheap[0].arena_bytes < chosen.arena_bytes:
        return cheap[0]
    return chosen


def knee(curve: list) -> MirrorPlan:
    """The plan farthest below the chord from the least-memory plan to the no-recomputation
    plan, in (log2 arena, recompute / most recompute) coordinates: past it, each halving of
    memory costs more recomputation than before."""
    pts = pareto(curve)
    if len(pts) <= 2:
        return pts[-1] if len(pts) == 2 and pts[-1].recompute_flops == 0 else pts[0]
    xs = np.log2([p.arena_bytes for p in pts])
    ys = np.array([p.recompute_flops for p in pts], dtype=np.float64) / max(
        p.recompute_flops for p in pts)
    (x0, y0), (x1, y1) = (xs[0], ys[0]), (xs[-1], ys[-1])
    dist = (x1 - x0) * (ys - y0) - (y1 - y0) * (xs - x0)  # signed distance to the chord
    return pts[int(np.argmax(-dist * np.sign(x1 - x0)))]


def pareto(plans: list) -> list:
    """The plans no other beats on both arena and recompute, by increasing arena."""
    out = []
    for p in sorted(plans, key=lambda p: (p.arena_bytes, p.recompute_flops)):
        if not out or p.recompute_flops < out[-1].recompute_flops:
            out.append(p)
    return out


# ------------------------------------------------------------------------------- helpers


def _parse_option(option) -> int | str | None:
    if option is True or (isinstance(option, str) and option.strip().lower() == "auto"):
        return None
    if isinstance(option, str) and option.strip().lower() == "min":
        return "min"
    if isinstance(option, str) and option.strip().isdigit():
        option = int(option.strip())
    if isinstance(option, (int, np.integer)) and not isinstance(option, bool) and option > 0:
        return int(option)
    raise CoarsenetError(f"mirror must be 'auto', 'min' or a positive memory budget in bytes, "
                         f"found {option!r}")


class _Analysis(ForwardPart):
    """The chain of blocks, its solved DP, and the candidate plans measured so far."""

    def __init__(self, graph, num_forward_heads, shapes, dtypes):
        super().__init__(graph, num_forward_heads, shapes, dtypes)
        fwd_set, heads, forced, out_bytes = self.fwd_set, self.heads, self.forced, self.out_bytes
        self.keep = {n for n in self.fwd if n in heads or forced[n] is False}
        self.force = {n for n in self.fwd if forced[n] is True and n not in heads}
        read = {e for n in self.rest for e in n.inputs if e is not None and e.node in fwd_set}
        kept_bytes = {n: sum(entry_bytes(shapes[Entry(n, j)], dtypes[Entry(n, j)])
                             for j in range(n.num_outputs) if Entry(n, j) in read)
                      for n in self.fwd}
        flops = {n: _node_flops(n, shapes, n) for n in self.fwd}
        self.forward_flops = sum(flops.values())
        self.chain = c = Chain(self.fwd, _articulation(self.fwd), out_bytes, kept_bytes, flops,
                                   MAX_BLOCKS)
        # Expensive outputs by recompute saved per byte kept, most first (block outputs are
        # checkpoints already: the DP decides about those).
        outs = set(c.out)
        self.expensive = sorted(
            (n for n in self.fwd if n.op.flags & _ops.EXPENSIVE and n not in self.keep
             and n not in self.force and out_bytes[n] and n not in outs),
            key=lambda n: -flops[n] / out_bytes[n])
        # Candidates: (model bytes, recompute, solution, slots, q) where the least recompute
        # drops. Below a few forward passes of recompute the arena barely shrinks
        # (parameters, gradients and workspaces stay) while the copies multiply
        # (quadratically at the very least memory), so plans costing more than
        # MAX_RECOMPUTE forward passes are not considered.
        self._limit = MAX_RECOMPUTE * max(self.forward_flops, 1)
        self._bytes = (out_bytes, kept_bytes, flops)
        found = []
        for q in DP_KEEP_EXPENSIVE:  # kept outputs pay off at the low-memory end only
            found += self._solve(q, spans=(4, 1) if q == 0 else (4,))
        self.cands = []
        for cand in sorted(found, key=lambda x: (x[0], x[1])):
            if not self.cands or cand[1] < self.cands[-1][1]:
                self.cands.append(cand)
        if not self.cands:  # nothing within the limit: the least-recompute plan of all
            sol = self._last_solution
            self.cands = [(self._top, 0.0, sol, len(sol.T[0]) - 1, 0.0, c)]
        # "min" also looks at the chain cut at every articulation point: its finer blocks
        # reach a smaller arena at the low end (ResNet-50: 294 vs 328 MiB), though its model
        # overcounts (an add's output counted as held), so it is not mixed into the curve.
        fine = Chain(self.fwd, _articulation(self.fwd), out_bytes, kept_bytes, flops,
                     MAX_BLOCKS, merge=False)
        self.fine_cands = []
        if len(fine.blocks) > len(c.blocks):
            for cand in sorted(self._solve(0.0, fine, (4,)), key=lambda x: (x[0], x[1])):
                if not self.fine_cands or cand[1] < self.fine_cands[-1][1]:
                    self.fine_cands.append(cand)
        self.cache: dict = {}
        self.source: dict = {}  # id(plan) -> its candidate

    def _solve(self, q: float, chain=None, spans=(4, 1)) -> list:
        """The DP's candidates when the forward pass keeps the fraction q of the expensive
        outputs (most recompute saved per byte first) until their block's backward (the DP's
        held bytes: taken by the block's first forward, freed by its backward), recomputing
        a block skips them, so its cost drops. Two solves: one over the whole range, one four times
        finer over its first quarter (the low-memory end, where a slot's rounding matters
        most); slots: as many as keep the O(L^3 S) solve well under a second."""
        c, (out_bytes, kept_bytes, flops) = chain or self.chain, self._bytes
        held = set(self.expensive[:round(q * len(self.expensive))])
        if q and not held:
            return []
        inner = [sum(kept_bytes[n] for n in b if n in held) for b in c.blocks]
        uf = [u - sum(flops[n] for n in b if n in held) for u, b in zip(c.uf, c.blocks)]
        wabar = [max(w - e, 1) for w, e in zip(c.wabar, inner)]
        mb = [m - e for m, e in zip(c.mb, inner)]
        hold = [sum(out_bytes[n] for n in b if n in held) for b in c.blocks]
        L = len(c.blocks)
        S = int(np.clip(1e7 / (L ** 3 / 6 + L * L + 1), 48, 512))
        top = sum(wabar) + sum(hold) + max(b - w for b, w in zip(mb, wabar))
        if not q:
            self._top = top
        found = []
        for span in (top / k for k in spans):
            slot = max(1, int(-(-span // S)))

            def slots(xs, slot=slot):
                return [-(-int(x) // slot) for x in xs]

            sol = ChainSolution(uf, slots(c.wa), slots(wabar), slots(mb), S + 2, slots(hold))
            t0 = sol.T[0]
            found += [(m * slot, float(t0[m]), sol, m, q, c) for m in range(len(t0))
                      if np.isfinite(t0[m]) and t0[m] <= self._limit]
            if not q:
                self._last_solution = sol
        return found

    def evaluate(self, cand, q: float = 0.0) -> MirrorPlan:
        """The plan of a candidate (None: no recomputation), built and planned; q: the
        fraction of the expensive outputs (those saving most recompute per byte first) that
        the forward pass keeps, so that recomputed blocks read them instead of running the
        op again (a choice inside blocks the chain model does not make)."""
        if cand is not None and not q:
            q = cand[4]  # the fraction the DP solved this candidate for
        key = None if cand is None else (id(cand[2]), cand[3], q)
        if key not in self.cache:
            keep = self.keep | set(self.expensive[:round(q * len(self.expensive))])
            chain = self.chain if cand is None else cand[5]
            L = len(chain.blocks)
            ops = ([("Fall", i, True) for i in range(L)] + [("B", i) for i in reversed(range(L))]
                   if cand is None else cand[2].ops(cand[3]))
            new, shapes, dtypes = build(self.graph, self.nh, self.rest, chain, ops,
                                        keep, self.force, self.shapes, self.dtypes)
            self.cache[key] = measured(new, self.nh, shapes, dtypes,
                                       sum(1 for o in ops if o[0] == "Fck" and o[2]),
                                       0 if cand is None else cand[0])
            self.source[id(self.cache[key])] = cand
        return self.cache[key]

    def refine(self, plans: list, limit: int) -> MirrorPlan:
        """The least recompute among `plans` and their variants keeping more expensive
        outputs (q grows while the arena stays within `limit`)."""
        best = min(plans, key=lambda p: (p.recompute_flops, p.arena_bytes))
        for p in sorted(plans, key=lambda p: p.arena_bytes)[:REFINE_PLANS]:
            cand = self.source.get(id(p))
            if cand is None:
                continue
            for q in _KEEP_EXPENSIVE:
                variant = self.evaluate(cand, q)
                if variant.arena_bytes > limit:
                    break
                if variant.recompute_flops < best.recompute_flops:
                    best = variant
        return best

    def plain(self) -> MirrorPlan:
        return self.evaluate(None)

    def lowest(self) -> list:
        """The plans of the fewest slots: the model's memory is approximate, so the smallest
        planned arena is looked for among a few."""
        return [self.evaluate(m) for m in self.cands[:LOW_TRIES] + self.fine_cands[:LOW_TRIES]]

    def within(self, budget: int, smallest: MirrorPlan) -> MirrorPlan:
        """The least recompute found among the plans that fit: the arena grows with the DP's
        memory, so the largest fitting candidate is bisected for."""
        lo, hi = 0, len(self.cands) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.evaluate(self.cands[mid]).arena_bytes <= budget:
                lo = mid
            else:
                hi = mid - 1
        fitting = [p for p in list(self.cache.values()) + [smallest]
                   if p.arena_bytes <= budget]
        return min(fitting, key=lambda p: (p.recompute_flops, p.arena_bytes))

    def curve(self, smallest: MirrorPlan, points: int = CURVE_POINTS) -> list:
        """Plans spread over the candidates by the DP's memory (geometrically), with the
        least-memory plan and the plain one; by increasing arena."""
        lo, hi = self.cands[0][0], self.cands[-1][0]
        wanted = np.geomspace(max(lo, 1), max(hi, 1), points)
        picks = {min(range(len(self.cands)), key=lambda i: abs(self.cands[i][0] - w))
                 for w in wanted}
        # For auto(): the least DP memories within AUTO_PASSES of recompute. A few: the
        # planner's arena varies by +-10% between neighbouring memories of the model.
        cheap = [i for i, c in enumerate(self.cands)
                 if c[1] <= AUTO_PASSES * self.forward_flops]
        picks.update(cheap[:AUTO_TRIES])
        plans = {id(p): p for p in [self.evaluate(self.cands[i]) for i in sorted(picks)]
                 + [smallest, self.plain()]}
        return sorted(plans.values(), key=lambda p: (p.arena_bytes, p.recompute_flops))


def _articulation(fwd: list) -> list:
    """articulation[p]: the only forward output that a node after position p reads from
    positions <= p is the one of the node at p (a clean cut between two blocks)."""
    pos = {n: p for p, n in enumerate(fwd)}
    last = {}
    for p, node in enumerate(fwd):
        for e in node.inputs:
            if e.node in pos:
                last[e.node] = p
    active, out = set(), []
    for p, node in enumerate(fwd):
        active = {n for n in active if last[n] > p}
        if last.get(node, -1) > p:
            active.add(node)
        out.append(active == {node})
    return out
