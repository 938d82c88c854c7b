"""Imperative arrays: NDArray over a numpy array, and every registered op as a function.

`cn.nd.<Op>(...)` wrappers are generated from the registry at import (and again when a plugin
library adds ops); there is no per-op Python code. Arrays live in host memory; `asnumpy()` and
`nd.array(x)` copy, as MXNet's do (`np.asarray(x)` shares the memory).
"""
from __future__ import annotations

import builtins
import sys

import numpy as np

from . import _core
from . import autograd_state as _autograd_state
from . import binary_dispatch as _binary_dispatch
from . import mxnet_format as _mxnet_format
from . import ndarray_fluent as _ndarray_fluent
from . import nd_functions as _nd_functions
from . import nd_invoke as _nd_invoke
from . import ops as _ops
from .autograd_state import hooks  # the per-thread recording state, read on every op call
from .base import CoarsenetError, check_fits_in_memory
from .context import check_usable
from .nd_invoke import _call, _op_call, _plain_call, _plain_calls, invoke, invoke_op  # noqa: F401


class NDArray:
    """An n-dimensional array in host memory, usable with every coarsenet op."""

    __slots__ = ("_data", "_grad", "_grad_req", "_tape", "__weakref__")
    __array_priority__ = 1000.0

    def __init__(self, data: np.ndarray):
        self._data = data
        self._grad = None
        self._grad_req = "null"
        self._tape = None  # autograd bookkeeping (producer node), owned by coarsenet.autograd

    # ---- Python object pickling (pickle.dumps(nd)), as MXNet's NDArray.__getstate__: only the
    # values travel; the gradient buffer and autograd history do not (the copy is a fresh leaf).
    def __getstate__(self):
        return {"data": np.ascontiguousarray(self._data)}

    def __setstate__(self, state):
        data = state.get("data") if isinstance(state, dict) else None
        if not isinstance(data, np.ndarray):
            raise CoarsenetError("NDArray.__setstate__: expected a dict with a NumPy array under "
                                 f"'data', found {type(state).__name__}")
        self.__init__(data)

    # ---- numpy interop
    def asnumpy(self) -> np.ndarray:
        """A numpy copy of this array, as MXNet's: keeping it across steps (an executor's
        outputs are overwritten in place by the next forward) or writing to it never changes
        this NDArray. `np.asarray(x)` shares the memory instead."""
        return self._data.copy()

    def _host_view(self) -> np.ndarray:
        """The underlying numpy array, no copy (base.host_view: the framework's own writes)."""
        return self._data

    def __array__(self, dtype=None, copy=None):
        return self._data if dtype is None else self._data.astype(dtype)

    def asscalar(self):
        if self._data.size != 1:
            raise CoarsenetError(f"asscalar needs an array of one element, found shape {self.shape}")
        # a NumPy scalar of the array's dtype, as MXNet's asnumpy()[0] (scripts read .shape/.dtype)
        return self._data.reshape(())[()]

    def item(self):
        """The one element as a Python scalar."""
        return self.asscalar().item()

    @property
    def shape(self) -> tuple:
        return self._data.shape

    @property
    def dtype(self):
        return self._data.dtype

    @property
    def size(self) -> int:
        return self._data.size

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def context(self):
        from .context import cpu

        return cpu()

    ctx = context

    @property
    def grad(self):
        return self._grad

    # ---- autograd (the tape is coarsenet.autograd's; the state shared with it, autograd_state)
    def attach_grad(self, grad_req: str = "write", stype=None) -> None:
        """Allocates a zero gradient buffer (x.grad) and makes x a leaf of later recordings."""
        _autograd_state.mark_variable(self, NDArray(np.zeros_like(self._data)), grad_req)

    def detach(self) -> NDArray:
        """The same data, cut from the tape."""
        return NDArray(self._data)

    def backward(self, out_grad=None, retain_graph: bool = False,
                 train_mode: bool = True) -> None:
        """Accumulates d(self)/d(variable) into the .grad of every variable it depends on."""
        _autograd_state.Engine.backward([self], None if out_grad is None else [out_grad],
                                        retain_graph, train_mode)

    def copy(self) -> NDArray:
        return NDArray(self._data.copy())

    def copyto(self, other):
        if isinstance(other, NDArray):
            if other.shape != self.shape:
                raise CoarsenetError(f"copyto: expected target shape {self.shape}, found {other.shape}")
            np.copyto(other._data, self._data)
            return other
        return self.copy()  # a Context: MXNet copies to that device; host memory is the only one

    def as_in_context(self, ctx) -> NDArray:
        check_usable(ctx)
        return self

    def astype(self, dtype, copy=True) -> NDArray:
        if not copy and self._data.dtype == np.dtype(dtype):
            return self
        return NDArray(self._data.astype(dtype))

    def wait_to_read(self) -> None:
        """MXNet compatibility: ops run synchronously, so results are always ready."""

    def __repr__(self) -> str:
        return f"\n{self._data}\n<NDArray {'x'.join(map(str, self.shape))} @cpu(0)>"

    def __len__(self) -> int:
        return len(self._data)

    def __getitem__(self, key) -> NDArray:
        if hooks.record is not None and self._data.dtype.kind == "f":
            recorded = self._recorded_getitem(key)  # under autograd.record(): an op, so the
            if recorded is not None:                # gradient flows back through x[i], x[i, j]
                return recorded
        if isinstance(key, NDArray):
            key = key._data.astype(np.int64)
        return NDArray(np.ascontiguousarray(self._data[key]))

    def _recorded_getitem(self, key):
        """x[key] through the slice/take ops for integer, slice and index-array keys on the
        leading axes (what MXNet records); None for other keys (read as plain data)."""
        if isinstance(key, NDArray) and key.ndim == 1:
            return invoke("take", [self, key], {"axis": 0})
        keys = key if isinstance(key, tuple) else (key,)
        if not keys or len(keys) > self.ndim or not all(
                isinstance(k, builtins.slice) or (isinstance(k, (int, np.integer))
                                         and not isinstance(k, bool)) for k in keys):
            return None
        begin, end, step = [], [], []
        for k, dim in zip(keys, self.shape):
            if isinstance(k, builtins.slice):
                b, e, st = k.indices(dim)
                if st < 0 or e <= b:  # reversed or empty: plain data (the slice op refuses)
                    return None
            else:
                b = k + dim if k < 0 else k
                if not 0 <= b < dim:
                    raise IndexError(f"index {k} is out of bounds for axis of size {dim}")
                e, st = b + 1, 1
            begin.append(b)
            end.append(e)
            step.append(st)
        out = invoke("slice", [self], {"begin": tuple(begin), "end": tuple(end),
                                       "step": tuple(step)})
        shape = np.broadcast_to(np.empty(()), self.shape)[key].shape or (1,)
        return out if out.shape == shape else invoke("Reshape", [out], {"shape": shape})

    def __setitem__(self, key, value) -> None:
        self._check_inplace("assignment (x[...] = v)")
        self._data[key] = value._data if isinstance(value, NDArray) else value

    # ---- arithmetic through the registered elementwise ops
    def _binary(self, other, same_op, broadcast_op, scalar_op):
        if isinstance(other, NDArray):
            name = same_op if other._data.shape == self._data.shape else broadcast_op
            return _call(_plain_calls.get(name) or _plain_call(name), [self, other])
        if isinstance(other, np.ndarray):
            return self._binary(array(other, dtype=self.dtype), same_op, broadcast_op, scalar_op)
        return invoke(scalar_op, [self], {"scalar": float(other)})

    def __add__(self, o):
        return self._binary(o, "elemwise_add", "broadcast_add", "_plus_scalar")

    def __radd__(self, o):
        return self.__add__(o)

    def __sub__(self, o):
        return self._binary(o, "elemwise_sub", "broadcast_sub", "_minus_scalar")

    def __rsub__(self, o):
        if isinstance(o, NDArray):
            return o.__sub__(self)
        return invoke("_rminus_scalar", [self], {"scalar": float(o)})

    def __mul__(self, o):
        return self._binary(o, "elemwise_mul", "broadcast_mul", "_mul_scalar")

    def __rmul__(self, o):
        return self.__mul__(o)

    def __truediv__(self, o):
        return self._binary(o, "elemwise_div", "broadcast_div", "_div_scalar")

    def __rtruediv__(self, o):
        if isinstance(o, NDArray):
            return o.__truediv__(self)
        return invoke("_rdiv_scalar", [self], {"scalar": float(o)})

    def __neg__(self):
        return invoke("_mul_scalar", [self], {"scalar": -1.0})

    def __pow__(self, o):
        return power(self, o)

    def __rpow__(self, o):
        return power(o, self)

    def _check_inplace(self, what: str) -> None:
        # Writing into an array the tape may have saved would silently corrupt its gradient.
        if hooks.record is not None and self._tape is not None:
            raise CoarsenetError(
                f"in-place {what} on an array recorded by autograd (an input or result of a "
                "recorded op) would corrupt its gradient; write `x = x + y` instead, or run it "
                "under autograd.pause()")

    def __iadd__(self, o):
        self._check_inplace("+=")
        np.add(self._data, o._data if isinstance(o, NDArray) else o, out=self._data)
        return self

    def __isub__(self, o):
        self._check_inplace("-=")
        np.subtract(self._data, o._data if isinstance(o, NDArray) else o, out=self._data)
        return self

    def __imul__(self, o):
        self._check_inplace("*=")
        np.multiply(self._data, o._data if isinstance(o, NDArray) else o, out=self._data)
        return self

    def __itruediv__(self, o):
        self._check_inplace("/=")
        np.divide(self._data, o._data if isinstance(o, NDArray) else o, out=self._data)
        return self

    # ---- common methods, as ops so autograd sees them
    def reshape(self, *shape, **kwargs) -> NDArray:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        shape = kwargs.get("shape", shape)
        plain = hooks.record is None and hooks.replay is None  # no autograd, trace, profiler
        if plain or np.dtype(self.dtype).kind not in "f":
            # Outside autograd.record() a reshape is a view sharing this array's memory, as in
            # MXNet (writes through it change this array). Integer arrays (uint8 images, labels)
            # are never differentiated. The Reshape op's shape rule (0, -1, -2, -3, -4 codes).
            out = _ops.make("Reshape", {"shape": shape}).infer_shape([self.shape], [])[1][0]
            return NDArray(self._data.reshape(tuple(out)))
        return invoke("Reshape", [self], {"shape": shape})

    def flatten(self) -> NDArray:
        return invoke("Flatten", [self], {})

    def sum(self, axis=None, keepdims=False) -> NDArray:
        return invoke("sum", [self], _reduce_params(axis, keepdims))

    def mean(self, axis=None, keepdims=False) -> NDArray:
        return invoke("mean", [self], _reduce_params(axis, keepdims))

    @property
    def T(self) -> NDArray:  # noqa: N802 - numpy's name; the op, so autograd sees it
        return invoke("transpose", [self], {})


