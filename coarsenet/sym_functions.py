"""The generated symbolic op functions: cn.sym.<Op>(*inputs, name=, attr=, **params) for every
registered op (inputs positionally, as one list, or by name; params by keyword).

Below symbol.py, which imports this module and hands `install` its Symbol class and _invoke."""
from __future__ import annotations

from . import ops as _ops
from .base import CoarsenetError


def _make_op_function(op_name: str, Symbol, _invoke):
    def _is_input(value) -> bool:
        return isinstance(value, Symbol)

    def op_function(*args, name=None, attr=None, **kwargs):
        if args and not isinstance(args[-1], (Symbol, list, tuple)):
            args = _ops.positional_params(op_name, args, _is_input, kwargs)
        named = {k: v for k, v in kwargs.items() if isinstance(v, Symbol)}
        params = {k: v for k, v in kwargs.items() if not isinstance(v, Symbol)}
        if len(args) == 1 and isinstance(args[0], (list, tuple)):
            args = tuple(args[0])  # Concat([a, b]) as well as Concat(a, b)
        for i, a in enumerate(args):
            if not isinstance(a, Symbol):
                raise CoarsenetError(f"{op_name}: positional input {i} must be a Symbol, found "
                                     f"{type(a).__name__}; pass parameters by keyword")
        return _invoke(op_name, list(args), params, name=name, attr=attr, named=named)

    return op_function


def install(module, Symbol, invoke) -> None:
    """module.<op> for every registered op; invoke(op_name, inputs, params, name=, attr=,
    named=) makes the node."""
    _ops.install_functions(module, lambda op_name: _make_op_function(op_name, Symbol, invoke))
