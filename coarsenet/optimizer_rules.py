"""More of MXNet 1.9's optimizers, with its update rules and defaults: AdaGrad, AdaDelta, Adamax,
Nadam, Ftrl, Signum, FTML, DCASGD, SGLD. Registered by name with Optimizer.register, so
`mx.optimizer.create('sgld')` and `Module.fit(optimizer='adagrad')` find them.

MXNet applies weight decay differently per rule (some add wd * w to the gradient, some do not,
AdaGrad adds it after the adaptive step); rules that differ from the base class's coupled
"g += wd * w" set decoupled_weight_decay and apply wd themselves, as MXNet does.
"""
from __future__ import annotations

import numpy as np

from . import random as _random
from .base import CoarsenetError
from .optimizer_base import Optimizer, _array


class _DecayBeforeClip(Optimizer):
    """Rules whose MXNet code clips rescale_grad * g + wd * w (the base clips before adding)."""

    decoupled_weight_decay = True

    def _prepared_grad_with(self, index, w, grad):
        g = np.multiply(grad, self.rescale_grad) + self._get_wd(index) * w
        if self.clip_gradient is not None:
            np.clip(g, -self.clip_gradient, self.clip_gradient, out=g)
        return g

    def update(self, index, weight, grad, state) -> None:
        w = _array(weight)
        self._checked_count(index, w, _array(grad))
        self._step(index, w, self._prepared_grad_with(index, w, _array(grad)), state)

    def _checked_count(self, index, w, g):
        if w.shape != g.shape:
            raise CoarsenetError(
                f"{type(self).__name__}.update: parameter '{self._name(index)}' has shape "
                f"{w.shape} but its gradient has shape {g.shape}")
        self._update_count(index)


@Optimizer.register
class AdaGrad(Optimizer):
    """history += g^2; w -= lr * (g / sqrt(history + eps) + wd * w)."""

    decoupled_weight_decay = True

    def __init__(self, eps: float = 1e-7, **kwargs):
        super().__init__(**kwargs)
        self.float_stable_eps = eps

    def create_state(self, index, weight):
        return np.zeros_like(_array(weight))

    def _step(self, index, w, g, history):
        history += g * g
        w -= self._get_lr(index) * (g / np.sqrt(history + self.float_stable_eps)
                                    + self._get_wd(index) * w)


@Optimizer.register
class AdaDelta(Optimizer):
    """Zeiler (2012): acc_g, acc_delta running means; no learning rate (MXNet ignores it);
    w -= delta + wd * w."""

    decoupled_weight_decay = True

    def __init__(self, rho: float = 0.90, epsilon: float = 1e-5, **kwargs):
        super().__init__(**kwargs)
        self.rho, self.epsilon = rho, epsilon

    def create_state(self, index, weight):
        return np.zeros_like(_array(weight)), np.zeros_like(_array(weight))

    def _step(self, index, w, g, state):
        acc_g, acc_delta = state
        acc_g *= self.rho
        acc_g += (1 - self.rho) * g * g
        delta = np.sqrt(acc_delta + self.epsilon) / np.sqrt(acc_g + self.epsilon) * g
        acc_delta *= self.rho
        acc_delta += (1 - self.rho) * delta * delta
        w -= delta + self._get_wd(index) * w


@Optimizer.register
class Adamax(_DecayBeforeClip):
    """Adam with the infinity norm: u = max(beta2 * u, |g|); w -= lr_t * m / u."""

    def __init__(self, learning_rate: float = 0.002, beta1: float = 0.9, beta2: float = 0.999,
                 **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1, self.beta2 = beta1, beta2

    def create_state(self, index, weight):
        return np.zeros_like(_array(weight)), np.zeros_like(_array(weight))

    def _step(self, index, w, g, state):
        t = self._index_update_count[index]
        lr = self._get_lr(index) / (1.0 - self.beta1 ** t)
        m, u = state
        m *= self.beta1
        m += (1 - self.beta1) * g
        np.maximum(self.beta2 * u, np.abs(g), out=u)
        w -= lr * m / u


@Optimizer.register
class Nadam(_DecayBeforeClip):
    """Dozat (2016), Adam with Nesterov momentum and MXNet's momentum schedule."""

    def __init__(self, learning_rate: float = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 epsilon: float = 1e-8, schedule_decay: float = 0.004, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
        self.schedule_decay = schedule_decay
        self.m_schedule = 1.0

    def create_state(self, index, weight):
        return np.zeros_like(_array(weight)), np.zeros_like(_array(weight))

    def _step(self, index, w, g, state):
        t = self._index_update_count[index]
        mom_t = self.beta1 * (1.0 - 0.5 * 0.96 ** (t * self.schedule_decay))
        mom_next = self.beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * self.schedule_decay))
        self.m_schedule *= mom_t
        m_schedule_next = self.m_schedule * mom_next
        m, v = state
        m *= self.beta1
        m += (1 - self.beta1) * g
        v *= self.beta2
        v += (1 - self.beta2) * g * g
        m_bar = ((1 - mom_t) * g / (1 - self.m_schedule)
                 + mom_next * m / (1 - m_schedule_next))
        v_prime = v / (1 - self.beta2 ** t)
        w -= self._get_lr(index) * m_bar / (np.sqrt(v_prime) + self.epsilon)


