"""Imperative differentiation (`cn.autograd`): record op calls on NDArrays, then backward.

    x.attach_grad()
    with cn.autograd.record():
        y = net(x)
    y.backward()          # x.grad now holds dy/dx

The recording state lives in `coarsenet.autograd_state.hooks` (attributes read on every op call),
one per thread as in MXNet; NDArray's attach_grad / backward / detach are its own methods, built
on autograd_state, which reaches backward() here once this package is loaded. The tape itself is
in tape.py, checkpointing in checkpoint.py.
"""
from __future__ import annotations

import numpy as np

from .. import autograd_state as _state
from ..base import CoarsenetError
from ..ndarray import NDArray
from .checkpoint import (checkpoint, checkpoint_arena_bytes, checkpoint_reason,  # noqa: F401
                         checkpoint_stats)
from .tape import _backward, _Leaf, _record, record_custom  # noqa: F401

_hooks = _state.hooks
_KEEP = object()


def _set_state(recording: bool, training: bool) -> tuple:
    old = (_hooks.record is not None, _hooks.training)
    _hooks.record = _record if recording else None
    _hooks.training = training
    return old


class _Scope:
    """Sets the recording hook and training flag for a `with` block and restores the previous
    values after (a class, not contextlib: `with record():` sits on every training step)."""

    __slots__ = ("recording", "training", "old")

    def __init__(self, recording, training: bool):
        self.recording, self.training = recording, training

    def __enter__(self):
        self.old = (_hooks.record, _hooks.training)
        if self.recording is not _KEEP:
            _hooks.record = _record if self.recording else None
        _hooks.training = self.training

    def __exit__(self, *exc):
        _hooks.record, _hooks.training = self.old


def record(train_mode: bool = True):
    """`with record():` records op calls for backward; train_mode sets is_train for the ops."""
    return _Scope(True, train_mode)


def pause(train_mode: bool = False):
    """`with pause():` stops recording inside a record() block."""
    return _Scope(False, train_mode)


def train_mode():
    """Ops run in training mode (Dropout active, BatchNorm batch statistics); recording as is."""
    return _Scope(_KEEP, True)


def predict_mode():
    return _Scope(_KEEP, False)


def is_recording() -> bool:
    return _hooks.record is not None


def is_training() -> bool:
    return _hooks.training


def set_recording(flag: bool) -> bool:
    """MXNet compatibility; returns the previous state."""
    return _set_state(flag, is_training())[0]


def set_training(flag: bool) -> bool:
    return _set_state(is_recording(), flag)[1]

# ---------------------------------------------------------------- variables


def mark_variables(variables, gradients, grad_reqs="write") -> None:
    """Makes each array a leaf whose gradient goes into the matching gradient array."""
    variables = [variables] if isinstance(variables, NDArray) else list(variables)
    gradients = [gradients] if isinstance(gradients, NDArray) else list(gradients)
    reqs = [grad_reqs] * len(variables) if isinstance(grad_reqs, str) else list(grad_reqs)
    if not len(variables) == len(gradients) == len(reqs):
        raise CoarsenetError(
            f"mark_variables: expected as many gradients and grad_reqs as variables "
            f"({len(variables)}), found {len(gradients)} and {len(reqs)}")
    for x, g, req in zip(variables, gradients, reqs):
        _state.mark_variable(x, g, req)


def backward(heads, head_grads=None, retain_graph: bool = False, train_mode: bool = True) -> None:
    """Accumulates d(heads)/d(variable) into the .grad of every variable they depend on."""
    heads = [heads] if isinstance(heads, NDArray) else list(heads)
    if head_grads is None:
        head_grads = [None] * len(heads)
    elif isinstance(head_grads, NDArray):
        head_grads = [head_grads]
    if len(head_grads) != len(heads):
        raise CoarsenetError(
            f"backward: {len(heads)} heads but {len(head_grads)} head gradients")
    for h in heads:
        if isinstance(h._tape, _Leaf):
            raise CoarsenetError("backward: the head is a variable itself, not a recorded result")
    _backward(heads, list(head_grads), retain_graph)


def grad(heads, variables, head_grads=None, retain_graph=None, create_graph: bool = False,
         train_mode: bool = True):
    """Gradients of heads w.r.t. variables, returned as new arrays; .grad is left unchanged."""
    if create_graph:
        raise CoarsenetError(
            "autograd.grad: create_graph=True (higher-order gradients) is not supported: op "
            "backward passes run as C++ kernels and are not themselves recorded")
    single = isinstance(variables, NDArray)
    variables = [variables] if single else list(variables)
    heads = [heads] if isinstance(heads, NDArray) else list(heads)
    if head_grads is None:
        head_grads = [None] * len(heads)
    elif isinstance(head_grads, NDArray):
        head_grads = [head_grads]
    leaf_buffers, capture = {}, []
    for v in variables:
        if v._tape is None:
            raise CoarsenetError(
                "autograd.grad: a variable has no gradient: call attach_grad() on it before "
                "recording, or pass an array computed under record()")
        if isinstance(v._tape, _Leaf):
            leaf_buffers.setdefault(id(v._tape), np.zeros_like(v._data))
        capture.append(v._tape)
    captured = _backward(heads, list(head_grads), bool(retain_graph), leaf_buffers, capture)
    results = []
    for v, e, c in zip(variables, capture, captured):
        g = leaf_buffers[id(e)] if isinstance(e, _Leaf) else c
        results.append(NDArray(np.zeros_like(v._data) if g is None else g))
    return results[0] if single else results


_state.set_backward(backward)  # NDArray.backward's walk (autograd_state sits below NDArray)
