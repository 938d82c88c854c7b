"""More of MXNet's initializers: Orthogonal, Bilinear (upsampling kernels), LSTMBias, and the
composing ones, Mixed (by name pattern) and Load (from saved arrays)."""
from __future__ import annotations

import re

import numpy as np

from .base import CoarsenetError
from .initializer_base import Initializer, _as_numpy, _rng, create


@Initializer.register
class Orthogonal(Initializer):
    """Saxe et al. 2013: the (rows, prod(rest)) matrix of a random draw's singular vectors,
    times scale; rows are orthonormal when rows <= columns (columns otherwise)."""

    def __init__(self, scale: float = 1.414, rand_type: str = "uniform"):
        if rand_type not in ("uniform", "normal"):
            raise CoarsenetError(f"Orthogonal: rand_type must be 'uniform' or 'normal', found "
                                 f"'{rand_type}'")
        super().__init__(scale=scale, rand_type=rand_type)
        self.scale, self.rand_type = scale, rand_type

    def _init_weight(self, name, data) -> None:
        data = _as_numpy(data)
        if data.ndim < 1 or data.size == 0:
            raise CoarsenetError(f"Orthogonal: '{name}' has shape {data.shape}; expected a "
                                 "non-empty weight")
        nout, nin = data.shape[0], int(np.prod(data.shape[1:]))
        draw = _rng().uniform(-1.0, 1.0, (nout, nin)) if self.rand_type == "uniform" else \
            _rng().normal(0.0, 1.0, (nout, nin))
        u, _, v = np.linalg.svd(draw, full_matrices=False)
        res = u if u.shape == draw.shape else v
        data[...] = (self.scale * res).reshape(data.shape)


@Initializer.register
class Bilinear(Initializer):
    """Bilinear-interpolation kernels for a Deconvolution used as upsampling."""

    def _init_weight(self, name, data) -> None:
        data = _as_numpy(data)
        if data.ndim != 4:
            raise CoarsenetError(f"Bilinear: '{name}' must be a 4-d kernel, found shape "
                                 f"{data.shape}")
        h, w = data.shape[2], data.shape[3]
        f = np.ceil(w / 2.0)
        c = (2 * f - 1 - f % 2) / (2.0 * f)
        x = np.arange(w)
        y = np.arange(h)
        kernel = np.outer(1 - np.abs(y / f - c), 1 - np.abs(x / f - c))
        data[...] = np.broadcast_to(kernel, data.shape)


@Initializer.register
class LSTMBias(Initializer):
    """Zeros except the forget-gate quarter of an LSTM bias (gates i, f, c, o), set to
    forget_bias."""

    def __init__(self, forget_bias: float = 1.0):
        super().__init__(forget_bias=forget_bias)
        self.forget_bias = forget_bias

    def _init_weight(self, name, data) -> None:
        data = _as_numpy(data)
        if data.shape[0] % 4:
            raise CoarsenetError(f"LSTMBias: '{name}' has {data.shape[0]} entries; expected 4 "
                                 "gates of equal size")
        data[...] = 0
        n = data.shape[0] // 4
        data[n: 2 * n] = self.forget_bias


def _by_name(init, name, arr) -> None:
    """MXNet's Initializer.__call__: zeros for biases, ones for gammas, the rule for weights.
    (coarsenet's Zero/One/Constant fill every name when called directly, for Gluon's own
    per-parameter initializers; used inside Mixed and Load they follow MXNet.)"""
    if isinstance(init, Initializer):
        Initializer.__call__(init, name, arr)
    else:
        init(name, arr)


class Mixed:
    """The first initializer whose regular expression matches the parameter name (re.match)."""

    def __init__(self, patterns, initializers):
        if len(patterns) != len(initializers):
            raise CoarsenetError(f"Mixed: {len(patterns)} patterns for {len(initializers)} "
                                 "initializers; expected as many of each")
        self.map = [(re.compile(p), create(i)) for p, i in zip(patterns, initializers)]

    def __call__(self, name, arr) -> None:
        for prog, init in self.map:
            if prog.match(str(name)):
                _by_name(init, name, arr)
                return
        raise CoarsenetError(f"Mixed: parameter name '{name}' matches none of the patterns "
                             f"{[p.pattern for p, _ in self.map]}; add a '.*' pattern for a "
                             "default")


class Load:
    """Fills parameters from saved arrays (a dict or an nd.save file; 'arg:'/'aux:' prefixes
    are dropped); names not there go to default_init."""

    def __init__(self, param, default_init=None, verbose=False):
        if isinstance(param, str):
            from . import ndarray as nd

            param = nd.load(param)
            if not isinstance(param, dict):
                raise CoarsenetError("Load: the file holds an unnamed list of arrays; expected "
                                     "named arrays")
        self.param = {}
        for name, arr in param.items():
            key = name[4:] if name.startswith(("arg:", "aux:")) else name
            self.param[key] = arr
        self.default_init = default_init
        self.verbose = verbose

    def __call__(self, name, arr) -> None:
        name = str(name)
        target = _as_numpy(arr)
        if name in self.param:
            value = _as_numpy(self.param[name])
            if value.shape != target.shape:
                raise CoarsenetError(f"Load: parameter '{name}' has shape {target.shape}, the "
                                     f"loaded array {value.shape}")
            target[...] = value
        elif self.default_init is None:
            raise CoarsenetError(f"Load: no array for parameter '{name}' and no default_init")
        else:
            _by_name(self.default_init, name, arr)


def register(klass):
    """mx.init.register: makes create(name) and '__init__' attributes know this class."""
    if not (isinstance(klass, type) and issubclass(klass, Initializer)):
        raise CoarsenetError(f"init.register: expected a subclass of Initializer, found {klass}")
    return Initializer.register(klass)
