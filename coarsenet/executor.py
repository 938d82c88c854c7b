"""Executor: a symbol bound to arrays, planned once, run many times.

Binding takes the Plan of passes/pipeline.py (gradient, infer_shape, infer_type, then schedule
and plan_memory, or the mirror pass's already planned choice), allocates ONE arena for every
activation, activation gradient and workspace, and records every op call with its arrays and
its planned workspace size fixed in a `_core.Program`. forward() and backward() are
then one C++ loop each over a range of that program (the GIL is released, per-op overhead is a
few microseconds). Training and inference forward share the same calls; only `is_train` differs.

Inter-op parallelism (on by default; COARSENET_INTER_OP=0 at bind time, or the `inter_op`
argument, turns it off): the schedule cuts the calls into stages of independent ops, the memory
plan keeps a stage's bytes disjoint (checked here at bind), and the Program runs a stage's small
ops at the same time on the shared thread pool. Results are the same bits either way.

Batch parallelism (off by default: measured slower than the ops' own parallel loops on 2 cores;
COARSENET_BATCH_PAR=1 at bind time, or the `batch_par` argument, turns it on; the
`batch_parallel` attribute switches it at run time): small calls of
batch-separable ops run as independent single-threaded calls on slices of their batch
(passes/batch_split.py chooses them at bind time from shapes alone, bindings/batch_split.h runs
them). Results are the same bits for any thread count; against batch parallelism off, ops
computed element by element or sample by sample (ReLU, pooling, element-wise, BatchNorm with
moving statistics) give the same bits, convolutions and the sums over the batch (weight and
bias gradients) may differ in the last bits (see DESIGN.md).
"""
from __future__ import annotations

import os

import numpy as np

from . import _core
from . import profiler_base as _profiler
from . import random as _random
from .base import REQ_INPLACE, REQ_WRITE, CoarsenetError
from .graph import BACKWARD, HEAD_GRAD, OP, ZEROS, Entry
from .executor_reports import ExecutorReports
from .ndarray import NDArray
from .passes.pipeline import build_plan
from .passes.plan_memory import concurrency_conflicts
from .passes.schedule import stage_cost