def _reduce_params(axis, keepdims) -> dict:
    params = {"keepdims": keepdims}
    if axis is not None:
        params["axis"] = axis if isinstance(axis, (tuple, list)) else (axis,)
    return params


# ---------------------------------------------------------------- creation


def array(source, ctx=None, dtype=None) -> NDArray:
    """An NDArray from array-like data. As in MXNet the dtype is float32 unless `dtype` is given
    or the source is an NDArray. Always a copy, as in MXNet: writing to the result must never
    change the caller's numpy array or NDArray (in-place updates would otherwise leak back)."""
    check_usable(ctx)
    if isinstance(source, NDArray):
        dtype = dtype or source.dtype
        source = source._data
    if dtype is None:
        dtype = np.float32
    return NDArray(np.array(source, dtype=dtype, order="C", copy=True))


def empty(shape, ctx=None, dtype=np.float32) -> NDArray:
    check_usable(ctx)
    return NDArray(np.empty(check_fits_in_memory("nd.empty", shape, dtype), dtype=dtype))


def zeros(shape, ctx=None, dtype=np.float32) -> NDArray:
    check_usable(ctx)
    return NDArray(np.zeros(check_fits_in_memory("nd.zeros", shape, dtype), dtype=dtype))


def ones(shape, ctx=None, dtype=np.float32) -> NDArray:
    check_usable(ctx)
    return NDArray(np.ones(shape, dtype=dtype))


