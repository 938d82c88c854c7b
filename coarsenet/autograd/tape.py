"""The tape: recorded op calls as a graph, and the backward walk over it.

Every recorded op call becomes a `_Node` that points at the entries it read (an output of an
earlier node, or a `_Leaf` for an array with `attach_grad`), and each output NDArray points at
its node (`NDArray._tape`). A node keeps only the arrays its op's backward reads
(`op.needs_inputs` / `op.needs_outputs`), so everything else is freed as soon as Python drops
it. Calls whose inputs carry no gradient are not recorded at all.

`backward` sorts the nodes reachable from the heads topologically and visits them in reverse,
calling each op's own C++ backward. Gradients of an entry read by several nodes are summed by
letting the later producer add into the first one's buffer (req = add).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from .. import ndarray as _nd
from .. import ops as _ops
from .. import profiler_base as _profiler
from ..autograd_state import Leaf as _Leaf  # noqa: F401  (checkpoint and autograd import it here)
from ..autograd_state import hooks as _hooks
from ..base import REQ_ADD, REQ_NULL, REQ_WRITE, CoarsenetError
from ..ndarray import NDArray

_NO_AUX: list = []


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


# ---------------------------------------------------------------- recording one call


def _record(op, inputs, outputs, seed) -> None:
    """hooks.record: appends one op call to the tape if any input carries a gradient."""
    entries = [x._tape for x in inputs]
    if entries.count(None) == len(entries):
        return
    call = _nd._op_call(op)
    n_in = call.n_in
    node = _Node(
        op, entries[:n_in] if len(entries) > n_in else entries,
        # Inputs backward does not read are kept as their shape only (some ops need it).
        [x._data if need else x._data.shape for x, need in zip(inputs, call.needs_inputs)],
        [y._data if need else None for y, need in zip(outputs, call.needs_outputs)],
        _NO_AUX if call.no_aux else [x._data for x in inputs[n_in:]], seed, _hooks.training,
        [(y._data.shape, y._data.dtype) for y in outputs])
    for j, y in enumerate(outputs):
        y._tape = (node, j)


def record_custom(inputs: Sequence[NDArray], outputs: Sequence[NDArray],
                  backward: Callable) -> None:
    """Records one node whose backward is `backward(out_grads) -> in_grads` (numpy arrays, None
    meaning zero / not needed). Used by checkpoint and by hybridized blocks."""
    if _hooks.record is None:
        return
    entries = [x._tape for x in inputs]
    if all(e is None for e in entries):
        return
    node = _Node(None, entries, None, None, None, 0, _hooks.training,
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
    start = _profiler.clock() if _profiler.state.imperative else None  # mx.profiler on
    op.backward(out_grads, node.saved_in, node.saved_out, in_grads, req, node.aux,
                is_train=node.is_train, seed=node.seed)
    if start is not None:
        _profiler.record_backward(op, start, in_grads)
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