class Executor(ExecutorReports):
    """Use Symbol.simple_bind or Symbol.bind to make one."""

    def __init__(self, symbol, args: dict, grads: dict, grad_req: dict, aux: dict,
                 mirror=None, shared_arena=None, inter_op=None, batch_par=None):
        self._symbol = symbol
        # None: the COARSENET_INTER_OP environment variable decides (default on).
        self._inter_op = inter_op_default() if inter_op is None else bool(inter_op)
        # None: COARSENET_BATCH_PAR decides (default off).
        self._batch_par = batch_par_default() if batch_par is None else bool(batch_par)
        self._mirror = mirror
        # A uint8 buffer from another executor that never runs interleaved with this one
        # (BucketingModule's largest bucket); used as this arena when it is big enough.
        self._shared_arena = shared_arena
        self._arg_names = symbol.list_arguments()
        self._aux_names = symbol.list_auxiliary_states()
        self.arg_dict = {n: args[n] for n in self._arg_names}
        self.aux_dict = {n: aux[n] for n in self._aux_names}
        self.grad_dict = {n: grads[n] for n in self._arg_names if grads.get(n) is not None}
        self._grad_req = grad_req
        self._monitor_callback = None  # (callback, monitor_all) from set_monitor_callback
        self._build()

    # ---------------------------------------------------------------- public arrays
    @property
    def arg_arrays(self) -> list:
        return [self.arg_dict[n] for n in self._arg_names]

    @property
    def grad_arrays(self) -> list:
        return [self.grad_dict.get(n) for n in self._arg_names]

    @property
    def aux_arrays(self) -> list:
        return [self.aux_dict[n] for n in self._aux_names]

    @property
    def output_dict(self) -> dict:
        return dict(zip(self._symbol.list_outputs(), self.outputs))

    # ---------------------------------------------------------------- building
    def _build(self) -> None:
        graph = self._symbol._graph()
        variables = _variables_by_name(graph)
        arrays = {**self.arg_dict, **self.aux_dict}
        known_shapes = {n: a.shape for n, a in arrays.items()}
        known_types = {n: a.dtype for n, a in arrays.items()}
        wrt = {variables[n]: req for n, req in self._grad_req.items()
               if req in ("write", "add") and n in self.grad_dict}
        # The passes live in passes/pipeline.py; the executor only binds their Plan.
        plan = build_plan(graph, known_shapes, known_types, wrt, self._mirror,
                          check=lambda g, s, t: self._check_bound(g, s, t, arrays),
                          concurrent=self._inter_op and self._mirror is None,
                          batch_par=self._batch_par and self._mirror is None)
        full, n_heads, grads, head_grads = (plan.graph, plan.num_forward_heads, plan.grads,
                                            plan.head_grads)
        self._plan, sched, self._slices = plan.memory, plan.schedule, plan.slices
        self._sched, self._graph, self._shapes, self._dtypes = sched, full, plan.shapes, plan.dtypes
        self._seed_keys = _seed_keys(sched)
        # Requested gradients no gradient reaches (behind BlockGrad): 'write' means zeros.
        self._zero_grads = [self.grad_dict[var.name]._data for var, e in grads.items()
                            if e is None and wrt[var] == "write"]
        self._allocate(head_grads)
        self._build_program()
        self._set_stages()
        self.outputs = [NDArray(self._array(e)) for e in full.heads[:n_heads]]
        self._step_seed = 0

    def _allocate(self, head_grads) -> None:
        """The arena (once) and the head-gradient buffers (ones unless backward gets some)."""
        n, shared = self._plan.arena_bytes, self._shared_arena
        self._arena = shared[:n] if shared is not None and shared.nbytes >= n else \
            _aligned_bytes(n)
        self._views = {}
        self._head_grads = []
        for k, var in enumerate(head_grads):
            e = self._graph.heads[k]
            self._head_grads.append(None if var is None else
                                    np.ones(self._shapes[e], dtype=self._dtypes[e]))

    def _check_bound(self, graph, shapes, dtypes, arrays) -> None:
        missing = [n.name for n in graph.variables()
                   if n.role not in (HEAD_GRAD, ZEROS) and n.name not in arrays]
        if missing:
            raise CoarsenetError(f"bind: no array given for: {', '.join(missing)}")
        for n in graph.variables():
            if n.name in arrays:
                e = Entry(n, 0)
                a = arrays[n.name]
                if shapes[e] != a.shape:
                    raise CoarsenetError(f"bind: argument '{n.name}' has shape {a.shape}, the "
                                         f"graph needs {shapes[e]}")
                if dtypes[e] != a.dtype:
                    raise CoarsenetError(f"bind: argument '{n.name}' has dtype {a.dtype}, the "
                                         f"graph needs {dtypes[e]}")
        for e, s in shapes.items():
            if s is None:
                raise CoarsenetError(f"bind: cannot infer the shape of '{e.node.name}' "
                                     f"(output {e.index})")

    def _array(self, e: Entry) -> np.ndarray:
        view = self._views.get(e)
        if view is not None:
            return view
        plan = self._plan
        if e in plan.offsets:
            offset, nbytes = plan.offsets[e], plan.nbytes[e]
            view = self._arena[offset: offset + nbytes].view(self._dtypes[e]).reshape(
                self._shapes[e])
        else:
            key = plan.external[e]
            if isinstance(key, tuple):  # ("grad", name)
                view = self.grad_dict[key[1]]._data
            elif key.role == HEAD_GRAD:
                view = self._head_grads[self._graph.heads.index(key.like)]
            elif key.role == ZEROS:
                view = np.zeros(self._shapes[e], dtype=self._dtypes[e])
            else:
                source = self.arg_dict.get(key.name)
                view = (source if source is not None else self.aux_dict[key.name])._data
        self._views[e] = view
        return view

    def _workspace(self, node):
        """(the node's workspace in the arena or None, its size): the planner's figure, which
        the Program uses as it is instead of asking the op again."""
        ws = self._plan.workspaces.get(node)
        if ws is None:
            return None, 0
        return self._arena[ws[0]: ws[0] + ws[1]], ws[1]

    def _build_program(self) -> None:
        self._program = _core.Program()
        plan = self._plan
        for node in self._sched.order:
            if node.kind == OP:
                n_in = node.num_inputs
                req = [REQ_INPLACE if Entry(node, j) in plan.shares else REQ_WRITE
                       for j in range(node.num_outputs)]
                workspace, ws_bytes = self._workspace(node)
                self._program.add_forward(
                    node.op, [self._array(e) for e in node.inputs[:n_in]],
                    [self._array(Entry(node, j)) for j in range(node.num_outputs)], req,
                    [self._array(e) for e in node.inputs[n_in:]], workspace,
                    seed_key=self._seed_keys.get(node.recompute_of or node, 0),
                    is_recompute=node.is_recompute, workspace_bytes=ws_bytes,
                    slices=self._slices.get(node, 1))
            elif node.kind == BACKWARD:
                call = node.backward
                fwd = call.forward
                req = list(call.req)
                for i, r in enumerate(req):
                    if r == REQ_WRITE and Entry(node, i) in plan.inplace:
                        req[i] = REQ_INPLACE
                opt = lambda e: None if e is None else self._array(e)  # noqa: E731
                workspace, ws_bytes = self._workspace(node)
                self._program.add_backward(
                    node.op, [opt(e) for e in call.out_grads], [opt(e) for e in call.inputs],
                    [opt(e) for e in call.outputs],
                    [self._array(Entry(node, i)) if r else tuple(self._shapes[fwd.inputs[i]])
                     for i, r in enumerate(req)],
                    req, [self._array(e) for e in fwd.aux_inputs()], workspace,
                    seed_key=self._seed_keys[fwd], workspace_bytes=ws_bytes,
                    slices=self._slices.get(node, 1))

    def _set_stages(self) -> None:
        """Hands the schedule's stages to the Program after checking that no two ops of a
        stage touch the same bytes (a planner bug would otherwise be a silent race)."""
        sched = self._sched
        if sched.num_stages == len(sched.order):
            return
        conflicts = concurrency_conflicts(sched, self._plan)
        if conflicts:
            a, b = conflicts[0]
            raise CoarsenetError(f"bind: the memory plan gives '{a.name}' and '{b.name}', which "
                                 "may run concurrently, overlapping bytes (a planner bug); set "
                                 "COARSENET_INTER_OP=0 to bind without inter-op parallelism")
        cost = [stage_cost(node, self._shapes) for node in sched.order]
        self._program.set_stages(list(sched.stage_of), cost)

    @property
    def inter_op(self) -> bool:
        """Whether stages of independent ops run concurrently (settable; an executor bound
        without inter-op has one op per stage, so turning it on there changes nothing)."""
        return self._program.concurrent and self._sched.num_stages < len(self._sched.order)

    @inter_op.setter
    def inter_op(self, on: bool) -> None:
        self._program.concurrent = bool(on)

    @property
    def batch_parallel(self) -> bool:
        """Whether calls chosen at bind time run in slices of their batch (settable; an
        executor bound without batch parallelism has no such call, so turning it on there
        changes nothing)."""
        return self._program.batch_parallel and bool(self._slices)

    @batch_parallel.setter
    def batch_parallel(self, on: bool) -> None:
        self._program.batch_parallel = bool(on)

    # ---------------------------------------------------------------- running
    def forward(self, is_train: bool = False, **inputs) -> list:
        """Copies the given inputs into their argument arrays and runs the forward pass."""
        for name, value in inputs.items():
            if name not in self.arg_dict:
                raise CoarsenetError(f"forward: unknown argument '{name}'; arguments: "
                                     f"{', '.join(self._arg_names)}")
            target = self.arg_dict[name]._data
            source = value._data if isinstance(value, NDArray) else np.asarray(value)
            if source.shape != target.shape:
                raise CoarsenetError(f"forward: argument '{name}' expects shape {target.shape}, "
                                     f"found {source.shape}")
            np.copyto(target, source, casting="unsafe")
        self._step_seed = _random.next_seed()
        if self._monitor_callback is None and not _profiler.state.recording:
            self._program.run(0, self._sched.num_forward, bool(is_train), self._step_seed)
        else:  # one op at a time, timed and/or reported (mx.profiler, mx.mon.Monitor)
            _profiler.run_program(self, 0, self._sched.num_forward, is_train, self._step_seed)
        return self.outputs

    def backward(self, out_grads=None, is_train: bool = True) -> None:
        """Runs the backward pass; `out_grads` are the head gradients (default: ones).
        is_train=False differentiates the inference-mode computation (BatchNorm with its
        moving statistics), as MXNet's Executor.backward."""
        if isinstance(out_grads, (NDArray, np.ndarray)):
            out_grads = [out_grads]
        given = list(out_grads or [])
        # Every buffer is refilled every time: gradients of outputs that are also read inside
        # the graph accumulate into these buffers during backward.
        for k, buffer in enumerate(self._head_grads):
            if buffer is None:
                continue
            g = given[k] if k < len(given) else None
            if g is None:
                buffer.fill(1)
            else:
                data = g._data if isinstance(g, NDArray) else np.asarray(g)
                if data.shape != buffer.shape:
                    raise CoarsenetError(f"backward: gradient of output {k} must have shape "
                                         f"{buffer.shape}, found {data.shape}")
                np.copyto(buffer, data, casting="unsafe")
        for g in self._zero_grads:
            g.fill(0)
        if self._monitor_callback is None and not _profiler.state.recording:
            self._program.run(self._sched.num_forward, -1, bool(is_train), self._step_seed)
        else:
            _profiler.run_program(self, self._sched.num_forward, -1, is_train, self._step_seed)

    def set_monitor_callback(self, callback, monitor_all: bool = False) -> None:
        """callback(name, NDArray) after each forward op (MXNet's contract; mx.mon.Monitor);
        with monitor_all the op inputs are reported too. None removes it."""
        self._monitor_callback = None if callback is None else (callback, bool(monitor_all))

    # ---------------------------------------------------------------- reuse
    def reshape(self, partial_shaping=False, allow_up_sizing=False, **new_shapes) -> Executor:
        """A new executor for new input shapes; arrays whose shape is unchanged (parameters) are
        shared with this one."""
        known = dict(new_shapes)
        arg_shapes, _, aux_shapes = self._symbol.infer_shape_partial(**known)
        for name, shape in zip(self._arg_names, arg_shapes):
            if shape is None:
                known[name] = self.arg_dict[name].shape
        arg_shapes, _, aux_shapes = self._symbol.infer_shape_partial(**known)
        args, grads, aux = {}, {}, {}
        for name, shape in zip(self._arg_names, arg_shapes):
            old = self.arg_dict[name]
            same = tuple(shape) == old.shape
            args[name] = old if same else NDArray(np.zeros(shape, dtype=old.dtype))
            g = self.grad_dict.get(name)
            if g is not None:
                grads[name] = g if same else NDArray(np.zeros(shape, dtype=g.dtype))
        for name, shape in zip(self._aux_names, aux_shapes):
            old = self.aux_dict[name]
            aux[name] = old if tuple(shape) == old.shape else NDArray(np.zeros(shape, old.dtype))
        return Executor(self._symbol, args, grads, self._grad_req, aux, mirror=self._mirror,
                        inter_op=self._inter_op, batch_par=self._batch_par)

    def copy_params_from(self, arg_params: dict, aux_params: dict | None = None,
                         allow_extra_params: bool = False) -> None:
        for params, target, what in ((arg_params, self.arg_dict, "argument"),
                                     (aux_params or {}, self.aux_dict, "auxiliary state")):
            for name, value in params.items():
                if name not in target:
                    if allow_extra_params:
                        continue
                    raise CoarsenetError(f"copy_params_from: executor has no {what} '{name}'")
                data = value._data if isinstance(value, NDArray) else np.asarray(value)
                if data.shape != target[name].shape:
                    raise CoarsenetError(f"copy_params_from: {what} '{name}' expects shape "
                                         f"{target[name].shape}, found {data.shape}")
                np.copyto(target[name]._data, data, casting="unsafe")