def full(shape, val, ctx=None, dtype=np.float32) -> NDArray:
    check_usable(ctx)
    return NDArray(np.full(shape, val, dtype=dtype))


def arange(start, stop=None, step=1.0, repeat=1, infer_range=False, ctx=None,
           dtype=np.float32) -> NDArray:
    """MXNet's nd.arange through the `_arange` op, so bad ranges (zero or NaN step, empty or huge
    ranges, repeat < 1) fail with the op's CoarsenetError as sym.arange does. Integer dtypes
    are computed in float64 and cast, as the op's values are float."""
    check_usable(ctx)
    if infer_range:
        raise CoarsenetError("nd.arange: infer_range=True has no graph to infer from; give stop")
    if stop is None:
        start, stop = 0, start
    want = np.dtype(dtype or np.float32)
    computed = want.name if want.name in ("float32", "float64") else "float64"
    out = invoke("_arange", [], {"start": float(start), "stop": float(stop), "step": float(step),
                                 "repeat": int(repeat), "dtype": computed})
    return out if want.name == computed else out.astype(want)


def waitall() -> None:
    """MXNet compatibility: every op has finished when it returns."""


_core._set_ndarray_type(NDArray)  # what _core.imperative_call unwraps and returns
_nd_invoke.set_array_type(NDArray)  # what the recorded path wraps its outputs in


