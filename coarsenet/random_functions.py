"""MXNet's random API over the C++ samplers in src/ops/random.cc.

The same functions appear as `mx.random.uniform` (NDArrays), `mx.nd.random.uniform`,
`mx.sym.random.uniform` (a node that re-draws at every forward) and the flat forms
`nd.random_uniform` / `nd.uniform` (and likewise for the other distributions). Every call takes
its seed from coarsenet.random's counter, so `mx.random.seed(n)` makes a run repeat exactly.
Distribution params given as NDArrays (MXNet's `_sample_*` form) draw one sample block per
parameter element: the result has shape params.shape + shape.
"""
from __future__ import annotations

import types

import numpy as np

from . import random as _random
from .base import CoarsenetError


def _shape(shape) -> tuple:
    if shape is None:
        return (1,)
    return (int(shape),) if np.isscalar(shape) else tuple(int(d) for d in shape)


class _Namespace:
    """The functions for one target: 'nd' makes NDArrays, 'sym' makes Symbol nodes."""

    def __init__(self, kind: str):
        self.kind = kind

    def _draw(self, op, params, shape, dtype, out, name=None, **extra):
        from .context import Context

        if shape is None and out is not None:
            shape = out.shape
        params = dict(params, shape=_shape(shape))
        if isinstance(dtype, Context):  # mx.random.normal(0, 1, (2,), mx.cpu()) runs in MXNet
            dtype = None
        if dtype is not None:
            params["dtype"] = np.dtype(dtype).name
        if self.kind == "sym":
            from . import symbol

            return getattr(symbol, op)(name=name, **params, **extra)
        from . import ndarray

        result = getattr(ndarray, op)(**params)
        if out is not None:
            out[:] = result
            return out
        return result

    def _with_array_params(self, op, names, values, shape, dtype, out, name, transform):
        """Scalar params: one op call. NDArray params (nd only): per-element blocks drawn from
        the standard distribution and mapped by `transform(std, *params)` with broadcasting."""
        if not any(hasattr(v, "asnumpy") for v in values):
            return self._draw(op, dict(zip(names, values)), shape, dtype, out, name)
        if self.kind == "sym":
            raise CoarsenetError(f"sym.random: symbolic distribution params are not supported "
                                 f"by coarsenet; give numbers for {', '.join(names)}")
        from . import ndarray

        arrays = [v.asnumpy() if hasattr(v, "asnumpy") else np.asarray(v) for v in values]
        base = np.broadcast_shapes(*(a.shape for a in arrays))
        extra = () if shape is None else _shape(shape)
        std = self._draw(op, {}, base + extra, dtype or "float64", None).asnumpy()
        expand = [a.reshape(a.shape + (1,) * len(extra)) for a in arrays]
        value = ndarray.array(transform(std, *expand), dtype=dtype or np.float32)
        if out is not None:
            out[:] = value
            return out
        return value

    def uniform(self, low=0.0, high=1.0, shape=None, dtype=None, ctx=None, out=None, name=None,
                **kwargs):
        return self._with_array_params("_random_uniform", ("low", "high"), (low, high), shape,
                                       dtype, out, name, lambda u, lo, hi: lo + (hi - lo) * u)

    def normal(self, loc=0.0, scale=1.0, shape=None, dtype=None, ctx=None, out=None, name=None,
               **kwargs):
        return self._with_array_params("_random_normal", ("loc", "scale"), (loc, scale), shape,
                                       dtype, out, name, lambda z, mu, s: mu + s * z)

    def randn(self, *shape, loc=0.0, scale=1.0, dtype=None, ctx=None, out=None, name=None,
              **kwargs):
        return self.normal(loc, scale, shape or None, dtype, ctx, out, name)

    def exponential(self, scale=1.0, shape=None, dtype=None, ctx=None, out=None, name=None,
                    **kwargs):
        if hasattr(scale, "asnumpy"):  # draw with rate 1, then scale
            return self._with_array_params("_random_exponential", ("lam",), (scale,), shape,
                                           dtype, out, name, lambda e, s: e * s)
        if not scale > 0:
            raise CoarsenetError(f"random.exponential: scale must be > 0, found {scale}")
        return self._draw("_random_exponential", {"lam": 1.0 / scale}, shape, dtype, out, name)

    def gamma(self, alpha=1.0, beta=1.0, shape=None, dtype=None, ctx=None, out=None, name=None,
              **kwargs):
        if any(hasattr(v, "asnumpy") for v in (alpha, beta)):
            raise CoarsenetError("random.gamma: NDArray alpha/beta are not supported by "
                                 "coarsenet; give numbers")
        return self._draw("_random_gamma", {"alpha": alpha, "beta": beta}, shape, dtype, out,
                          name)

    def poisson(self, lam=1.0, shape=None, dtype=None, ctx=None, out=None, name=None, **kwargs):
        if hasattr(lam, "asnumpy"):
            raise CoarsenetError("random.poisson: NDArray lam is not supported by coarsenet; "
                                 "give a number")
        return self._draw("_random_poisson", {"lam": lam}, shape, dtype, out, name)

    def randint(self, low, high, shape=None, dtype=None, ctx=None, out=None, name=None,
                **kwargs):
        return self._draw("_random_randint", {"low": int(low), "high": int(high)}, shape,
                          dtype, out, name)

    # The two below draw with a numpy generator seeded from the same counter: reproducible
    # after mx.random.seed, but not C++ ops, so imperative only.
    def multinomial(self, data, shape=None, get_prob=False, out=None, dtype="int32", **kwargs):
        from . import ndarray

        self._imperative_only("multinomial")
        p = data.asnumpy().astype(np.float64)
        if p.ndim == 0 or (p < 0).any():
            raise CoarsenetError(f"random.multinomial: expected non-negative probabilities of "
                                 f"shape (..., k), found shape {p.shape}")
        extra = () if shape is None else _shape(shape)
        rng = np.random.default_rng(_random.next_seed())
        cdf = np.cumsum(p, axis=-1)
        cdf /= cdf[..., -1:]
        rows = cdf.reshape(-1, p.shape[-1])
        u = rng.random((rows.shape[0], int(np.prod(extra, dtype=np.int64))))
        idx = np.stack([np.searchsorted(r, uu, side="right") for r, uu in zip(rows, u)])
        idx = np.minimum(idx, p.shape[-1] - 1).reshape(p.shape[:-1] + extra)
        result = ndarray.array(idx, dtype=dtype)
        if get_prob:
            logp = np.log(np.take_along_axis(
                p.reshape(rows.shape[0], -1) / p.reshape(rows.shape[0], -1).sum(-1, keepdims=True),
                idx.reshape(rows.shape[0], -1), axis=-1)).reshape(idx.shape)
            return result, ndarray.array(logp, dtype=data.dtype)
        return result

    def shuffle(self, data, out=None, **kwargs):
        from . import ndarray

        self._imperative_only("shuffle")
        rng = np.random.default_rng(_random.next_seed())
        value = ndarray.array(rng.permutation(data.asnumpy()), dtype=data.dtype)
        if out is not None:
            out[:] = value
            return out
        return value

    def _imperative_only(self, what):
        if self.kind == "sym":
            raise CoarsenetError(f"sym.random.{what} is not implemented by coarsenet (only "
                                 f"nd.random.{what})")


