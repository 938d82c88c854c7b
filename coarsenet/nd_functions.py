"""The generated imperative op functions: cn.nd.<Op>(*inputs, **params) for every registered
op (MXNet's calling conventions: inputs positionally or by name, params by keyword, out=),
with a cache that skips param parsing on repeated calls.

Below ndarray.py: ndarray imports this module and hands `install` its array class and call
functions, so the dependency runs one way (the generated functions keep them in closures: no
lookup is added to a call)."""
from __future__ import annotations

import numpy as np

from . import ops as _ops
from .base import CoarsenetError


def _split_args(NDArray, array, param_names: set, args: tuple, kwargs: dict):
    """Separates NDArray inputs (positional or by name) from op parameters."""
    named, params = {}, {}
    for key, value in kwargs.items():
        if isinstance(value, NDArray):
            named[key] = value
        elif key in param_names or not isinstance(value, np.ndarray):
            params[key] = value
        else:
            named[key] = array(value)
    return list(args), named, params


def _order_inputs(op, positional: list, named: dict) -> list:
    names = op.input_names + op.aux_names
    if len(positional) > len(names):
        raise CoarsenetError(
            f"{op.name}: expected at most {len(names)} inputs ({', '.join(names)}), "
            f"found {len(positional)}")
    ordered = positional + [None] * (len(names) - len(positional))
    for key, value in named.items():
        if key not in names:
            raise CoarsenetError(
                f"{op.name}: unknown input '{key}'; expected one of: {', '.join(names)}")
        ordered[names.index(key)] = value
    for i, value in enumerate(ordered):
        if value is None:
            raise CoarsenetError(f"{op.name}: input '{names[i]}' is missing")
    return ordered


# Arguments MXNet's generated functions accept that are not op parameters.
_CALL_ONLY_KWARGS = ("out", "name", "ctx", "attr")

# (op name, keyword items) -> _OpCall, for the common call: NDArrays positionally and hashable
# params by keyword. It skips param parsing and input ordering on repeated calls.
_fast_calls: dict = {}


def _cacheable(NDArray, kwargs: dict) -> bool:
    """True when every keyword is an op parameter (no array passed by name, no out=)."""
    return not any(isinstance(v, (NDArray, np.ndarray)) or k in _CALL_ONLY_KWARGS
                   for k, v in kwargs.items())


def _make_op_function(op_name: str, NDArray, _call, _op_call, array):
    param_names = set(_ops.info(op_name).param_names())

    def _is_input(value) -> bool:
        return isinstance(value, (NDArray, np.ndarray))

    variadic = "num_args" in param_names

    def slow_path(args, kwargs):
        out = kwargs.pop("out", None)
        for key in _CALL_ONLY_KWARGS[1:]:
            kwargs.pop(key, None)
        positional, named, params = _split_args(NDArray, array, param_names, args, kwargs)
        if variadic and "num_args" not in params:
            params["num_args"] = len(positional) + len(named)
        call = _op_call(_ops.make(op_name, params))
        return call, _order_inputs(call.op, positional, named), out

    def op_function(*args, **kwargs):
        if args and not isinstance(args[-1], NDArray):
            args = _ops.positional_params(op_name, args, _is_input, kwargs)
        try:
            key = (op_name, len(args), *kwargs.items())
            call = _fast_calls.get(key)
        except TypeError:  # an unhashable param value (a list): take the general path
            key = call = None
        if call is not None:
            return _call(call, args)
        call, inputs, out = slow_path(args, dict(kwargs))
        if key is not None and _cacheable(NDArray, kwargs):
            if len(_fast_calls) >= 4096:
                _fast_calls.clear()
            _fast_calls[key] = call
        return _call(call, inputs, out)

    return op_function


def install(module, NDArray, call, op_call, array) -> None:
    """module.<op> for every registered op. NDArray: the array class; call(op_call, inputs,
    out=None) runs a prepared call; op_call(op) prepares one; array(x) wraps numpy data."""
    _ops.install_functions(
        module, lambda op_name: _make_op_function(op_name, NDArray, call, op_call, array))
