"""MXNet's fluent NDArray methods: `x.exp()`, `x.abs()`, `x.norm()`, `x.clip(0, 1)`, ... each
calls the op of the same name with the array as its first input (MXNet's list; a method is
added only when coarsenet has the op and NDArray does not define the name itself)."""
from __future__ import annotations

_FLUENT = ["abs", "sign", "round", "rint", "fix", "floor", "ceil", "trunc", "zeros_like", "ones_like", "broadcast_axes", "broadcast_like", "repeat", "pad", "swapaxes", "split", "slice", "slice_axis", "slice_like", "take", "one_hot", "pick", "sort", "topk", "argsort", "argmax", "argmax_channel", "argmin", "clip", "expand_dims", "tile", "transpose", "flip", "diag", "nansum", "prod", "nanprod", "max", "min", "norm", "sin", "cos", "tan", "arcsin", "arccos", "arctan", "degrees", "radians", "sinh", "cosh", "tanh", "arcsinh", "arccosh", "arctanh", "exp", "expm1", "log", "log10", "log2", "log1p", "sqrt", "rsqrt", "cbrt", "rcbrt", "square", "reciprocal", "relu", "sigmoid", "softmax", "log_softmax", "softmin"]


def _method(op_name: str):
    def method(self, *args, **kwargs):
        from . import ndarray

        return getattr(ndarray, op_name)(self, *args, **kwargs)

    method.__name__ = op_name
    method.__doc__ = f"Fluent form of nd.{op_name}(self, ...)."
    return method


def _broadcast_to(self, shape):
    """x.broadcast_to(shape) as MXNet's method: any sequence of ints (a numpy array too), and
    an array of fewer dimensions is first given leading axes of length 1."""
    from . import ndarray

    shape = tuple(int(d) for d in shape)
    x = self
    if len(x.shape) < len(shape):
        x = x.reshape((1,) * (len(shape) - len(x.shape)) + tuple(x.shape))
    return ndarray.broadcast_to(x, shape=shape)


def install() -> None:
    from . import ndarray

    for name in _FLUENT:
        if not hasattr(ndarray.NDArray, name) and callable(getattr(ndarray, name, None)):
            setattr(ndarray.NDArray, name, _method(name))
    if not hasattr(ndarray.NDArray, "broadcast_to"):
        ndarray.NDArray.broadcast_to = _broadcast_to
    install_comparisons()


def _comparison(ufunc):
    """x >= y as MXNet: 1 where true, 0 elsewhere, in x's dtype (no gradient flows)."""

    def compare(self, other):
        from .ndarray import NDArray

        theirs = other.asnumpy() if isinstance(other, NDArray) else other
        mine = self.asnumpy()
        return NDArray(ufunc(mine, theirs).astype(mine.dtype))

    return compare


def install_comparisons() -> None:
    """<, <=, >, >= on NDArrays (== and != keep Python identity: NDArrays are dict keys)."""
    import numpy as np

    from . import ndarray

    for dunder, ufunc in (("__lt__", np.less), ("__le__", np.less_equal),
                          ("__gt__", np.greater), ("__ge__", np.greater_equal)):
        if dunder not in vars(ndarray.NDArray):
            setattr(ndarray.NDArray, dunder, _comparison(ufunc))
