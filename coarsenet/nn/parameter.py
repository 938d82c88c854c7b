"""Parameters of layers (MXNet Gluon style): named arrays with a gradient and deferred shapes.

A shape may contain 0 for "not known yet" (Dense(10) does not know its input width); such a
parameter is initialized at the first forward, once the layer has inferred the full shape.
"""
from __future__ import annotations

import re
import threading
from collections import OrderedDict

import numpy as np

from .. import initializer as _init
from ..base import CoarsenetError, host_view
from ..ndarray import NDArray


class DeferredInitializationError(CoarsenetError):
    """Raised when a parameter's data is read before its shape is known."""


class Parameter:
    """One named array of a layer, with its gradient buffer and initializer."""

    def __init__(self, name: str, grad_req: str = "write", shape=None, dtype=np.float32,
                 lr_mult: float = 1.0, wd_mult: float = 1.0, init=None,
                 allow_deferred_init: bool = False, differentiable: bool = True, **_ignored):
        self.name = name
        self._shape = None if shape is None else tuple(int(d) for d in
                                                       ((shape,) if np.isscalar(shape) else shape))
        self.dtype = np.dtype(dtype)
        self.lr_mult, self.wd_mult = lr_mult, wd_mult
        self.init = init
        self.allow_deferred_init = allow_deferred_init
        self.differentiable = differentiable
        self._grad_req = grad_req if differentiable else "null"
        self._data: NDArray | None = None
        self._deferred = None  # the initializer to apply once the shape is complete

    def __repr__(self) -> str:
        return f"Parameter {self.name} (shape={self.shape}, dtype={self.dtype.name})"

    # ---- shape (0 = unknown until the first forward)
    @property
    def shape(self):
        return self._shape

    @shape.setter
    def shape(self, new_shape) -> None:
        new_shape = tuple(int(d) for d in new_shape)
        if self._shape is not None:
            ok = len(new_shape) == len(self._shape) and all(
                old in (0, new) for old, new in zip(self._shape, new_shape))
            if not ok:
                raise CoarsenetError(
                    f"Parameter '{self.name}': expected a shape compatible with {self._shape}, "
                    f"found {new_shape}")
        self._shape = new_shape

    def _shape_known(self) -> bool:
        return self._shape is not None and all(d > 0 for d in self._shape)

    @property
    def grad_req(self) -> str:
        return self._grad_req

    @grad_req.setter
    def grad_req(self, req: str) -> None:
        if req not in ("write", "add", "null"):
            raise CoarsenetError(f"Parameter '{self.name}': grad_req must be write, add or null, "
                                 f"found {req!r}")
        self._grad_req = req if self.differentiable else "null"
        if self._data is not None:
            self._attach()

    # ---- initialization
    def initialize(self, init=None, ctx=None, default_init=None,
                   force_reinit: bool = False) -> None:
        """Fills the data with `self.init`, else `init`, else `default_init` (Uniform)."""
        if self._data is not None and not force_reinit:
            return
        chosen = self.init if self.init is not None else (init if init is not None
                                                          else default_init)
        if not self._shape_known():
            if not self.allow_deferred_init:
                raise CoarsenetError(
                    f"Parameter '{self.name}': cannot initialize with unknown shape "
                    f"{self._shape}; give the layer its input size (e.g. in_units)")
            self._deferred = _init.create(chosen)  # not None: marks "initialize later"
            self._data = None
            return
        self._init_now(chosen)

    def _init_now(self, init) -> None:
        data = np.zeros(self._shape, dtype=self.dtype)
        _init.create(init)(_init.InitDesc(self.name), data)
        self._data = NDArray(data)
        self._deferred = None
        self._attach()

    def _finish_deferred_init(self) -> None:
        if self._deferred is not None and self._data is None and self._shape_known():
            self._init_now(self._deferred)

    def _attach(self) -> None:
        if self._grad_req != "null":
            self._data.attach_grad(self._grad_req)
        else:
            self._data._grad, self._data._tape = None, None

    def _check_initialized(self) -> NDArray:
        if self._data is None:
            if self._deferred is not None:
                raise DeferredInitializationError(
                    f"Parameter '{self.name}' has not been initialized yet because its shape "
                    f"{self._shape} is still unknown; run one forward pass first")
            raise CoarsenetError(
                f"Parameter '{self.name}' has not been initialized; call .initialize() first")
        return self._data

    # ---- access
    def data(self, ctx=None) -> NDArray:
        return self._check_initialized()

    def list_data(self) -> list:
        return [self.data()]

    def grad(self, ctx=None) -> NDArray:
        data = self._check_initialized()
        if data.grad is None:
            raise CoarsenetError(f"Parameter '{self.name}' has no gradient (grad_req='null')")
        return data.grad

    def list_grad(self) -> list:
        return [self.grad()]

    def list_ctx(self) -> list:
        from ..context import cpu

        return [cpu()]

    def set_data(self, data) -> None:
        value = data.asnumpy() if isinstance(data, NDArray) else np.asarray(data)
        if self._data is None:
            self.shape = value.shape
            self._data = NDArray(np.array(value, dtype=self.dtype))
            self._deferred = None
            self._attach()
            return
        if value.shape != self._data.shape:
            raise CoarsenetError(f"Parameter '{self.name}': expected data of shape "
                                 f"{self._data.shape}, found {value.shape}")
        self._data._data[...] = value

    def zero_grad(self) -> None:
        if self._data is not None and self._data.grad is not None:
            self._data.grad._data[...] = 0

    def reset_ctx(self, ctx) -> None:
        """MXNet compatibility: host memory is the only context."""

    def cast(self, dtype) -> None:
        self.dtype = np.dtype(dtype)
        if self._data is not None:
            self._data = NDArray(self._data._data.astype(self.dtype))
            self._attach()

    def var(self):
        """The symbolic variable of this parameter (for hybridize / export)."""
        from .. import symbol as sym

        if TRACING.seen is not None:  # autograd.checkpoint binds the parameters a trace reads
            TRACING.seen[self.name] = self
        return sym.Variable(self.name, shape=self._shape, dtype=self.dtype)