def inter_op_default() -> bool:
    """COARSENET_INTER_OP: 0 / false / off binds executors without inter-op parallelism."""
    return os.environ.get("COARSENET_INTER_OP", "1").strip().lower() not in ("0", "false", "off",
                                                                               "no")


def batch_par_default() -> bool:
    """COARSENET_BATCH_PAR: 1 / true / on binds executors with batch parallelism (default off:
    on 2 cores it made the 100-residual-unit net 1.65x and ResNet-18 CIFAR 1.09x slower)."""
    return os.environ.get("COARSENET_BATCH_PAR", "0").strip().lower() in ("1", "true", "on",
                                                                          "yes")


def _variables_by_name(graph) -> dict:
    variables = {}
    for node in graph.variables():
        if variables.setdefault(node.name, node) is not node:
            raise CoarsenetError(f"two different variables are named '{node.name}'; names must "
                                 "be unique to bind")
    return variables


def _seed_keys(sched) -> dict:
    """One key per forward node; its backward and any recomputation of it use the same key, so
    they see the same random numbers (Dropout's mask)."""
    return {node: k + 1 for k, node in enumerate(sched.sequential_forward)}


def _aligned_bytes(nbytes: int, align: int = 64) -> np.ndarray:
    raw = np.empty(nbytes + align, dtype=np.uint8)
    start = (-raw.ctypes.data) % align
    return raw[start: start + nbytes]
