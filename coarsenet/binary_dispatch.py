"""maximum, minimum and power over arrays, symbols and Python scalars, as MXNet's
`mx.nd.maximum(a, b)` / `mx.sym.power(a, 2)`: each picks the registered op that fits its
operands (same-shape elementwise, broadcast, or a scalar form), so gradients flow as usual."""
from __future__ import annotations

import numbers
import operator

# kind -> (two tensors of one shape, broadcast, tensor op scalar, scalar op tensor, Python op)
_OPS = {
    "maximum": ("_maximum", "broadcast_maximum", "_maximum_scalar", "_maximum_scalar", max),
    "minimum": ("_minimum", "broadcast_minimum", "_minimum_scalar", "_minimum_scalar", min),
    "power": ("_power", "broadcast_power", "_power_scalar", "_rpower_scalar", operator.pow),
}


def dispatch(kind: str, lhs, rhs, tensor_type, call, same_shape):
    """call(op_name, inputs, params) on the op for (lhs, rhs); same_shape(a, b) says whether
    two tensors can use the elementwise op (None: unknown, use it as MXNet's symbols do)."""
    same, broadcast, scalar, rscalar, python = _OPS[kind]
    lhs_t, rhs_t = isinstance(lhs, tensor_type), isinstance(rhs, tensor_type)
    if lhs_t and rhs_t:
        return call(same if same_shape(lhs, rhs) is not False else broadcast, [lhs, rhs], {})
    for value in ((rhs,) if lhs_t else (lhs,) if rhs_t else (lhs, rhs)):
        if not isinstance(value, numbers.Real):
            raise TypeError(f"{kind}: expected arrays or real scalars, found "
                            f"{type(value).__name__}")
    if lhs_t:
        return call(scalar, [lhs], {"scalar": float(rhs)})
    if rhs_t:
        return call(rscalar, [rhs], {"scalar": float(lhs)})
    return python(lhs, rhs)


def make_functions(tensor_type, call, same_shape, what: str) -> tuple:
    """maximum, minimum and power for one front end (`what` names its operands in the docs)."""
    def make(kind):
        def fn(lhs, rhs):
            return dispatch(kind, lhs, rhs, tensor_type, call, same_shape)
        fn.__name__ = fn.__qualname__ = kind
        fn.__doc__ = f"Elementwise {kind} of {what} and/or real scalars."
        return fn
    return make("maximum"), make("minimum"), make("power")
