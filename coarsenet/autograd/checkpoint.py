"""Checkpointing: run a function without keeping its internals, recompute them in backward."""
from __future__ import annotations

from typing import Callable

import numpy as np

from .. import ndarray as _nd
from ..base import CODE_TO_DTYPE, REQ_WRITE, dtype_code
from ..ndarray import NDArray
from .tape import _backward, _Leaf, _record, record_custom

_hooks = _nd.hooks


def checkpoint(fn: Callable, *args):
    """Runs fn(*args) keeping only its inputs; its internals are recomputed during backward.

    Recomputation replays the same op seeds (Dropout draws the same mask) and runs with
    is_recompute=True (BatchNorm does not update its running statistics a second time).
    """
    if _hooks.record is None:
        return fn(*args)
    externals: dict[int, NDArray] = {}
    seeds: list[int] = []
    training = _hooks.training

    def collect(op, inputs, outputs, seed):
        seeds.append(seed)
        for x in inputs:
            if x._tape is not None:
                externals[id(x)] = x

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
