"""MXNet's fluent NDArray methods: `x.exp()`, `x.abs()`, `x.norm()`, `x.clip(0, 1)`, ... each
calls the op of the same name with the array as its first input (MXNet's list; a method is
added only when coarsenet has the op and NDArray does not define the name itself).

ndarray.py calls install() on its own class once its functions exist; this module imports
nothing of the package, so the dependency goes one way (ndarray -> ndarray_fluent)."""
from __future__ import annotations

_FLUENT = ["abs", "sign", "round", "rint", "fix", "floor", "ceil", "trunc", "zeros_like", "ones_like", "broadcast_axes", "broadcast_like", "repeat", "pad", "swapaxes", "split", "slice", "slice_axis", "slice_like", "take", "one_hot", "pick", "sort", "topk", "argsort", "argmax", "argmax_channel", "argmin", "clip", "expand_dims", "tile", "transpose", "flip", "diag", "nansum", "prod", "nanprod", "max", "min", "norm", "sin", "cos", "tan", "arcsin", "arccos", "arctan", "degrees", "radians", "sinh", "cosh", "tanh", "arcsinh", "arccosh", "arctanh", "exp", "expm1", "log", "log10", "log2", "log1p", "sqrt", "rsqrt", "cbrt", "rcbrt", "square", "reciprocal", "relu", "sigmoid", "softmax", "log_softmax", "softmin"]


def _method(module, op_name: str):
    function = getattr(module, op_name)

    def method(self, *args, **kwargs):
        return function(self, *args, **kwargs)

    method.__name__ = op_name
    method.__doc__ = f"Fluent form of nd.{op_name}(self, ...)."
    return method


def _broadcast_to_method(module):
    def broadcast_to(self, shape):
        """x.broadcast_to(shape) as MXNet's method: any sequence of ints (a numpy array too),
        and an array of fewer dimensions is first given leading axes of length 1."""
        shape = tuple(int(d) for d in shape)
        x = self
        if len(x.shape) < len(shape):
            x = x.reshape((1,) * (len(shape) - len(x.shape)) + tuple(x.shape))
        return module.broadcast_to(x, shape=shape)

    return broadcast_to


def install(cls, module) -> None:
    """Adds the fluent methods to `cls` (NDArray), calling the functions of `module` (the
    ndarray module)."""
    for name in _FLUENT:
        if not hasattr(cls, name) and callable(getattr(module, name, None)):
            setattr(cls, name, _method(module, name))
    if not hasattr(cls, "broadcast_to"):
        cls.broadcast_to = _broadcast_to_method(module)
    _install_comparisons(cls)


def _comparison(ufunc):
    """x >= y as MXNet: 1 where true, 0 elsewhere, in x's dtype (no gradient flows)."""

    def compare(self, other):
        theirs = other.asnumpy() if isinstance(other, type(self)) else other
        mine = self.asnumpy()
        return type(self)(ufunc(mine, theirs).astype(mine.dtype))

    return compare


def _install_comparisons(cls) -> None:
    """<, <=, >, >= on NDArrays (== and != keep Python identity: NDArrays are dict keys)."""
    import numpy as np

    for dunder, ufunc in (("__lt__", np.less), ("__le__", np.less_equal),
                          ("__gt__", np.greater), ("__ge__", np.greater_equal)):
        if dunder not in vars(cls):
            setattr(cls, dunder, _comparison(ufunc))
