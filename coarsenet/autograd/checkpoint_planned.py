"""checkpoint through the planner: a traceable segment runs as a bound, mirror-planned executor.

The segment is traced once per input signature into a symbol (HybridBlocks trace themselves
when called on symbols, as hybridize does) and bound with the mirror option, so the recompute
in backward is itself planned: backward runs the segment's forward again from its saved inputs
and the executor's backward range, whose mirror copies recompute what the plan did not keep.

Memory: every executor bound here uses ONE arena per thread (Executor's shared_arena), sized to
the largest plan; segments never run interleaved (a forward or a backward is one complete run),
so between a segment's forward and its backward nothing of it is held but its inputs and its
outputs (copied out of the arena).

Seeds: an imperative Dropout call draws `random.next_seed()`; a program call draws
RandomBits(step_seed, seed_key). Checkpoint draws one seed per random op in the order the trace
called them (Node.seq), exactly as the imperative run would, and runs each random call alone with
the step seed that RandomBits maps to that seed (RandomBits is a bijection in its seed), so
Dropout masks equal the imperative run's. BatchNorm statistics: the forward in backward saves
and restores the aux states, so they are updated once, by the segment's forward.
"""
from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from .. import ndarray as _nd
from .. import ops as _ops
from .. import random as _random
from ..base import CoarsenetError
from ..graph import BACKWARD, OP
from ..ndarray import NDArray
from .tape import record_custom

_hooks = _nd.hooks
UNTRACEABLE = object()
_MAX_TRACES = 64
_traces: OrderedDict = OrderedDict()   # trace key -> _Trace or the reason fn is untraceable
_local = threading.local()             # .arena: this thread's shared arena (uint8 array)


class _Refused(Exception):
    pass


def _refuse(op, *_):
    raise _Refused(f"imperative op '{op.name}' on NDArrays")


class _Trace:
    """The symbol of one fn for one input signature, and its executors."""

    def __init__(self, symbol, names, params, num_outputs, single):
        self.symbol, self.names, self.params = symbol, names, params
        self.num_outputs, self.single = num_outputs, single
        self.bound: dict = {}  # (requires grad per input, training, thread) -> _Bound
        # Random forward ops in the order fn called them, by their (rewrite-shared) attrs dict.
        nodes = [n for n in symbol._graph().nodes if n.kind == OP and _is_random(n.op)]
        self.seed_order = {id(n.attrs): k for k, n in enumerate(sorted(nodes,
                                                                       key=lambda n: n.seq))}


def _is_random(op) -> bool:
    return bool(op.flags & _ops.NONDETERMINISTIC)


def _key(fn, args, training, mirror):
    """A trace is reused for the same callable (a fresh lambda over the same objects counts as
    the same), input shapes and dtypes, training mode and mirror option."""
    code = getattr(fn, "__code__", None)
    if getattr(fn, "__self__", None) is not None:      # bound method: made anew at each access
        who = (id(fn.__self__), id(fn.__func__))
        keep = (fn.__self__, fn.__func__)
    elif code is not None:
        cells = tuple(c.cell_contents for c in fn.__closure__ or ())
        who = (id(code), tuple(id(c) for c in cells))
        keep = (code, cells)
    else:
        who, keep = id(fn), fn
    sig = tuple((a.shape, a.dtype.str) for a in args)
    return (who, sig, bool(training), repr(mirror)), keep


def call(fn, args: list, mirror):
    """Runs checkpoint(fn, *args) through a planned executor; UNTRACEABLE when fn cannot be
    traced into a graph (the caller then recomputes imperatively)."""
    training = _hooks.training
    key, keep = _key(fn, args, training, mirror)
    entry = _traces.get(key)
    if entry is None:
        entry = _trace(fn, args)
        if entry is None:
            return UNTRACEABLE       # parameters not initialised yet: the imperative run does it
        _traces[key] = (entry, keep)
        if len(_traces) > _MAX_TRACES:
            _traces.popitem(last=False)
    else:
        _traces.move_to_end(key)
        entry = entry[0]
    if isinstance(entry, str):
        return UNTRACEABLE
    bound = _bound(entry, args, training, mirror)
    if bound is None:
        return UNTRACEABLE
    return bound.run(args, training)


def reason(fn, args: list, mirror="min", train_mode: bool = True):
    """Why checkpoint(fn, *args) recomputes imperatively (None if it uses the planner)."""
    key, _ = _key(fn, args, train_mode, mirror)
    entry = _traces.get(key)
    if entry is None:
        return "not traced yet"
    return entry[0] if isinstance(entry[0], str) else None


