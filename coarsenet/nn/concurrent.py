"""MXNet's gluon.contrib.nn containers used by the model zoo: Concurrent / HybridConcurrent run
every child on the same input and concatenate their outputs; Identity passes its input on."""
from __future__ import annotations

from .. import ndarray as _nd
from .block import HybridBlock, HybridSequential, Sequential


class Concurrent(Sequential):
    """Children see the same input; outputs are concatenated along `axis`."""

    def __init__(self, axis: int = -1, prefix=None, params=None):
        super().__init__(prefix=prefix, params=params)
        self.axis = axis

    def forward(self, x):
        return _nd.concat(*[child(x) for child in self._children.values()], dim=self.axis)


class HybridConcurrent(HybridSequential):
    """Concurrent whose children are HybridBlocks, so it hybridizes."""

    def __init__(self, axis: int = -1, prefix=None, params=None):
        super().__init__(prefix=prefix, params=params)
        self.axis = axis

    def hybrid_forward(self, F, x):  # noqa: N803
        return F.concat(*[child(x) for child in self._children.values()], dim=self.axis)


class Identity(HybridBlock):
    """Returns its input (a branch of a HybridConcurrent that keeps the features as they are)."""

    def hybrid_forward(self, F, x):  # noqa: N803
        return x
