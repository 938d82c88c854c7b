"""cn.mirror: the memory / recomputation trade-off of a training graph (planning only).

    curve = cn.mirror.tradeoff(symbol, {"data": (32, 3, 224, 224), "softmax_label": (32,)})
    cn.viz.plot_tradeoff(curve, "tradeoff.png")

Each point is a plan of the mirror pass (passes/mirror.py: the optimal multi-level schedule
of passes/mirror_chain.py for one memory of its model), built and measured with the real
memory planner: "budget" is the memory the schedule was solved for (its model), "planned_bytes"
the arena the planner gives the rewritten graph, "recompute_flops" the recomputation (the
pass's cost proxy) and "recompute_passes" the same in forward passes. The points run from the
least memory to no recomputation; the one mirror="auto" picks has "auto": True.
"""
from __future__ import annotations

from .passes.mirror import auto, pareto, tradeoff_plans


def tradeoff(symbol, shapes: dict, type_dict: dict | None = None, points: int = 10) -> list:
    """The curve for `symbol` bound with the input `shapes` (as simple_bind's keywords; every
    other argument gets a gradient). Runs no op."""
    req = {n: "write" for n in symbol.list_arguments() if n not in shapes}
    exe = symbol.simple_bind(grad_req=req, type_dict=type_dict, **shapes)
    plans, forward = tradeoff_plans(exe._graph, len(symbol.list_outputs()), exe._shapes,
                                    exe._dtypes, points)
    plans = pareto(plans)
    chosen = auto(plans, forward)
    return [{"budget": p.model_bytes, "planned_bytes": p.arena_bytes,
             "recompute_flops": p.recompute_flops,
             "recompute_passes": p.recompute_flops / max(forward, 1),
             "recomputed_nodes": p.recomputed_nodes, "auto": p is chosen} for p in plans]
