"""Lambda and HybridLambda: wrap a function (or an op's name) as a block, as MXNet Gluon does."""
from __future__ import annotations

from .. import ndarray as _nd
from .. import symbol as _sym
from ..base import CoarsenetError
from .block import Block, HybridBlock


def _function_name(function) -> str:
    return getattr(function, "__name__", type(function).__name__)


class Lambda(Block):
    """Runs `function(*inputs)` imperatively; a string names a cn.nd function ('tanh')."""

    def __init__(self, function, prefix=None):
        super().__init__(prefix=prefix)
        if isinstance(function, str):
            if not hasattr(_nd, function):
                raise CoarsenetError(f"Lambda: function name '{function}' is not found in "
                                     "ndarray")
            function = getattr(_nd, function)
        elif not callable(function):
            raise ValueError(f"Unrecognized function in lambda: {function} of type "
                             f"{type(function)}")
        self._func_impl = function

    def forward(self, *args):
        return self._func_impl(*args)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({_function_name(self._func_impl)})"


class HybridLambda(HybridBlock):
    """Runs `function(F, x, *args)`; a string names an op present in both nd and sym, called as
    F.<name>(x, *args) so that it hybridizes."""

    def __init__(self, function, prefix=None):
        super().__init__(prefix=prefix)
        if isinstance(function, str):
            if not (hasattr(_nd, function) and hasattr(_sym, function)):
                raise CoarsenetError(f"HybridLambda: function name '{function}' is not found "
                                     "in symbol/ndarray")
            name = function
            self._func = lambda F, *args: getattr(F, name)(*args)  # noqa: N803
            self._func_name = function
        elif callable(function):
            self._func, self._func_name = function, _function_name(function)
        else:
            raise ValueError(f"Unrecognized function in lambda: {function} of type "
                             f"{type(function)}")

    def hybrid_forward(self, F, x, *args):  # noqa: N803
        return self._func(F, x, *args)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._func_name})"