class _Tracing(threading.local):
    seen = None  # {name: Parameter} while autograd.checkpoint traces a segment


TRACING = _Tracing()


class ParameterDict:
    """Parameters by full name; `get` creates `prefix + name` on first use."""

    def __init__(self, prefix: str = "", shared: ParameterDict | None = None):
        self.prefix = prefix
        self._params: OrderedDict[str, Parameter] = OrderedDict()
        self._shared = shared

    def __repr__(self) -> str:
        body = "\n".join(f"  {p!r}" for p in self._params.values())
        return f"{self.prefix}(\n{body}\n)"

    def __getitem__(self, key: str) -> Parameter:
        return self._params[key]

    def __iter__(self):
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def __contains__(self, key) -> bool:
        return key in self._params

    def keys(self):
        return self._params.keys()

    def values(self):
        return self._params.values()

    def items(self):
        return self._params.items()

    def get(self, name: str, **kwargs) -> Parameter:
        full = self.prefix + name
        param = self._params.get(full)
        if param is None and self._shared is not None and full in self._shared:
            param = self._shared[full]
            self._params[full] = param
        if param is None:
            param = self._params[full] = Parameter(full, **kwargs)
        elif "shape" in kwargs and kwargs["shape"] is not None:
            param.shape = kwargs["shape"] if not np.isscalar(kwargs["shape"]) else (
                kwargs["shape"],)
        return param

    def get_constant(self, name: str, value=None) -> Parameter:
        """A parameter holding fixed values (MXNet's gluon.Constant): no gradient, initialised
        to `value` (array-like) whatever initializer the block gets."""
        full = self.prefix + name
        param = self._params.get(full)
        if param is None:
            if value is None:
                raise CoarsenetError(f"get_constant: no constant '{full}' yet; give its value")
            data = np.asarray(value.asnumpy() if hasattr(value, "asnumpy") else value)
            from ..initializer import Constant

            class _Fill(Constant):  # fills the whole array, not one scalar
                def __call__(self, desc, arr):
                    host_view(arr)[...] = data

                _init_weight = __call__

            # As MXNet's nd.array(value): arrays keep their dtype, lists become float32.
            typed = hasattr(value, "asnumpy") or isinstance(value, np.ndarray)
            dtype = data.dtype if typed else np.float32
            param = self._params[full] = Parameter(full, grad_req="null", shape=data.shape,
                                                   dtype=dtype, init=_Fill(0.0),
                                                   differentiable=False)
        return param

    def update(self, other: ParameterDict) -> None:
        for name, param in other.items():
            existing = self._params.get(name)
            if existing is not None and existing is not param:
                raise CoarsenetError(f"two different parameters are named '{name}'")
            self._params[name] = param

    def select(self, pattern: str | None) -> ParameterDict:
        if pattern is None:
            return self
        regex = re.compile(pattern)
        out = ParameterDict(self.prefix)
        for name, p in self._params.items():
            if regex.match(name):
                out._params[name] = p
        return out

    def initialize(self, init=None, ctx=None, verbose: bool = False,
                   force_reinit: bool = False) -> None:
        for p in self._params.values():
            p.initialize(None, ctx, default_init=init, force_reinit=force_reinit)

    def zero_grad(self) -> None:
        for p in self._params.values():
            p.zero_grad()

    def setattr(self, name: str, value) -> None:
        for p in self._params.values():
            setattr(p, name, value)

    def reset_ctx(self, ctx) -> None:
        """MXNet compatibility: host memory is the only context."""

    def save(self, filename: str, strip_prefix: str = "") -> None:
        from ._io import save_params

        arrays = {}
        for name, p in self._params.items():
            if strip_prefix and not name.startswith(strip_prefix):
                raise CoarsenetError(f"save: parameter '{name}' does not start with "
                                     f"strip_prefix '{strip_prefix}'")
            arrays[name[len(strip_prefix):]] = p.data().asnumpy()
        save_params(filename, arrays)

    def load(self, filename: str, ctx=None, allow_missing: bool = False,
             ignore_extra: bool = False, restore_prefix: str = "") -> None:
        from ._io import load_params

        loaded = {restore_prefix + k.split(":", 1)[-1]: v
                  for k, v in load_params(filename).items()}
        _assign(self._params, loaded, filename, allow_missing, ignore_extra)


def _assign(params: dict, loaded: dict, filename: str, allow_missing: bool,
            ignore_extra: bool) -> None:
    """Copies loaded arrays into parameters by name, checking names and shapes."""
    if not allow_missing:
        missing = [n for n in params if n not in loaded]
        if missing:
            raise CoarsenetError(f"{filename}: parameters missing from the file: "
                                 f"{', '.join(missing)} (pass allow_missing=True to skip them)")
    if not ignore_extra:
        extra = [n for n in loaded if n not in params]
        if extra:
            raise CoarsenetError(f"{filename}: the file has parameters this model lacks: "
                                 f"{', '.join(extra)} (pass ignore_extra=True to skip them)")
    for name, value in loaded.items():
        if name in params:
            p = params[name]
            if p._shape is not None and not (len(p._shape) == value.ndim and all(
                    d in (0, v) for d, v in zip(p._shape, value.shape))):
                raise CoarsenetError(f"{filename}: parameter '{name}' has shape {value.shape} "
                                     f"in the file, the model expects {p.shape}")
            p.set_data(value)
