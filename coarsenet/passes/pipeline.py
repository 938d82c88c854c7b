"""The pass pipeline of one binding — requires: a graph, the shapes and dtypes of the bound
arrays, which variables want gradients ('write' / 'add') and the mirror option. Provides: one
Plan (the final graph, its shapes, dtypes, schedule and memory plan) that an Executor binds.

[fused_recompute] -> gradient -> infer_shape -> infer_type -> [mirror -> infer_shape -> infer_type] -> schedule ->
plan_memory. `check(graph, shapes, dtypes)` runs after inference, before scheduling, so a bind
error (a missing array, a wrong shape) is reported as such rather than as a planning failure.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..graph import Graph
from .fused_recompute import fused_recompute
from .gradient import gradient
from .infer_shape import infer_shape
from .infer_type import infer_type
from .mirror import mirror as mirror_pass
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


def build_plan(graph: Graph, known_shapes: dict, known_types: dict, wrt: dict, mirror=None,
               check=None) -> Plan:
    """wrt: {variable Node: 'write' | 'add'}; known_*: {variable name: shape / dtype}."""
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
    if mirror is not None and wrt:
        full = _apply_mirror(full, n_heads, mirror, shapes, dtypes)
        # The mirrored graph's gradient heads are new entries, in the same order.
        new_heads = iter(full.heads[n_heads:])
        grads = {var: None if e is None else next(new_heads) for var, e in grads.items()}
        shapes = infer_shape(full, known_shapes)
        dtypes = infer_type(full, known_types, default=np.float32)
    if check is not None:
        check(full, shapes, dtypes)
    sched = schedule(full, n_heads)
    external = {e: ("grad", var.name) for var, e in grads.items() if e is not None}
    memory = plan_memory(full, sched, shapes, dtypes, external)
    return Plan(full, n_heads, grads, head_grads, shapes, dtypes, sched, memory)


def _apply_mirror(graph, num_forward_heads, mirror, shapes, dtypes):
    """Contract of passes/mirror.py: `mirror(graph, num_forward_heads, option, shapes, dtypes)
    -> Graph` returns a new graph with the same heads in which backward nodes read recomputed
    copies of some forward nodes (OP nodes with `recompute_of` set to the original); the
    executor runs those in the backward range with is_recompute and the original's seed."""
    return mirror_pass(graph, num_forward_heads, mirror, shapes, dtypes)
