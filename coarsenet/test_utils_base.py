"""`mx.test_utils`: the helpers MXNet scripts and tests import, with MXNet's signatures.

Covered: assert_almost_equal, almost_equal, same, default_context, set_default_context,
rand_shape_nd, rand_ndarray (dense), check_symbolic_forward, and (test_utils_extra.py)
check_symbolic_backward, check_numeric_gradient, check_consistency, download, get_mnist,
get_mnist_ubyte, get_mnist_iterator, get_cifar10.
"""
from __future__ import annotations

import numpy as np

from .base import CoarsenetError
from .context import Context, cpu

_default = {"ctx": cpu()}


def _np(x) -> np.ndarray:
    return x.asnumpy() if hasattr(x, "asnumpy") else np.asarray(x)


def default_context() -> Context:
    return _default["ctx"]


def set_default_context(ctx: Context) -> None:
    _default["ctx"] = ctx


def same(a, b) -> bool:
    """True when a and b have equal shapes and values."""
    return np.array_equal(_np(a), _np(b))


def almost_equal(a, b, rtol=None, atol=None, equal_nan=False) -> bool:
    return np.allclose(_np(a), _np(b), rtol=1e-5 if rtol is None else rtol,
                       atol=1e-20 if atol is None else atol, equal_nan=equal_nan)


def assert_almost_equal(a, b, rtol=None, atol=None, names=("a", "b"), equal_nan=False,
                        **kwargs) -> None:
    """Raises AssertionError naming the worst element when |a - b| > atol + rtol |b|."""
    np.testing.assert_allclose(_np(a), _np(b), rtol=1e-5 if rtol is None else rtol,
                               atol=1e-20 if atol is None else atol, equal_nan=equal_nan,
                               err_msg=f"{names[0]} and {names[1]} differ")


def rand_shape_nd(num_dim: int, dim: int = 10, allow_zero_size: bool = False) -> tuple:
    low = 0 if allow_zero_size else 1
    return tuple(int(d) for d in np.random.randint(low, dim + 1, size=num_dim))


def rand_ndarray(shape, stype="default", density=None, dtype=None, **kwargs):
    """Uniform [0, 1) values of `shape` (dense storage only: coarsenet has no sparse arrays)."""
    from . import ndarray

    if stype != "default":
        raise CoarsenetError(f"rand_ndarray: storage type '{stype}' is not supported; "
                             "coarsenet arrays are dense ('default')")
    return ndarray.array(np.random.uniform(size=shape), dtype=dtype or np.float32)


def check_symbolic_forward(sym, location, expected, rtol=1e-4, atol=None, aux_states=None,
                           ctx=None, equal_nan=False, dtype=np.float32):
    """Binds `sym` to `location` (list in list_arguments order, or dict), runs forward in
    inference mode and compares every output with `expected`; returns the outputs."""
    from . import ndarray

    names = sym.list_arguments()
    if isinstance(location, (list, tuple)):
        location = dict(zip(names, location))
    args = {k: ndarray.array(_np(v), dtype=dtype) for k, v in location.items()}
    aux = None
    if aux_states is not None:
        aux_names = sym.list_auxiliary_states()
        if isinstance(aux_states, (list, tuple)):
            aux_states = dict(zip(aux_names, aux_states))
        aux = {k: ndarray.array(_np(v), dtype=dtype) for k, v in aux_states.items()}
    exe = sym.bind(args=args, aux_states=aux, grad_req="null")
    outputs = [o.asnumpy() for o in exe.forward(is_train=False)]
    if isinstance(expected, dict):
        expected = [expected[k] for k in sym.list_outputs()]
    for name, out, exp in zip(sym.list_outputs(), outputs, expected):
        assert_almost_equal(out, _np(exp), rtol, atol, (name, "expected"), equal_nan)
    return outputs
