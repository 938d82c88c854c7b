"""The autograd state the imperative path shares with coarsenet.autograd, below both:
ndarray.py reads it on every op call and NDArray's own attach_grad / backward use it;
coarsenet.autograd (the tape, record(), grad()) sets it. Nothing here imports NDArray.
"""
from __future__ import annotations

import threading

from .base import CoarsenetError

GRAD_REQS = ("write", "add", "null")


class _Hooks(threading.local):
    """What autograd plugs into the imperative path.

    Per thread, as in MXNet: a thread running inference must not see another thread's
    `record()` (Dropout on, BatchNorm statistics updated), and two recording threads must not
    append to each other's tapes. The class attributes are each new thread's defaults.
    Read on every op call: `training` is the is_train flag given to ops;
    `record(op, inputs, outputs, seed)` is set while recording; `replay(op, in_arrays,
    aux_arrays, is_train) -> (seed, outputs)` replaces the op call while a checkpointed segment
    is recomputed (same seeds, is_recompute=True).
    """

    training = False
    record = None
    replay = None

    def is_training(self) -> bool:
        return self.training


hooks = _Hooks()


class Leaf:
    """The tape entry of an array with an attached gradient: its buffer and how to fill it."""

    __slots__ = ("grad", "req")

    def __init__(self, grad, req: str):
        self.grad, self.req = grad, req


def mark_variable(x, grad, req: str) -> None:
    """Makes array x a leaf whose gradient goes into array `grad` (NDArrays)."""
    if req not in GRAD_REQS:
        raise CoarsenetError(f"grad_req must be one of {GRAD_REQS}, found {req!r}")
    if grad.shape != x.shape:
        raise CoarsenetError(
            f"mark_variables: gradient shape {grad.shape} != variable shape {x.shape}")
    x._grad, x._grad_req = grad, req
    x._tape = None if req == "null" else Leaf(grad._data, req)


def _not_loaded(*args):
    raise CoarsenetError("backward needs coarsenet.autograd, which is not loaded")


class Engine:
    """The backward walk over the tape: coarsenet.autograd.backward(heads, head_grads,
    retain_graph, train_mode), registered when that package loads (coarsenet's __init__ imports
    it). The tape records NDArrays and runs op backward passes, so it sits above ndarray;
    NDArray.backward calls it through here (no extra call on the way)."""

    backward = staticmethod(_not_loaded)


def set_backward(fn) -> None:
    Engine.backward = staticmethod(fn)
