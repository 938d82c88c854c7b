"""The pass pipeline of one binding — requires: a graph, the shapes and dtypes of the bound
arrays, which variables want gradients ('write' / 'add') and the mirror option. Provides: one
Plan (the final graph, its shapes, dtypes, schedule and memory plan) that an Executor binds.

[fused_recompute] -> gradient -> infer_shape -> infer_type -> schedule -> plan_memory, or with
the mirror option [fused_recompute] -> gradient -> infer_shape -> infer_type -> mirror: the
mirror pass schedules and plans each candidate it measures, and its choice (passes/mirror_common.MirrorPlan) is the Plan's graph,
shapes, dtypes, schedule and memory plan as they are; nothing runs twice.
`check(graph, shapes, dtypes)` runs after inference, before mirroring and scheduling, so a bind
error (a missing array, a wrong shape) is reported as such rather than as a planning failure.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..graph import Graph
from .batch_split import batch_slices
from .fused_recompute import fused_recompute
from .gradient import gradient
from .infer_shape import infer_shape
from .infer_type import infer_type
from .mirror import mirror_plan
from .plan_memory import MemoryPlan, plan_memory
from .schedule import Schedule, schedule


@dataclass
class Plan:
    graph: Graph              # heads: forward heads, then the gradient entries
    num_forward_heads: int
    grads: dict               # variable Node -> gradient Entry in `graph` (None: none reaches it)
    head_grads: list          # per forward head: its HEAD_GRAD variable Node or None
    shapes: dict              # Entry -> shape
    dtypes: dict              # Entry -> numpy dtype
    schedule: Schedule
    memory: MemoryPlan
    slices: dict = field(default_factory=dict)  # Node -> batch slices (passes/batch_split.py)


def build_plan(graph: Graph, known_shapes: dict, known_types: dict, wrt: dict, mirror=None,
               check=None, concurrent: bool = False, batch_par: bool = False) -> Plan:
    """wrt: {variable Node: 'write' | 'add'}; known_*: {variable name: shape / dtype};
    concurrent: schedule stages of ops that may run at the same time (not with mirror, whose
    plans are sequential by design); batch_par: let small batch-separable calls run in slices
    of their batch (passes/batch_split.py; not with mirror either)."""
    if mirror is not None and wrt:
        graph = fused_recompute(graph)  # fused ops (RNN) recompute inside themselves
    if wrt:
        gg = gradient(graph, wrt)
        full, n_heads, grads, head_grads = (gg.graph, gg.num_forward_heads, gg.grads,
                                            gg.head_grads)
    else:
        full, n_heads, grads, head_grads = graph, len(graph.heads), {}, [None] * len(graph.heads)
    shapes = infer_shape(full, known_shapes)
    dtypes = infer_type(full, known_types, default=np.float32)
    if check is not None:
        check(full, shapes, dtypes)
    if mirror is not None and wrt:
        # The mirror pass measured its candidates by planning them: its choice comes with its
        # shapes, dtypes, schedule and memory plan, used as they are.
        chosen = mirror_plan(full, n_heads, mirror, shapes, dtypes)
        names = [var.name for var, e in grads.items() if e is not None]
        # The mirrored graph's gradient heads are new entries, in the same order.
        new_heads = iter(chosen.graph.heads[n_heads:])
        grads = {var: None if e is None else next(new_heads) for var, e in grads.items()}
        memory = replace(chosen.memory, external={
            e: ("grad", names[key[1]]) if isinstance(key, tuple) else key
            for e, key in chosen.memory.external.items()})
        return Plan(chosen.graph, n_heads, grads, head_grads, chosen.shapes, chosen.dtypes,
                    chosen.schedule, memory)
    sched = schedule(full, n_heads, concurrent=concurrent)
    external = {e: ("grad", var.name) for var, e in grads.items() if e is not None}
    slices = batch_slices(sched, shapes, dtypes) if batch_par else {}
    memory = plan_memory(full, sched, shapes, dtypes, external, slices)
    return Plan(full, n_heads, grads, head_grads, shapes, dtypes, sched, memory, slices)