def _install_op_functions() -> None:
    """The generated functions cn.nd.<op>(...) (nd_functions.py), given NDArray and _call."""
    _nd_functions.install(sys.modules[__name__], NDArray, _call, _op_call, array)


_install_op_functions()
_ops.on_ops_added(_install_op_functions)  # again when a plugin library adds ops
maximum, minimum, power = _binary_dispatch.make_functions(
    NDArray, invoke, lambda a, b: a.shape == b.shape, "arrays (broadcast if shapes differ)")
_binary_dispatch.install_extra(globals(), NDArray, invoke, lambda a, b: a.shape == b.shape,
                               "arrays (broadcast if shapes differ)")


# ---------------------------------------------------------------- MXNet NDArray files


def save(fname, data) -> None:
    """Saves an NDArray, a list of them or a dict name -> NDArray in MXNet's binary format
    (what `mx.nd.save` writes; `.params` files). The file is replaced atomically."""
    _mxnet_format.save_arrays(fname, data)


def load(fname):
    """Loads an MXNet NDArray file: a dict name -> NDArray if the file names its arrays, else a
    list. Corrupt or unsupported files raise CoarsenetError naming the file and the problem."""
    return _wrap_loaded(_mxnet_format.load_arrays(fname))


def load_frombuffer(buf):
    """Like `load`, from the bytes of an NDArray file."""
    return _wrap_loaded(_mxnet_format.load_arrays(buf))


def _wrap_loaded(loaded):
    if isinstance(loaded, dict):
        return {k: NDArray(v) for k, v in loaded.items()}
    return [NDArray(v) for v in loaded]


# MXNet's fluent methods (x.exp(), x.clip(0, 1), x < y), once every function above exists.
_ndarray_fluent.install(NDArray, sys.modules[__name__])
