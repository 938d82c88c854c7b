"""maximum, minimum and power over arrays, symbols and Python scalars, as MXNet's
`mx.nd.maximum(a, b)` / `mx.sym.power(a, 2)`: each picks the registered op that fits its
operands (same-shape elementwise, broadcast, or a scalar form), so gradients flow as usual."""
from __future__ import annotations

import math
import numbers
import operator

# kind -> (two tensors of one shape, broadcast, tensor op scalar, scalar op tensor, Python op)
_OPS = {
    "maximum": ("_maximum", "broadcast_maximum", "_maximum_scalar", "_maximum_scalar", max),
    "minimum": ("_minimum", "broadcast_minimum", "_minimum_scalar", "_minimum_scalar", min),
    "power": ("_power", "broadcast_power", "_power_scalar", "_rpower_scalar", operator.pow),
}

# MXNet's other two-operand functions (nd.equal, sym.modulo, ...), installed by
# install_extra. A scalar on the left takes the mirrored comparison (2 > x is x < 2).
# Comparisons give 1/0 in the operands' dtype (floats for two Python scalars).
_EXTRA = {
    "add": ("elemwise_add", "broadcast_add", "_plus_scalar", "_plus_scalar", operator.add),
    "subtract": ("elemwise_sub", "broadcast_sub", "_minus_scalar", "_rminus_scalar",
                 operator.sub),
    "multiply": ("elemwise_mul", "broadcast_mul", "_mul_scalar", "_mul_scalar", operator.mul),
    "divide": ("elemwise_div", "broadcast_div", "_div_scalar", "_rdiv_scalar", operator.truediv),
    "modulo": ("_mod", "broadcast_mod", "_mod_scalar", "_rmod_scalar", operator.mod),
    "hypot": ("_hypot", "broadcast_hypot", "_hypot_scalar", "_hypot_scalar", math.hypot),
    "equal": ("_equal", "broadcast_equal", "_equal_scalar", "_equal_scalar", operator.eq),
    "not_equal": ("_not_equal", "broadcast_not_equal", "_not_equal_scalar", "_not_equal_scalar",
                  operator.ne),
    "greater": ("_greater", "broadcast_greater", "_greater_scalar", "_lesser_scalar",
                operator.gt),
    "greater_equal": ("_greater_equal", "broadcast_greater_equal", "_greater_equal_scalar",
                      "_lesser_equal_scalar", operator.ge),
    "lesser": ("_lesser", "broadcast_lesser", "_lesser_scalar", "_greater_scalar", operator.lt),
    "lesser_equal": ("_lesser_equal", "broadcast_lesser_equal", "_lesser_equal_scalar",
                     "_greater_equal_scalar", operator.le),
    "logical_and": ("_logical_and", "broadcast_logical_and", "_logical_and_scalar",
                    "_logical_and_scalar", lambda a, b: bool(a) and bool(b)),
    "logical_or": ("_logical_or", "broadcast_logical_or", "_logical_or_scalar",
                   "_logical_or_scalar", lambda a, b: bool(a) or bool(b)),
    "logical_xor": ("_logical_xor", "broadcast_logical_xor", "_logical_xor_scalar",
                    "_logical_xor_scalar", lambda a, b: bool(a) != bool(b)),
}
_OPS.update({k: v[:4] + ((lambda f: lambda a, b: float(f(a, b)))(v[4]),)
             if k.startswith(("equal", "not_", "greater", "lesser", "logical")) else v
             for k, v in _EXTRA.items()})


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


# Operators MXNet defines on arrays and symbols, added where the class has none of its own.
_OPERATORS = {"__mod__": ("modulo", False), "__rmod__": ("modulo", True),
              "__lt__": ("lesser", False), "__le__": ("lesser_equal", False),
              "__gt__": ("greater", False), "__ge__": ("greater_equal", False)}


def install_extra(namespace: dict, tensor_type, call, same_shape, what: str) -> None:
    """Puts equal, modulo, divide, ... into a front end's module namespace (names it lacks) and
    the %, <, <=, >, >= operators onto its tensor type (where the type defines none)."""
    fns = {}
    for kind in _EXTRA:
        def fn(lhs, rhs, _kind=kind):
            return dispatch(_kind, lhs, rhs, tensor_type, call, same_shape)
        fn.__name__ = fn.__qualname__ = kind
        fn.__doc__ = f"Elementwise {kind} of {what} and/or real scalars."
        fns[kind] = fn
        namespace.setdefault(kind, fn)
    for dunder, (kind, reflected) in _OPERATORS.items():
        if dunder in vars(tensor_type):
            continue
        fn = fns[kind]
        setattr(tensor_type, dunder,
                (lambda f: lambda self, o: f(o, self))(fn) if reflected else
                (lambda f: lambda self, o: f(self, o))(fn))
