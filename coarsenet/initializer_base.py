"""Parameter initializers with MXNet's names and defaults.

An initializer is called as `init(desc, array)` where desc is an InitDesc (a str: the parameter
name) and array the numpy array to fill in place. As in MXNet, the name picks the rule: names
ending in bias / beta / moving_mean / running_mean get zeros, gamma / moving_var / running_var
get ones, everything else (weights) gets the initializer's own distribution.
"""
from __future__ import annotations

import json

import numpy as np

from . import random as _random
from .base import CoarsenetError, host_view


def _as_numpy(arr) -> np.ndarray:
    """The numpy view behind an NDArray, no copy (MXNet passes NDArrays to _init_weight)."""
    return host_view(arr)


def _apply_rule(init, name: str, data: np.ndarray) -> None:
    """Calls init._init_weight; a user's subclass (MXNet's extension point) gets an NDArray over
    the same memory, as MXNet gives it, so `data[:] = nd.random.uniform(...)` works."""
    if type(init)._init_weight.__module__ == __name__:
        init._init_weight(name, data)
    else:
        from .ndarray import NDArray

        init._init_weight(name, NDArray(data))


class InitDesc(str):
    """A parameter name with optional attributes (e.g. a per-parameter '__init__')."""

    def __new__(cls, name: str, attrs: dict | None = None, global_init=None):
        desc = super().__new__(cls, name)
        desc.attrs = attrs or {}
        desc.global_init = global_init
        return desc


_ZERO_SUFFIXES = ("bias", "beta", "moving_mean", "running_mean", "moving_inv_var")
_ONE_SUFFIXES = ("gamma", "moving_var", "running_var")


class Initializer:
    """Base: dispatches on the parameter name, subclasses define _init_weight."""

    registry: dict[str, type] = {}

    def __init__(self, **kwargs):
        self._kwargs = kwargs

    @classmethod
    def register(cls, klass):
        cls.registry[klass.__name__.lower()] = klass
        return klass

    def dumps(self) -> str:
        """The JSON MXNet stores in a variable's __init__ attribute: '["xavier", {...}]'."""
        return json.dumps([type(self).__name__.lower(), self._kwargs])

    def __call__(self, desc, arr) -> None:
        data = host_view(arr)
        name = str(desc)
        own = getattr(desc, "attrs", {}).get("__init__")
        if own:  # a per-variable initializer (Variable(init=...)) wins
            init = _from_json(own)
            if isinstance(init, (Zero, One, Constant)):
                init(name, data)
            else:
                _apply_rule(init, name, data)
            return
        if name.endswith(_ZERO_SUFFIXES):
            data[...] = 0
        elif name.endswith(_ONE_SUFFIXES):
            data[...] = 1
        else:
            _apply_rule(self, name, data)

    def _init_weight(self, name: str, data: np.ndarray) -> None:
        raise CoarsenetError(f"initializer {type(self).__name__} has no rule for weight '{name}'")

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._kwargs.items())
        return f"{type(self).__name__}({args})"


def _rng() -> np.random.Generator:
    return _random.numpy_rng()


@Initializer.register
class Zero(Initializer):
    def __call__(self, desc, arr) -> None:
        host_view(arr)[...] = 0

    def _init_weight(self, name, data) -> None:
        _as_numpy(data)[...] = 0


@Initializer.register
class One(Initializer):
    def __call__(self, desc, arr) -> None:
        host_view(arr)[...] = 1

    def _init_weight(self, name, data) -> None:
        _as_numpy(data)[...] = 1


@Initializer.register
class Constant(Initializer):
    def __init__(self, value=0.0):
        super().__init__(value=value)
        self.value = value

    def __call__(self, desc, arr) -> None:
        host_view(arr)[...] = self.value

    def _init_weight(self, name, data) -> None:
        _as_numpy(data)[...] = self.value


@Initializer.register
class Uniform(Initializer):
    """Weights from U(-scale, scale)."""

    def __init__(self, scale: float = 0.07):
        super().__init__(scale=scale)
        self.scale = scale

    def _init_weight(self, name, data) -> None:
        data = _as_numpy(data)
        data[...] = _rng().uniform(-self.scale, self.scale, data.shape)


@Initializer.register
class Normal(Initializer):
    """Weights from N(0, sigma^2)."""

    def __init__(self, sigma: float = 0.01):
        super().__init__(sigma=sigma)
        self.sigma = sigma

    def _init_weight(self, name, data) -> None:
        data = _as_numpy(data)
        data[...] = _rng().normal(0.0, self.sigma, data.shape)


@Initializer.register
class Xavier(Initializer):
    """Glorot: scale = sqrt(magnitude / fan), fan chosen by factor_type ('avg', 'in', 'out')."""

    def __init__(self, rnd_type: str = "uniform", factor_type: str = "avg", magnitude: float = 3):
        super().__init__(rnd_type=rnd_type, factor_type=factor_type, magnitude=magnitude)
        if rnd_type not in ("uniform", "gaussian") or factor_type not in ("avg", "in", "out"):
            raise CoarsenetError(
                f"Xavier: expected rnd_type 'uniform'|'gaussian' and factor_type 'avg'|'in'|'out',"
                f" found {rnd_type!r}, {factor_type!r}")
        self.rnd_type, self.factor_type, self.magnitude = rnd_type, factor_type, float(magnitude)

    def _init_weight(self, name, data) -> None:
        data = _as_numpy(data)
        if data.ndim < 2:
            raise CoarsenetError(
                f"Xavier initializer needs a weight of at least 2 dimensions; '{name}' has "
                f"shape {data.shape}")
        receptive = int(np.prod(data.shape[2:])) if data.ndim > 2 else 1
        fan_in, fan_out = data.shape[1] * receptive, data.shape[0] * receptive
        fan = {"avg": (fan_in + fan_out) / 2.0, "in": fan_in, "out": fan_out}[self.factor_type]
        scale = np.sqrt(self.magnitude / fan)
        if self.rnd_type == "uniform":
            data[...] = _rng().uniform(-scale, scale, data.shape)
        else:
            data[...] = _rng().normal(0.0, scale, data.shape)


@Initializer.register
class MSRAPrelu(Xavier):
    """He et al. 2015 for PReLU nets: Gaussian Xavier with magnitude 2 / (1 + slope^2)."""

    def __init__(self, factor_type: str = "avg", slope: float = 0.25):
        super().__init__("gaussian", factor_type, 2.0 / (1 + slope**2))
        self._kwargs = {"factor_type": factor_type, "slope": slope}


def _from_json(text: str) -> Initializer:
    try:
        name, kwargs = json.loads(text)
        return Initializer.registry[name.lower()](**kwargs)
    except (ValueError, KeyError, TypeError):
        raise CoarsenetError(f"cannot parse initializer attribute {text!r}; expected "
                             "'[\"name\", {kwargs}]' with a known initializer name") from None


def create(init) -> Initializer:
    """An Initializer from an instance, a name ('xavier') or None (Uniform, MXNet's default)."""
    if init is None:
        return Uniform()
    if isinstance(init, Initializer):
        return init
    if isinstance(init, str):
        klass = Initializer.registry.get(init.lower())
        if klass is None:
            raise CoarsenetError(f"unknown initializer '{init}'; expected one of: "
                                 f"{', '.join(sorted(Initializer.registry))}")
        return klass()
    raise CoarsenetError(f"expected an Initializer or its name, found {type(init).__name__}")


Initializer.registry.update(zeros=Zero, ones=One)  # MXNet's aliases
