"""What a bound executor reports about itself: memory_stats(), debug_str() and profile().
Below executor.py, whose Executor inherits these; they read its plan, schedule and program."""
from __future__ import annotations

import time

from . import random as _random
from .graph import BACKWARD, OP, Entry
from .passes.mirror_common import recompute_flops


class ExecutorReports:
    def memory_stats(self) -> dict:
        """naive_bytes: every activation, activation gradient and workspace in its own buffer;
        planned_bytes: the arena actually allocated for all of them; param_bytes: argument and
        aux-state arrays (inputs included); grad_bytes: bound gradient arrays; workspace_bytes:
        all op workspaces summed; inplace_count / reused_count: entries written over an input /
        placed in a freed buffer; recomputed_count / recomputed_nodes: nodes a mirror pass re-runs;
        recompute_flops: their cost proxy (see passes/mirror.py); num_calls; batch_split_calls:
        calls that may run in slices of their batch (their slices' workspaces and gradient
        buffers are in workspace_bytes)."""
        stats = dict(self._plan.stats)
        stats["param_bytes"] = sum(a._data.nbytes for a in self.arg_arrays + self.aux_arrays)
        stats["grad_bytes"] = sum(g._data.nbytes for g in self.grad_dict.values())
        stats["num_calls"] = len(self._program)
        stats["batch_split_calls"] = len(self._slices)
        stats.update(_mirror_stats(self._graph, self._shapes))
        return stats

    def debug_str(self) -> str:
        plan = self._plan
        lines = [f"arena {plan.arena_bytes} bytes, {len(self._sched.order)} calls "
                 f"({self._sched.num_forward} forward)"]
        marks = _mirror_marks(self._sched.order)
        for step, node in enumerate(self._sched.order):
            lines.append(f"[{step}] {node.op_label} '{node.name}'{marks.get(node, '')}")
            outputs = (range(node.num_outputs) if node.kind != BACKWARD else
                       [i for i, r in enumerate(node.backward.req) if r])
            for j in outputs:
                e = Entry(node, j)
                note = ""
                target = plan.shares.get(e) or node.alias.get(j)
                if target is not None:
                    kind = "inplace of" if e in plan.inplace else "accumulates into"
                    note = f" {kind} '{target.node.name}'[{target.index}]"
                if e in plan.offsets:
                    lines.append(f"    out {j}: storage {plan.storage_of[e]} offset "
                                 f"{plan.offsets[e]} bytes {plan.nbytes[e]}{note}")
                else:
                    lines.append(f"    out {j}: bound array {_key_str(plan.external[e])}{note}")
            if node in plan.workspaces:
                offset, nbytes = plan.workspaces[node]
                lines.append(f"    workspace: offset {offset} bytes {nbytes}")
        return "\n".join(lines)

    def profile(self, is_train: bool = True, backward: bool = True) -> list:
        """Runs forward (and backward) one call at a time; returns [(op label, node name,
        seconds)] in execution order. For finding slow ops; normal runs use one C++ loop."""
        seed = self._step_seed = _random.next_seed()
        end = len(self._program) if backward else self._sched.num_forward
        timings = []
        for k in range(end):
            node = self._sched.order[k]
            t0 = time.perf_counter()
            self._program.run(k, k + 1, bool(is_train) or k >= self._sched.num_forward, seed)
            timings.append((node.op_label, node.name, time.perf_counter() - t0))
        return timings


def _key_str(key) -> str:
    if isinstance(key, tuple):
        return f"grad of '{key[1]}'"
    return f"'{key.name}'"


def _mirror_stats(graph, shapes) -> dict:
    """recomputed_nodes and recompute_flops (the mirror pass's cost proxy)."""
    copies = [n for n in graph.nodes if n.kind == OP and n.is_recompute]
    if not copies:
        return {"recomputed_nodes": 0, "recompute_flops": 0}
    return {"recomputed_nodes": len(copies), "recompute_flops": recompute_flops(graph, shapes)}


def _mirror_marks(order) -> dict:
    """debug_str notes: forward nodes a recomputation reads are checkpoints."""
    marks = {}
    for node in order:
        if node.kind == OP and node.is_recompute:
            marks[node] = f" [recompute of '{node.recompute_of.name}']"
            for e in node.inputs:
                if e.node.kind == OP and not e.node.is_recompute:
                    marks[e.node] = " [checkpoint]"
    return marks
