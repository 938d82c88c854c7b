"""Errors, dtype codes and the MXNet string forms of parameter values."""
from __future__ import annotations

import numpy as np

from . import _core

# Every op, graph, executor and file error is a CoarsenetError; MXNetError is its MXNet name.
CoarsenetError = _core.CoarsenetError
MXNetError = CoarsenetError

# Write requests of an op call (CN_REQ_* in c_api.h), exported by _core: one source of truth.
REQ_NULL, REQ_WRITE, REQ_INPLACE, REQ_ADD = (_core.REQ_NULL, _core.REQ_WRITE, _core.REQ_INPLACE,
                                             _core.REQ_ADD)

# MXNet's dtype flags (also the codes of the C ABI and of .params files).
DTYPE_TO_CODE = {np.dtype(name): code for name, code in _core.DTYPE_CODES.items()}
CODE_TO_DTYPE = {code: dtype for dtype, code in DTYPE_TO_CODE.items()}


def dtype_code(dtype) -> int:
    """The MXNet dtype flag of a numpy dtype; raises for types coarsenet cannot store."""
    dt = np.dtype(dtype)
    if dt not in DTYPE_TO_CODE:
        names = ", ".join(str(d) for d in DTYPE_TO_CODE)
        raise CoarsenetError(f"dtype {dt} is not supported; expected one of {names}")
    return DTYPE_TO_CODE[dt]


def attr_str(value) -> str:
    """The string MXNet stores for a parameter value: True -> 'True', (3, 3) -> '(3, 3)'."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return "True" if value else "False"
    if isinstance(value, (tuple, list)):
        items = [attr_str(v) for v in value]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
        return np.dtype(value).name
    if value is None:
        return "None"
    return str(value)


def physical_memory() -> int:
    """This machine's physical memory in bytes (a very large number where it cannot be read)."""
    import os

    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 62


def check_fits_in_memory(what: str, shape, dtype):
    """`shape` as a tuple, after checking that one array of it fits in the machine's memory: a
    CoarsenetError naming `what`, the shape and the size instead of numpy's MemoryError (or an
    overcommitted allocation that the OOM killer ends later)."""
    dims = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    size = np.dtype(dtype).itemsize
    for d in dims:
        if int(d) < 0:
            raise CoarsenetError(f"{what}: shape {dims} has a negative dimension")
        size *= int(d)
    limit = physical_memory()
    if size > limit:
        raise CoarsenetError(f"{what}: an array of shape {dims} ({np.dtype(dtype).name}) needs "
                             f"{size / 2**30:.1f} GiB, more than this machine's "
                             f"{limit / 2**30:.1f} GiB")
    return dims


def host_view(x):
    """The numpy array behind an NDArray, without a copy, for the framework's own in-place
    reads and writes (initializers, optimizers, kvstore, Module.set_params). Users get copies
    from `asnumpy()`, as in MXNet, so an array they keep never changes under them. Anything
    else with `asnumpy()` is copied; other arrays pass through unchanged."""
    view = getattr(x, "_host_view", None)
    if view is not None:
        return view()
    return x.asnumpy() if hasattr(x, "asnumpy") else x
