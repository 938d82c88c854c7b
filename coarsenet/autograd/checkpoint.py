"""Checkpointing: run a function without keeping its internals, recompute them in backward."""
from __future__ import annotations

from typing import Callable

import numpy as np

from .. import ndarray as _nd
from ..base import CODE_TO_DTYPE, REQ_WRITE, dtype_code
from ..ndarray import NDArray
from . import checkpoint_planned as _planned
from .tape import _backward, _Leaf, _record, record_custom

_hooks = _nd.hooks


def checkpoint(fn: Callable, *args, mirror="min"):
    """Runs fn(*args) keeping only its inputs and outputs; its internals are recomputed during
    backward. Under the same `cn.random.seed`, outputs, gradients, Dropout masks and BatchNorm
    running statistics (updated once) equal the run without checkpoint.

    Planned (the default when fn can be traced): fn is traced once per input signature
    (shapes, dtypes, train mode) by calling it on symbols, as hybridize does, so fn must be
    made of HybridBlocks (hybridized or not, in any Block container) and symbol-compatible
    operators on its inputs, and compute the same graph at every call. The trace is bound with
    `mirror` ("min", "auto" or a byte budget, see Symbol.simple_bind) so the recomputation in
    backward is itself planned: backward re-runs the segment's forward from its saved inputs and
    the executor's backward with the plan's own recomputation. All such executors of a thread
    share one arena sized to the largest plan; between forward and backward only the segment's
    inputs and outputs are held. `checkpoint_stats(fn, *args)` returns their memory_stats().

    Seeds: one per random op in the order fn calls them, as the imperative run draws them; a
    hybridized block inside fn is traced into the segment, so its masks equal those of the
    block run imperatively (a hybridized block's own executor draws one seed per call).

    Imperative (mirror=None, or fn cannot be traced: it calls nd ops on arrays it captures,
    runs Python control flow on values, returns non-arrays; `checkpoint_reason` says why):
    fn runs again op by op under recording during backward, with the first run's op seeds and
    is_recompute=True.
    """
    if _hooks.record is None or not any(isinstance(a, NDArray) for a in args):
        return fn(*args)  # not recording, or inside a symbolic trace (nested checkpoint)
    # Inside another checkpoint's imperative run (its collection or recomputation hooks),
    # op calls must go through those hooks so the outer segment sees and replays their seeds.
    nested = _hooks.record is not _record or _hooks.replay is not None
    if mirror is not None and not nested and all(isinstance(a, NDArray) for a in args):
        result = _planned.call(fn, list(args), mirror)
        if result is not _planned.UNTRACEABLE:
            return result
    externals: dict[int, NDArray] = {}
    seeds: list[int] = []
    training = _hooks.training

    def collect(op, inputs, outputs, seed):
        seeds.append(seed)
        for x in inputs:
            if x._tape is not None:
                externals[id(x)] = x
        if outer is not _record:  # an enclosing checkpoint's collection: it replays them too
            outer(op, inputs, outputs, seed)

    outer = _hooks.record
    _hooks.record = collect  # internal results get no tape entry, so they stay unrecorded
    try:
        result = fn(*args)
    finally:
        _hooks.record = outer
    outputs = [result] if isinstance(result, NDArray) else list(result)
    inputs = list(externals.values())

    def recompute_backward(out_grads):
        # The segment's inputs become temporary leaves collecting their gradients, fn runs again
        # under recording with the first run's seeds, and an inner walk fills those leaves.
        buffers = [np.zeros_like(x._data) for x in inputs]
        saved = [x._tape for x in inputs]
        outer = _hooks.record, _hooks.training
        replay = iter(seeds)
        try:
            for x, b in zip(inputs, buffers):
                x._tape = _Leaf(b, "add")
            _hooks.record, _hooks.training = _record, training
            _hooks.replay = lambda op, ins, aux, is_train: _replay(op, ins, aux, is_train,
                                                                   next(replay))
            again = fn(*args)
        finally:
            _hooks.record, _hooks.training = outer
            _hooks.replay = None
        try:
            again = [again] if isinstance(again, NDArray) else list(again)
            heads = [(y, g) for y, g in zip(again, out_grads) if g is not None and y._tape]
            if heads:
                _backward([y for y, _ in heads], [g for _, g in heads], False)
        finally:
            for x, t in zip(inputs, saved):
                x._tape = t
        return buffers

    recompute_backward.__name__ = f"checkpoint({getattr(fn, '__name__', 'fn')})"
    record_custom(inputs, outputs, recompute_backward)
    return result


def _replay(op, inputs, aux, is_train, seed):
    """A recomputed op call: same seed as the first run, is_recompute=True."""
    in_shapes, out_shapes, _ = op.infer_shape([x.shape for x in inputs],
                                              [a.shape for a in aux])
    _, out_types, _ = op.infer_type([dtype_code(x.dtype) for x in inputs])
    outputs = [np.empty(s, CODE_TO_DTYPE.get(t, np.float32))
               for s, t in zip(out_shapes, out_types)]
    op.forward(inputs, outputs, [REQ_WRITE] * len(outputs), aux, is_train=is_train,
               is_recompute=True, seed=seed)
    return seed, outputs


def checkpoint_stats(fn: Callable, *args, mirror="min", train_mode: bool = True) -> list:
    """The memory_stats() (planned_bytes, recomputed_nodes, arena_bytes, ...) of the executors
    checkpoint(fn, *args, mirror=mirror) bound under record(train_mode); empty if fn was not
    traced (not called yet, or recomputed imperatively)."""
    return _planned.memory_stats(fn, list(args), mirror, train_mode)


def checkpoint_reason(fn: Callable, *args, mirror="min", train_mode: bool = True):
    """Why checkpoint(fn, *args) recomputes imperatively; None when it uses the planner."""
    return _planned.reason(fn, list(args), mirror, train_mode)


def checkpoint_arena_bytes() -> int:
    """Bytes of this thread's shared checkpoint arena (the largest planned segment so far)."""
    return _planned.arena_bytes()
