"""Binding a Symbol: simple_bind (allocate everything from input shapes) and bind (use the
caller's arrays), with MXNet's ways of giving grad_req and arrays (str / list / dict)."""
from __future__ import annotations

import math

import numpy as np

from .base import CoarsenetError, physical_memory
from .executor import Executor
from .ndarray import NDArray
from .passes.infer_type import infer_type

_GRAD_REQS = ("null", "write", "add")


def _normalize_grad_req(grad_req, names) -> dict:
    if isinstance(grad_req, str):
        reqs = {n: grad_req for n in names}
    elif isinstance(grad_req, (list, tuple)):
        if len(grad_req) != len(names):
            raise CoarsenetError(f"grad_req list has {len(grad_req)} entries for "
                                 f"{len(names)} arguments")
        reqs = dict(zip(names, grad_req))
    elif isinstance(grad_req, dict):
        unknown = [k for k in grad_req if k not in names]
        if unknown:
            raise CoarsenetError(f"grad_req names unknown arguments: {', '.join(unknown)}")
        reqs = {n: grad_req.get(n, "null") for n in names}
    else:
        raise CoarsenetError(f"grad_req must be a str, list or dict, found {type(grad_req)}")
    for n, r in reqs.items():
        if r not in _GRAD_REQS:
            raise CoarsenetError(f"grad_req of '{n}' is '{r}'; expected write, add or null")
    return reqs


def simple_bind(symbol, grad_req="write", type_dict=None, mirror=None, shapes=None) -> Executor:
    shapes = shapes or {}
    arg_shapes, _, aux_shapes = symbol.infer_shape_partial(**shapes)
    arg_names, aux_names = symbol.list_arguments(), symbol.list_auxiliary_states()
    unknown = [n for n, s in zip(arg_names + aux_names, arg_shapes + aux_shapes) if s is None]
    if unknown:
        raise CoarsenetError(f"simple_bind: cannot infer the shapes of {', '.join(unknown)}; "
                             "pass their shapes as keyword arguments (e.g. data=(32, 3, 28, 28))")
    arg_types, _, aux_types = symbol.infer_type(**(type_dict or {}))
    if arg_types is None:
        graph = symbol._graph()
        types = infer_type(graph, type_dict or {}, default=np.float32)
        arg_types, _, aux_types = [[t.type for t in ts] for ts in symbol._split(graph, types)]
    reqs = _normalize_grad_req(grad_req, arg_names)
    _check_memory([(n, s, t) for n, s, t in zip(arg_names, arg_shapes, arg_types)]
                  + [(n, s, t) for n, s, t in zip(aux_names, aux_shapes, aux_types)]
                  + [(n + " (gradient)", s, t) for n, s, t in zip(arg_names, arg_shapes, arg_types)
                     if reqs[n] != "null"])
    args = {n: NDArray(np.zeros(s, dtype=t)) for n, s, t in zip(arg_names, arg_shapes, arg_types)}
    aux = {n: NDArray(np.zeros(s, dtype=t)) for n, s, t in zip(aux_names, aux_shapes, aux_types)}
    grads = {n: NDArray(np.zeros(s, dtype=t)) for n, s, t in zip(arg_names, arg_shapes, arg_types)
             if reqs[n] != "null"}
    return Executor(symbol, args, grads, reqs, aux, mirror=mirror)


def _check_memory(arrays: list) -> None:
    """Shapes come from params (possibly a loaded file's, e.g. num_filter=2**32+1): arrays that
    cannot fit in the machine's memory are a CoarsenetError naming the largest, not a
    MemoryError (or an overcommitted allocation that the OOM killer ends later)."""
    sizes = [(math.prod(int(d) for d in s) * np.dtype(t).itemsize, n, s) for n, s, t in arrays]
    total = sum(size for size, _, _ in sizes)
    limit = physical_memory()
    if total > limit:
        size, name, shape = max(sizes, key=lambda x: x[0])
        raise CoarsenetError(f"simple_bind: the arrays need {total / 2**30:.1f} GiB, more than "
                             f"this machine's {limit / 2**30:.1f} GiB; the largest is '{name}' of "
                             f"shape {tuple(shape)} ({size / 2**30:.1f} GiB)")


def _as_dict(values, names, what) -> dict:
    if values is None:
        return {}
    if isinstance(values, dict):
        unknown = [k for k in values if k not in names]
        if unknown:
            raise CoarsenetError(f"bind: {what} names unknown entries: {', '.join(unknown)}")
        return dict(values)
    values = list(values)
    if len(values) != len(names):
        raise CoarsenetError(f"bind: {len(values)} {what} given, expected {len(names)} "
                             f"({', '.join(names)})")
    return dict(zip(names, values))


def _as_ndarray(value, name):
    if value is None:
        return None
    if isinstance(value, NDArray):
        data = value._data
        if not data.flags.c_contiguous or not data.flags.writeable:
            raise CoarsenetError(f"bind: array '{name}' must be C-contiguous and writable")
        return value
    return NDArray(np.ascontiguousarray(value))


def bind(symbol, args, args_grad=None, grad_req="write", aux_states=None, mirror=None):
    arg_names, aux_names = symbol.list_arguments(), symbol.list_auxiliary_states()
    args = {k: _as_ndarray(v, k) for k, v in _as_dict(args, arg_names, "args").items()}
    missing = [n for n in arg_names if n not in args]
    if missing:
        raise CoarsenetError(f"bind: no array given for arguments: {', '.join(missing)}")
    aux = {k: _as_ndarray(v, k) for k, v in _as_dict(aux_states, aux_names, "aux_states").items()}
    missing = [n for n in aux_names if n not in aux]
    if missing:
        raise CoarsenetError(f"bind: no array given for auxiliary states: {', '.join(missing)}")
    grads = {k: _as_ndarray(v, k) for k, v in _as_dict(args_grad, arg_names, "args_grad").items()}
    reqs = _normalize_grad_req(grad_req, arg_names)
    reqs = {n: (r if grads.get(n) is not None else "null") for n, r in reqs.items()}
    return Executor(symbol, args, grads, reqs, aux, mirror=mirror)