def _trace(fn, args):
    from .. import symbol as sym
    from ..nn import parameter as _param

    names = ["data"] if len(args) == 1 else [f"data{i}" for i in range(len(args))]
    seen: dict = {}
    old = _hooks.replay, _param.TRACING.seen
    _hooks.replay = _refuse  # an nd op on a captured NDArray cannot be traced: stop before it runs
    _param.TRACING.seen = seen
    try:
        out = fn(*[sym.var(n) for n in names])
    except Exception as err:  # noqa: BLE001 - any failure means: recompute imperatively
        return f"tracing failed: {type(err).__name__}: {err}"
    finally:
        _hooks.replay, _param.TRACING.seen = old
    single = isinstance(out, sym.Symbol)
    outs = [out] if single else list(out) if isinstance(out, (list, tuple)) else None
    if not outs or not all(isinstance(o, sym.Symbol) for o in outs):
        return f"fn returned {type(out).__name__}, not symbols"
    if any(p._data is None for p in seen.values()):
        return None
    symbol = outs[0] if single else sym.Group(outs)
    unknown = [n for n in symbol.list_arguments() + symbol.list_auxiliary_states()
               if n not in names and n not in seen]
    if unknown:
        return f"the traced graph reads {', '.join(unknown)}, neither an input nor a parameter"
    return _Trace(symbol, names, seen, len(outs), single)


def _thread_arena():
    return getattr(_local, "arena", None)


def arena_bytes() -> int:
    """Bytes of this thread's checkpoint arena (the largest planned segment so far)."""
    arena = _thread_arena()
    return 0 if arena is None else arena.nbytes


def _bound(trace: _Trace, args, training, mirror):
    key = (tuple(a._tape is not None for a in args), bool(training), threading.get_ident())
    b = trace.bound.get(key)
    if b is not None and b.valid():
        return b
    try:
        b = _Bound(trace, args, mirror)
    except CoarsenetError:
        if isinstance(mirror, int):
            raise  # an infeasible budget is the caller's to fix
        return None  # the graph does not bind: the imperative run reports any real error
    if b.exe is None:
        return None
    trace.bound[key] = b
    return b


class _Bound:
    """One executor of a trace, its seeded program and the parameters it read."""

    def __init__(self, trace: _Trace, args, mirror):
        from ..executor import Executor

        self.trace = trace
        arrays, grads, reqs, aux = {}, {}, {}, {}
        for name, x in zip(trace.names, args):
            arrays[name] = NDArray(np.zeros(x.shape, x.dtype))
            reqs[name] = "write" if x._tape is not None else "null"
        self.param_names = [n for n in trace.symbol.list_arguments() if n not in arrays]
        for name in self.param_names:
            p = trace.params[name]
            arrays[name] = p.data()
            reqs[name] = "null" if p.grad_req == "null" else "write"
        for name in trace.symbol.list_auxiliary_states():
            aux[name] = trace.params[name].data()
        for name, req in reqs.items():
            if req != "null":
                grads[name] = NDArray(np.zeros(arrays[name].shape, arrays[name].dtype))
        self.bound_data = [(trace.params[n], a._data) for n, a in {**arrays, **aux}.items()
                           if n in trace.params]
        arena = _thread_arena()
        exe = Executor(trace.symbol, arrays, grads, reqs, aux, mirror=mirror,
                       shared_arena=arena)
        if arena is None or exe._arena.nbytes > arena.nbytes:
            _local.arena = exe._arena  # the largest plan so far: later executors share it
        self.arena = _local.arena
        self.program = _SeededProgram(exe, trace.seed_order)
        self.exe = exe if self.program.complete else None
        if self.exe is not None:
            exe._program = self.program  # Executor.backward runs the seeded program

    def valid(self) -> bool:
        """Parameters still hold the arrays bound (cast / re-init replaces them), and the
        executor uses this thread's arena (a later, larger plan replaced it)."""
        return self.arena is _thread_arena() and all(
            p._data is not None and p._data._data is data for p, data in self.bound_data)

    def run(self, args, training):
        exe, trace, prog = self.exe, self.trace, self.program
        seeds = [_random.next_seed() for _ in range(len(trace.seed_order))]  # as imperative
        nf = exe._sched.num_forward
        self._load(args)
        prog.seeds = seeds
        prog.run(0, nf, training, 0)
        outputs = [NDArray(o._data.copy()) for o in exe.outputs[: trace.num_outputs]]
        params = [exe.arg_dict[n] for n in self.param_names]
        saved = [x._data for x in args]  # all the closure holds: the inputs, output shapes
        metas = [(o.shape, o.dtype) for o in outputs]

        def planned_backward(out_grads):
            self._load(saved)
            prog.seeds = seeds
            aux = [a._data.copy() for a in exe.aux_arrays]
            prog.run(0, nf, training, 0)
            for a, value in zip(exe.aux_arrays, aux):  # statistics were updated by forward
                np.copyto(a._data, value)
            heads = [np.zeros(*m) if g is None else g for g, m in zip(out_grads, metas)]
            exe.backward([NDArray(h) for h in heads], is_train=training)
            names = trace.names + self.param_names
            return [exe.grad_dict[n]._data if n in exe.grad_dict else None for n in names]

        planned_backward.__name__ = "checkpoint (planned)"
        record_custom(list(args) + params, outputs, planned_backward)
        return outputs[0] if trace.single else outputs

    def _load(self, arrays):
        for name, a in zip(self.trace.names, arrays):
            if name not in self.exe.arg_dict:
                continue  # an input the segment does not read
            np.copyto(self.exe.arg_dict[name]._data, a._data if isinstance(a, NDArray) else a)

    def memory_stats(self) -> dict:
        stats = self.exe.memory_stats()
        stats["arena_bytes"] = self.exe._plan.arena_bytes
        return stats


