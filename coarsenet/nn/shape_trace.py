"""Deferred shape inference: run a block's hybrid_forward on shapes instead of arrays.

`hybrid_forward(F, x, **params)` only calls ops through F, so giving it F = ShapeNamespace and
placeholders for x and the parameters runs each op's own C++ infer_shape in order. Parameter
shapes still containing 0 (unknown) are filled in from what the ops infer. No per-layer code.
"""
from __future__ import annotations

import numpy as np

from .. import ops as _ops
from ..base import CoarsenetError


class ShapeOnly:
    """A placeholder value: a shape (None while unknown) and, for parameters, the Parameter."""

    __slots__ = ("shape", "param")

    def __init__(self, shape, param=None):
        self.shape, self.param = shape, param

    def _broadcast(self, other, name):
        if not isinstance(other, ShapeOnly):
            return ShapeOnly(self.shape)
        try:
            return ShapeOnly(np.broadcast_shapes(self.shape, other.shape))
        except (ValueError, TypeError):
            raise CoarsenetError(f"{name}: shapes {self.shape} and {other.shape} do not "
                                 "broadcast") from None

    def __add__(self, o):
        return self._broadcast(o, "+")

    __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = __add__

    def __neg__(self):
        return ShapeOnly(self.shape)


def _known(shape) -> bool:
    return shape is not None and all(d > 0 for d in shape)


class _ShapeNamespace:
    """F for shape tracing: F.<Op>(...) infers shapes with the registered op."""

    def __getattr__(self, op_name: str):
        if op_name.startswith("__"):
            raise AttributeError(op_name)
        _ops.info(op_name)  # raises for an unknown op

        def infer(*args, **kwargs):
            return _infer_call(op_name, list(args), kwargs)

        return infer


ShapeNamespace = _ShapeNamespace()


def _infer_call(op_name: str, positional: list, kwargs: dict):
    named = {k: v for k, v in kwargs.items() if isinstance(v, ShapeOnly)}
    params = {k: v for k, v in kwargs.items() if not isinstance(v, ShapeOnly)
              and k not in ("name", "out", "ctx", "attr") and v is not None}
    positional = [v for v in positional if v is not None]
    if "num_args" in _ops.info(op_name).param_names() and "num_args" not in params:
        params["num_args"] = len(positional) + len(named)
    op = _ops.make(op_name, params)
    names = op.input_names + op.aux_names
    ordered = positional + [None] * (len(names) - len(positional))
    for key, value in named.items():
        if key not in names:
            raise CoarsenetError(f"{op_name}: unknown input '{key}'; expected one of: "
                                 f"{', '.join(names)}")
        ordered[names.index(key)] = value
    n_in = len(op.input_names)
    in_shapes = [v.shape if v is not None and _known(v.shape) else None for v in ordered[:n_in]]
    aux_shapes = [v.shape if v is not None and _known(v.shape) else None
                  for v in ordered[n_in:]]
    ins, outs, auxs = op.infer_shape(in_shapes, aux_shapes if _all_known(aux_shapes) else None)
    for value, shape in zip(ordered, list(ins) + list(auxs or [None] * len(aux_shapes))):
        if value is not None and value.param is not None and shape is not None:
            value.param.shape = shape
            value.shape = tuple(shape)
    results = [ShapeOnly(None if s is None else tuple(s)) for s in outs]
    visible = results[: op.num_visible_outputs]
    return visible[0] if len(visible) == 1 else visible


def _all_known(shapes) -> bool:
    return all(s is not None for s in shapes)