_NAMES = ("uniform", "normal", "randn", "exponential", "gamma", "poisson", "randint",
          "multinomial", "shuffle")
# MXNet's flat op forms in mx.nd / mx.sym (both spellings).
_FLAT = {f"random_{n}": n for n in ("uniform", "normal", "exponential", "gamma", "poisson",
                                    "randint")}
_FLAT.update({n: n for n in ("uniform", "normal")})
_FLAT.update({"sample_multinomial": "multinomial", "shuffle": "shuffle"})


def _module(kind: str, qualname: str) -> types.ModuleType:
    ns = _Namespace(kind)
    mod = types.ModuleType(qualname, f"{kind}.random: MXNet's random sampling functions.")
    for n in _NAMES:
        setattr(mod, n, getattr(ns, n))
    mod.seed = _random.seed
    return mod


def install() -> None:
    """Puts the random namespaces on coarsenet.random, cn.nd and cn.sym."""
    from . import ndarray, symbol

    nd_mod = _module("nd", "coarsenet.ndarray.random")
    sym_mod = _module("sym", "coarsenet.symbol.random")
    ndarray.random, symbol.random = nd_mod, sym_mod
    for n in _NAMES:
        setattr(_random, n, getattr(nd_mod, n))  # mx.random.uniform(...) returns NDArrays
    for flat, n in _FLAT.items():
        for target, mod in ((ndarray, nd_mod), (symbol, sym_mod)):
            if not hasattr(target, flat):
                setattr(target, flat, getattr(mod, n))
