"""The imperative op call: from NDArray inputs to NDArray outputs through one op, with autograd
recording and replay hooks. Below ndarray.py, which hands set_array_type() its NDArray class
(the C++ fast path gets it through _core._set_ndarray_type)."""
from __future__ import annotations

from . import _core
from . import ops as _ops
from . import random as _random
from .autograd_state import hooks  # the per-thread recording state, read on every op call
from .base import CoarsenetError

_array_type = None  # NDArray, set by ndarray.py once the class exists


def set_array_type(cls) -> None:
    global _array_type
    _array_type = cls


def invoke(name: str, inputs: list, params: dict, out=None):
    """Runs op `name` on NDArray inputs (data inputs then aux states, in the op's order)."""
    return _call(_op_call(_ops.make(name, params)), inputs, out)


def invoke_op(op, inputs: list, out=None):
    return _call(_op_call(op), inputs, out)


class _OpCall:
    """Facts about one parsed op instance that every imperative call reads, computed once
    (reading them from the C++ op builds new lists each time)."""

    __slots__ = ("op", "n_in", "names", "visible", "random", "no_aux", "needs_inputs",
                 "needs_outputs")

    def __init__(self, op):
        self.op = op
        self.n_in = len(op.input_names)
        self.names = op.input_names + op.aux_names
        self.visible = op.num_visible_outputs
        self.random = bool(op.flags & _ops.NONDETERMINISTIC)  # only these ops read the seed
        self.no_aux = not op.aux_names
        self.needs_inputs = op.needs_inputs  # what autograd saves for backward
        self.needs_outputs = op.needs_outputs


_op_calls: dict = {}


def _op_call(op) -> _OpCall:
    call = _op_calls.get(op)
    if call is None:
        if len(_op_calls) >= 4096:
            _op_calls.clear()
        call = _op_calls[op] = _OpCall(op)
    return call


_NO_AUX: list = []
_plain_calls: dict = {}


def _plain_call(name: str) -> _OpCall:
    """The _OpCall of an op without params (elemwise_add for `x + y`), looked up once."""
    call = _plain_calls.get(name)
    if call is None:
        call = _plain_calls[name] = _op_call(_ops.make(name, {}))
    return call


def _call(call: _OpCall, inputs: list, out=None):
    """The imperative op call: check inputs, run forward in C++, wrap outputs, tell autograd.
    Unrecorded calls without out= take one C++ entry for all of it (_core.imperative_call)."""
    if out is None and hooks.record is None and hooks.replay is None:
        return _core.imperative_call(call.op, inputs, hooks.training,
                                     _random.next_seed() if call.random else 0)
    op = call.op
    if len(inputs) != len(call.names):
        raise CoarsenetError(
            f"{op.name}: expected {len(call.names)} inputs ({', '.join(call.names)}), "
            f"found {len(inputs)}")
    try:
        arrays = [x._data for x in inputs]
    except AttributeError:
        i = next(i for i, x in enumerate(inputs) if not isinstance(x, _array_type))
        raise CoarsenetError(f"{op.name}: input '{call.names[i]}' must be an NDArray, found "
                             f"{type(inputs[i]).__name__}") from None
    if call.no_aux:
        in_arrays, aux_arrays = arrays, _NO_AUX
    else:
        in_arrays, aux_arrays = arrays[: call.n_in], arrays[call.n_in:]
    targets = None
    if out is not None:
        targets = out if isinstance(out, (list, tuple)) else [out]
    if hooks.replay is None:
        seed = _random.next_seed() if call.random else 0
        # Unrecorded, out= arrays are written straight into when the op allows it (an
        # optimizer update with out=weight, for one): no fresh output, no copy back.
        direct = None
        if targets is not None and hooks.record is None:
            direct = [getattr(t, "_data", None) for t in targets]
        results = op.invoke(in_arrays, aux_arrays, hooks.training, seed, direct)
    else:
        seed, results = hooks.replay(op, in_arrays, aux_arrays, hooks.training)
    outputs = [_array_type(a) for a in results]
    if hooks.record is not None:
        hooks.record(op, inputs, outputs, seed)
    if targets is not None:
        for target, value in zip(targets, outputs[: call.visible]):
            if value._data is not getattr(target, "_data", None):
                target[:] = value._data
        return out
    return outputs[0] if call.visible == 1 else outputs[: call.visible]
