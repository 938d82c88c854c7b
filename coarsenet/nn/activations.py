"""Gluon's activation blocks beyond Activation / LeakyReLU: PReLU, ELU, SELU, GELU, Swish, with
MXNet's parameter names (PReLU's learned slope is `<prefix>alpha`, initialised to 0.25)."""
from __future__ import annotations

from .. import initializer
from .block import HybridBlock


class PReLU(HybridBlock):
    """y = x > 0 ? x : alpha x; alpha learned, one value or one per channel (in_channels)."""

    def __init__(self, alpha_initializer=None, in_channels: int = 1, **kwargs):
        super().__init__(**kwargs)
        init = alpha_initializer if alpha_initializer is not None else initializer.Constant(0.25)
        with self.name_scope():
            self.alpha = self.params.get("alpha", shape=(in_channels,), init=init)

    def hybrid_forward(self, F, x, alpha):
        return F.LeakyReLU(x, alpha, act_type="prelu")


class ELU(HybridBlock):
    """y = x > 0 ? x : alpha (exp(x) - 1)."""

    def __init__(self, alpha: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self._alpha = alpha

    def hybrid_forward(self, F, x):
        return F.LeakyReLU(x, act_type="elu", slope=self._alpha)


class SELU(HybridBlock):
    """Scaled ELU (Klambauer et al. 2017) with its fixed alpha and scale."""

    def hybrid_forward(self, F, x):
        return F.LeakyReLU(x, act_type="selu")


class GELU(HybridBlock):
    """Gaussian error linear unit, x * Phi(x)."""

    def hybrid_forward(self, F, x):
        return F.LeakyReLU(x, act_type="gelu")


class Swish(HybridBlock):
    """y = x * sigmoid(beta * x) (Ramachandran et al. 2017)."""

    def __init__(self, beta: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self._beta = beta

    def hybrid_forward(self, F, x):
        return x * F.sigmoid(x * self._beta)
