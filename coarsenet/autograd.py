"""Imperative differentiation: record op calls on NDArrays, then walk them backwards.

The tape is a graph, not a list: every recorded op call becomes a `_Node` that points at the
entries it read (an output of an earlier node, or a `_Leaf` for an array with `attach_grad`), and
each output NDArray points at its node. A node keeps only the arrays its op's backward reads
(`op.needs_inputs` / `op.needs_outputs`), so everything else is freed as soon as Python drops it.
Calls whose inputs carry no gradient are not recorded at all.

`backward` sorts the nodes reachable from the heads topologically and visits them in reverse,
calling each op's own C++ backward. Gradients of an entry read by several nodes are summed by
letting the later producer add into the first one's buffer (req = add).

Recording state is per process (not per thread), as cheap attribute reads on the op call path.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from . import ndarray as _nd
from . import ops as _ops
from . import random as _random
from .base import CoarsenetError
from .ndarray import NDArray

REQ_NULL, REQ_WRITE, REQ_ADD = 0, 1, 3
_GRAD_REQS = ("write", "add", "null")


class _Leaf:
    """The tape entry of an array with an attached gradient: its buffer and how to fill it."""

    __slots__ = ("grad", "req")

    def __init__(self, grad: np.ndarray, req: str):
        self.grad, self.req = grad, req


class _Node:
    """One recorded call. `entries[i]` is where input i came from: (node, output index), a
    _Leaf, or None for a constant. Custom nodes (checkpoint, hybridized blocks) give a
    `custom(out_grads) -> in_grads` function instead of an op."""

    __slots__ = ("op", "entries", "saved_in", "saved_out", "aux", "seed", "is_train",
                 "out_meta", "custom", "freed")

    def __init__(self, op, entries, saved_in, saved_out, aux, seed, is_train, out_meta,
                 custom=None):
        self.op, self.entries, self.saved_in, self.saved_out = op, entries, saved_in, saved_out
        self.aux, self.seed, self.is_train, self.out_meta = aux, seed, is_train, out_meta
        self.custom, self.freed = custom, False

    @property
    def name(self) -> str:
        return self.op.name if self.op is not None else getattr(self.custom, "__name__", "node")

    def release(self) -> None:
        self.saved_in = self.saved_out = self.aux = self.custom = None
        self.freed = True


# ---------------------------------------------------------------- recording state


def _set_state(recording: bool, training: bool) -> tuple:
    old = (_nd.hooks.record is not None, _nd.hooks.training)
    _nd.hooks.record = _record if recording else None
    _nd.hooks.training = training
    return old


class _Scope:
    """Sets the recording / training state for a `with` block and restores it after (a class,
    not contextlib, because `with record():` sits on every training step)."""

    __slots__ = ("recording", "training", "old")

    def __init__(self, recording: bool, training: bool):
        self.recording, self.training = recording, training

    def __enter__(self):
        self.old = _set_state(self.recording, self.training)

    def __exit__(self, *exc):
        _set_state(*self.old)


_scope = _Scope


def record(train_mode: bool = True):
    """`with record():` records op calls for backward; train_mode sets is_train for the ops."""
    return _scope(True, train_mode)


def pause(train_mode: bool = False):
    """`with pause():` stops recording inside a record() block."""
    return _scope(False, train_mode)


def train_mode():
    """Ops run in training mode (Dropout active, BatchNorm batch statistics); recording unchanged."""
    return _scope(is_recording(), True)


def predict_mode():
    return _scope(is_recording(), False)


def is_recording() -> bool:
    return _nd.hooks.record is not None


def is_training() -> bool:
    return _nd.hooks.training


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
        if req not in _GRAD_REQS:
            raise CoarsenetError(f"grad_req must be one of {_GRAD_REQS}, found {req!r}")
        if g.shape != x.shape:
            raise CoarsenetError(
                f"mark_variables: gradient shape {g.shape} != variable shape {x.shape}")
        x._grad, x._grad_req = g, req
        x._tape = None if req == "null" else _Leaf(g._data, req)


def _attach_grad(self: NDArray, grad_req: str = "write", stype=None) -> None:
    """Allocates a zero gradient buffer (x.grad) and makes x a leaf of later recordings."""
    mark_variables([self], [NDArray(np.zeros_like(self._data))], grad_req)


def _detach(self: NDArray) -> NDArray:
    """The same data, cut from the tape."""
    return NDArray(self._data)


# ---------------------------------------------------------------- recording one call


def _record(op, inputs, outputs, seed) -> None:
    """hooks.record: appends one op call to the tape if any input carries a gradient."""
    entries = [x._tape for x in inputs]
    if entries.count(None) == len(entries):
        return
    call = _nd._op_call(op)
    n_in, needs_in, needs_out = call.n_in, call.needs_inputs, call.needs_outputs
    node = _Node(
        op, entries[:n_in],
        [x._data if need else None for x, need in zip(inputs, needs_in)],
        [y._data if need else None for y, need in zip(outputs, needs_out)],
        [x._data for x in inputs[n_in:]], seed, _nd.hooks.training,
        [(y._data.shape, y._data.dtype) for y in outputs])
    for j, y in enumerate(outputs):
        y._tape = (node, j)


def record_custom(inputs: Sequence[NDArray], outputs: Sequence[NDArray],
                  backward: Callable) -> None:
    """Records one node whose backward is `backward(out_grads) -> in_grads` (numpy arrays, None
    meaning zero / not needed). Used by checkpoint and by hybridized blocks."""
    if not is_recording():
        return
    entries = [x._tape for x in inputs]
    if all(e is None for e in entries):
        return
    node = _Node(None, entries, None, None, None, 0, is_training(),
                 [(y._data.shape, y._data.dtype) for y in outputs], custom=backward)
    for j, y in enumerate(outputs):
        y._tape = (node, j)


# ---------------------------------------------------------------- the backward walk


def _toposort(heads: list) -> tuple[list, list]:
    """Nodes reachable from the head entries, producers first; and the leaves reached."""
    order, leaves, seen = [], [], set()
    stack = [(e[0], False) for e in heads if isinstance(e, tuple)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        for e in node.entries:
            if isinstance(e, tuple):
                if id(e[0]) not in seen:
                    stack.append((e[0], False))
            elif e is not None and id(e) not in seen:
                seen.add(id(e))
                leaves.append(e)
    return order, leaves


class _Walk:
    """Gradient buffers of one backward pass."""

    def __init__(self, leaf_buffers: dict | None):
        self.grads: dict[int, list] = {}      # id(node) -> accumulated gradient per output
        self.written: set[int] = set()        # leaves written in this pass
        self.leaf_buffers = leaf_buffers      # id(leaf) -> buffer (autograd.grad), else .grad

    def target(self, entry, shape, dtype):
        """(buffer, req) receiving a gradient for `entry`, or None if it takes none."""
        if isinstance(entry, tuple):
            node, j = entry
            slots = self.grads.setdefault(id(node), [None] * len(node.out_meta))
            if slots[j] is None:
                slots[j] = np.empty(shape, dtype)
                return slots[j], REQ_WRITE
            return slots[j], REQ_ADD
        if self.leaf_buffers is not None:
            buf = self.leaf_buffers.get(id(entry))
            if buf is None:
                return None
        else:
            if entry.req == "null":
                return None
            buf = entry.grad
        first = id(entry) not in self.written and (self.leaf_buffers is not None
                                                   or entry.req == "write")
        self.written.add(id(entry))
        return buf, (REQ_WRITE if first else REQ_ADD)

    def add(self, entry, value: np.ndarray, what: str) -> None:
        expected = entry[0].out_meta[entry[1]][0] if isinstance(entry, tuple) else entry.grad.shape
        if value.shape != tuple(expected):
            raise CoarsenetError(
                f"autograd: {what} produced a gradient of shape {value.shape} for a value of "
                f"shape {tuple(expected)}")
        t = self.target(entry, value.shape, value.dtype)
        if t is not None:
            buf, req = t
            if req == REQ_WRITE:
                np.copyto(buf, value)
            else:
                buf += value


def _run_node(node: _Node, out_grads: list, walk: _Walk) -> None:
    if node.freed:
        raise CoarsenetError(
            f"autograd: backward through '{node.name}' a second time, but its saved arrays were "
            "freed by the first backward; pass retain_graph=True to the first backward")
    if node.custom is not None:
        for e, g in zip(node.entries, node.custom(out_grads)):
            if e is not None and g is not None:
                walk.add(e, g, node.name)
        return
    op = node.op
    if op.flags & _ops.NO_GRAD:
        return  # BlockGrad & co: nothing flows back (reached leaves are zeroed at the end)
    if not op.has_backward:
        raise CoarsenetError(f"autograd: op '{op.name}' has no backward, but a gradient "
                             "flows through it; compute it outside autograd.record()")
    for j, need in enumerate(op.needs_out_grads):
        if need and out_grads[j] is None:
            out_grads[j] = np.zeros(*node.out_meta[j])
    in_grads, req, fixups = [], [], []
    for i, e in enumerate(node.entries):
        t = None
        if e is not None:
            shape, dtype = _entry_meta(e)
            t = walk.target(e, shape, dtype)
        if t is None:
            in_grads.append(None)
            req.append(REQ_NULL)
            continue
        buf, r = t
        if any(b is buf for b in in_grads):  # the same entry read twice (x * x): sum afterwards
            fixups.append((buf, np.empty_like(buf)))
            buf, r = fixups[-1][1], REQ_WRITE
        in_grads.append(buf)
        req.append(r)
    op.backward(out_grads, node.saved_in, node.saved_out, in_grads, req, node.aux,
                is_train=node.is_train, seed=node.seed)
    for target, extra in fixups:
        target += extra


def _entry_meta(entry) -> tuple:
    if isinstance(entry, tuple):
        return entry[0].out_meta[entry[1]]
    return entry.grad.shape, entry.grad.dtype


def _backward(heads: list, head_grads: list, retain_graph: bool,
              leaf_buffers: dict | None = None, capture: list | None = None) -> list:
    """The core walk. Returns the gradients of the `capture` entries (autograd.grad)."""
    walk = _Walk(leaf_buffers)
    for h, g in zip(heads, head_grads):
        if h._tape is None:
            raise CoarsenetError(
                "autograd: cannot differentiate an array that was not computed under "
                "autograd.record() from arrays with attach_grad()")
        value = np.ones_like(h._data) if g is None else np.asarray(
            g._data if isinstance(g, NDArray) else g, dtype=h._data.dtype)
        walk.add(h._tape, value, "head gradient")
    order, leaves = _toposort([h._tape for h in heads])
    keep = {id(e[0]) for e in capture or () if isinstance(e, tuple)}
    for node in reversed(order):
        out_grads = walk.grads.get(id(node)) if id(node) in keep else walk.grads.pop(id(node),
                                                                                      None)
        if out_grads is not None:
            _run_node(node, list(out_grads), walk)
        if not retain_graph:
            node.release()
    for leaf in leaves:  # reached but given no gradient (BlockGrad, unused branch): zero
        if id(leaf) not in walk.written:
            buf = leaf_buffers.get(id(leaf)) if leaf_buffers is not None else (
                leaf.grad if leaf.req == "write" else None)
            if buf is not None:
                buf[...] = 0
    if capture is None:
        return []
    return [walk.grads.get(id(e[0]), [None] * (e[1] + 1))[e[1]] if isinstance(e, tuple)
            else None for e in capture]


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


def _ndarray_backward(self: NDArray, out_grad=None, retain_graph: bool = False,
                      train_mode: bool = True) -> None:
    backward([self], None if out_grad is None else [out_grad], retain_graph, train_mode)


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


# ---------------------------------------------------------------- checkpointing


def checkpoint(fn: Callable, *args):
    """Runs fn(*args) keeping only its inputs; its internals are recomputed during backward.

    Recomputation replays the same op seeds (Dropout draws the same mask) and runs with
    is_recompute=True (BatchNorm does not update its running statistics a second time).
    """
    if not is_recording():
        return fn(*args)
    externals: dict[int, NDArray] = {}
    seeds: list[int] = []
    training = is_training()

    def collect(op, inputs, outputs, seed):
        seeds.append(seed)
        for x in inputs:
            if x._tape is not None:
                externals[id(x)] = x

    _nd.hooks.record = collect  # internal results get no tape entry, so they stay unrecorded
    try:
        result = fn(*args)
    finally:
        _nd.hooks.record = _record
    outputs = [result] if isinstance(result, NDArray) else list(result)
    inputs = list(externals.values())

    def recompute_backward(out_grads):
        saved = [x._tape for x in inputs]
        buffers = [np.zeros_like(x._data) for x in inputs]
        replay = iter(seeds)
        try:
            for x, b in zip(inputs, buffers):
                x._tape = _Leaf(b, "add")
            _nd.hooks.replay = lambda op, ins, aux, is_train: _replay(op, ins, aux, is_train,
                                                                       next(replay))
            with _scope(True, training):
                again = fn(*args)
            _nd.hooks.replay = None
            again = [again] if isinstance(again, NDArray) else list(again)
            heads = [(y, g) for y, g in zip(again, out_grads) if g is not None and y._tape]
            if heads:
                _backward([y for y, _ in heads], [g for _, g in heads], False)
        finally:
            _nd.hooks.replay = None
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
    _, out_types, _ = op.infer_type([_dtype_code(x.dtype) for x in inputs])
    outputs = [np.empty(s, _DTYPES.get(t, np.float32)) for s, t in zip(out_shapes, out_types)]
    op.forward(inputs, outputs, [REQ_WRITE] * len(outputs), aux, is_train=is_train,
               is_recompute=True, seed=seed)
    return seed, outputs


def _dtype_code(dtype) -> int:
    from .base import dtype_code

    return dtype_code(dtype)


def _dtypes() -> dict:
    from .base import CODE_TO_DTYPE

    return {code: dt for code, dt in CODE_TO_DTYPE.items()}


_DTYPES = _dtypes()

NDArray.attach_grad = _attach_grad
NDArray.backward = _ndarray_backward
NDArray.detach = _detach
