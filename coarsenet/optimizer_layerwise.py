"""Layer-wise adaptive optimizers of MXNet 1.9: LARS (SGD whose learning rate is scaled per
layer by eta |w| / (|g| + wd |w| + eps)) and LAMB (Adam's step scaled by |w| / |step|), plus
ccSGD, MXNet's deprecated name for SGD.
"""
from __future__ import annotations

import numpy as np

from .optimizer_base import Optimizer, _array
from .optimizer_common import SGD


def _norm(x: np.ndarray) -> float:
    return float(np.sqrt((x.astype(np.float64) ** 2).sum()))


@Optimizer.register
class LARS(Optimizer):
    """Biases, gammas and betas keep the plain learning rate; every other parameter's is
    scaled by eta |w| / (|rescale_grad * g| + wd |w| + eps) (1 when either norm is 0). The step
    is SGD with momentum, the momentum scaled by lr_now / lr_before (momentum_correction)."""

    def __init__(self, momentum: float = 0.0, lazy_update: bool = True, eta: float = 0.001,
                 eps: float = 0, momentum_correction: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.momentum, self.eta, self.eps = momentum, eta, eps
        self.momentum_correction = momentum_correction
        self.last_lr = self.cur_lr = None

    def set_wd_mult(self, args_wd_mult: dict) -> None:
        # As MXNet's LARS: weight decay only for names ending in _weight (gammas get none).
        self.wd_mult = {n: 0.0 for n in self.idx2name.values() if not n.endswith("_weight")}
        self.wd_mult.update(self._attr_mult("__wd_mult__"))
        self.wd_mult.update(args_wd_mult)

    def create_state(self, index, weight):
        return np.zeros_like(_array(weight)) if self.momentum != 0.0 else None

    def update(self, index, weight, grad, state) -> None:
        w, g = _array(weight), _array(grad)
        self._update_count(index)
        if self.cur_lr is not None:
            self.last_lr = self.cur_lr
        lr_now = self.learning_rate
        if self.cur_lr is None:
            self.last_lr = lr_now
        self.cur_lr = lr_now
        lr, wd = self._get_lr(index), self._get_wd(index)
        name = self._name(index)
        if not name.endswith(("gamma", "beta", "bias")):
            w_norm, g_norm = _norm(w), _norm(g) * abs(self.rescale_grad)
            if w_norm > 0.0 and g_norm > 0.0:
                lr *= self.eta * w_norm / (g_norm + wd * w_norm + self.eps)
        step = self._prepared_grad(g)
        step += wd * w
        if state is None:
            w -= lr * step
            return
        momentum = self.momentum
        if self.momentum_correction and self.last_lr != 0:
            momentum *= self.cur_lr / self.last_lr
        state *= momentum
        state -= lr * step
        w += state


@Optimizer.register
class LAMB(Optimizer):
    """Adam moments (bias-corrected unless bias_correction=False); the step
    m / (sqrt(v) + epsilon) + wd w is scaled by |w| / |step| (|w| clipped to
    [lower_bound, upper_bound] when given; 1 when either norm is 0)."""

    decoupled_weight_decay = True

    def __init__(self, learning_rate: float = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 epsilon: float = 1e-6, lower_bound=None, upper_bound=None,
                 bias_correction: bool = True, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
        self.lower_bound, self.upper_bound = lower_bound, upper_bound
        self.bias_correction = bias_correction

    def create_state(self, index, weight):
        return np.zeros_like(_array(weight)), np.zeros_like(_array(weight))

    def _step(self, index, w, g, state):
        mean, var = state
        t = self._index_update_count[index]
        mean *= self.beta1
        mean += (1 - self.beta1) * g
        var *= self.beta2
        var += (1 - self.beta2) * g * g
        if self.bias_correction:
            m_hat, v_hat = mean / (1 - self.beta1 ** t), var / (1 - self.beta2 ** t)
        else:
            m_hat, v_hat = mean, var
        step = m_hat / (np.sqrt(v_hat) + self.epsilon) + self._get_wd(index) * w
        r1, r2 = _norm(w), _norm(step)
        if self.lower_bound:
            r1 = max(r1, self.lower_bound)
        if self.upper_bound:
            r1 = min(r1, self.upper_bound)
        ratio = 1.0 if r1 == 0 or r2 == 0 else r1 / r2
        w -= self._get_lr(index) * ratio * step


@Optimizer.register
class ccSGD(SGD):  # noqa: N801  MXNet's name
    """MXNet's deprecated alias of SGD (registered as 'ccsgd')."""