class _SeededProgram:
    """The executor's Program, run so that each random call gets the seed the imperative run
    would have: `seeds[k]` for the k-th random op fn called."""

    def __init__(self, exe, seed_order: dict):
        self._program, self.seeds = exe._program, []
        self.calls = {}  # program index -> (seed index, seed key)
        self.complete = True
        keys = exe._seed_keys
        for k, node in enumerate(exe._sched.order):
            if node.kind == OP:
                fwd, key = node, keys.get(node.recompute_of or node, 0)
            elif node.kind == BACKWARD:
                fwd = node.backward.forward
                key = keys[fwd]
            else:
                continue
            if not _is_random(fwd.op):
                continue
            index = seed_order.get(id(fwd.attrs))  # copies share their original's attrs
            if index is None:  # a pass copied attrs: cannot tell which op this is
                self.complete = False
            self.calls[k] = (index, key)
        self.order = sorted(self.calls)

    def __len__(self) -> int:
        return len(self._program)

    def run(self, begin: int, end: int, is_train: bool, step_seed: int) -> None:
        end = len(self._program) if end < 0 else end
        at = begin
        for k in self.order:
            if k < begin or k >= end:
                continue
            if at < k:
                self._program.run(at, k, is_train, 0)
            index, key = self.calls[k]
            self._program.run(k, k + 1, is_train, step_seed_for(self.seeds[index], key))
            at = k + 1
        if at < end:
            self._program.run(at, end, is_train, 0)


# ---------------------------------------------------------------- RandomBits, inverted

_MASK = (1 << 64) - 1
_GAMMA = 0x9E3779B97F4A7C15
_M1_INV = pow(0xBF58476D1CE4E5B9, -1, 1 << 64)
_M2_INV = pow(0x94D049BB133111EB, -1, 1 << 64)


def _unshift(y: int, s: int) -> int:
    """Inverse of x ^ (x >> s)."""
    x = y
    for _ in range(64 // s + 1):
        x = y ^ (x >> s)
    return x


def random_bits(seed: int, i: int) -> int:
    """cn::RandomBits (host.h): the op seed a program call with (step seed, key) gets."""
    z = (seed + _GAMMA * (i + 1)) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def step_seed_for(seed: int, key: int) -> int:
    """The step seed s with random_bits(s, key) == seed (splitmix64's finalizer is a bijection)."""
    z = _unshift(seed, 31)
    z = _unshift((z * _M2_INV) & _MASK, 27)
    z = _unshift((z * _M1_INV) & _MASK, 30)
    return (z - _GAMMA * (key + 1)) & _MASK


def memory_stats(fn, args: list, mirror="min", train_mode: bool = True) -> list:
    """memory_stats() of the executors checkpoint(fn, *args) bound (empty: not traced)."""
    key, _ = _key(fn, args, train_mode, mirror)
    entry = _traces.get(key)
    if entry is None or not isinstance(entry[0], _Trace):
        return []
    return [b.memory_stats() for b in entry[0].bound.values()]