@Optimizer.register
class Ftrl(Optimizer):
    """FTRL-proximal (McMahan et al. 2013) as in MXNet: z, n states; wd in the denominator."""

    decoupled_weight_decay = True

    def __init__(self, lamda1: float = 0.01, learning_rate: float = 0.1, beta: float = 1.0,
                 **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.lamda1, self.beta = lamda1, beta

    def create_state(self, index, weight):
        return np.zeros_like(_array(weight)), np.zeros_like(_array(weight))

    def _step(self, index, w, g, state):
        lr, wd = self._get_lr(index), self._get_wd(index)
        z, n = state
        z += g - (np.sqrt(n + g * g) - np.sqrt(n)) * w / lr
        n += g * g
        w[...] = ((np.sign(z) * self.lamda1 - z) / ((self.beta + np.sqrt(n)) / lr + wd)
                  * (np.abs(z) > self.lamda1))


@Optimizer.register
class Signum(Optimizer):
    """Bernstein et al. (2018): w -= lr * sign(momentum of g); wd_lh is decoupled decay."""

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.9, wd_lh: float = 0.0,
                 **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.momentum, self.wd_lh = momentum, wd_lh

    def create_state(self, index, weight):
        return np.zeros_like(_array(weight)) if self.momentum != 0.0 else None

    def _step(self, index, w, g, mom):
        lr = self._get_lr(index)
        if mom is None:
            w *= 1 - lr * self.wd_lh
            w -= lr * np.sign(g)
            return
        mom *= self.momentum
        mom -= (1 - self.momentum) * g
        w *= 1 - lr * self.wd_lh
        w += lr * np.sign(mom)


@Optimizer.register
class FTML(_DecayBeforeClip):
    """Zheng & Kwok (2017), Follow the Moving Leader."""

    def __init__(self, learning_rate: float = 0.0025, beta1: float = 0.6, beta2: float = 0.999,
                 epsilon: float = 1e-8, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon

    def create_state(self, index, weight):
        return tuple(np.zeros_like(_array(weight)) for _ in range(3))  # d, v, z

    def _step(self, index, w, g, state):
        t = self._index_update_count[index]
        d_prev, v, z = state
        v *= self.beta2
        v += (1 - self.beta2) * g * g
        d = (1 - self.beta1 ** t) / self._get_lr(index) * (
            np.sqrt(v / (1 - self.beta2 ** t)) + self.epsilon)
        sigma = d - self.beta1 * d_prev
        z *= self.beta1
        z += (1 - self.beta1) * g - sigma * w
        d_prev[...] = d
        w[...] = -z / d


@Optimizer.register
class DCASGD(Optimizer):
    """Delay-compensated async SGD (Zheng et al. 2016): g + lamda * g^2 * (w - w_prev)."""

    def __init__(self, momentum: float = 0.0, lamda: float = 0.04, **kwargs):
        super().__init__(**kwargs)
        self.momentum, self.weight_previous, self.lamda = momentum, {}, lamda

    def create_state(self, index, weight):
        w = _array(weight)
        return (np.zeros_like(w) if self.momentum != 0.0 else None), w.copy()

    def _step(self, index, w, g, state):
        mom, previous = state
        step = -self._get_lr(index) * (g + self.lamda * g * g * (w - previous))
        if mom is not None:
            mom *= self.momentum
            mom += step
            step = mom
        previous[...] = w
        w += step


@Optimizer.register
class SGLD(Optimizer):
    """Stochastic gradient Langevin dynamics (Welling & Teh 2011):
    w += -lr / 2 * (g + wd * w) + N(0, lr). The noise comes from coarsenet's seeded counter."""

    def _step(self, index, w, g, state):
        lr = self._get_lr(index)
        rng = np.random.default_rng(_random.next_seed())
        w -= lr / 2 * g
        w += rng.normal(0.0, np.sqrt(lr), size=w.shape).astype(w.dtype)
