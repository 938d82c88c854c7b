"""LBSGD: MXNet's large-batch SGD. Gradients are summed over `batch_scale` updates (emulating a
batch that many times larger) and applied once, with the learning rate scaled by a warm-up
multiplier (linear / power2 / sqrt ramp to batch_scale over warmup_epochs) or, with
warmup_strategy='lars', by the layer-wise ratio sqrt(|w|^2 / (|g|^2 + wd |w|^2)) clipped to
[0.01, 100]. The step itself is SGD with momentum.
"""
from __future__ import annotations

import math

import numpy as np

from .base import CoarsenetError
from .optimizer import Optimizer, _array


@Optimizer.register
class LBSGD(Optimizer):
    def __init__(self, momentum: float = 0.0, multi_precision: bool = False,
                 warmup_strategy: str = "linear", warmup_epochs: int = 5, batch_scale: int = 1,
                 updates_per_epoch: int = 32, begin_epoch: int = 0, num_epochs: int = 60,
                 **kwargs):
        super().__init__(multi_precision=multi_precision, **kwargs)
        if warmup_strategy not in ("linear", "power2", "sqrt", "lars"):
            raise CoarsenetError(f"LBSGD: warmup_strategy must be linear, power2, sqrt or lars; "
                                 f"found '{warmup_strategy}'")
        if int(batch_scale) < 1:
            raise CoarsenetError(f"LBSGD: batch_scale must be >= 1, found {batch_scale}")
        self.momentum = momentum
        self.warmup_strategy, self.warmup_epochs = warmup_strategy, warmup_epochs
        self.batch_scale, self.updates_per_epoch = int(batch_scale), updates_per_epoch
        self.init_updates = begin_epoch * updates_per_epoch
        self.num_epochs = num_epochs
        self.cumgrads: dict = {}  # index -> [summed gradient, updates counted]

    def create_state(self, index, weight):
        return np.zeros_like(_array(weight)) if self.momentum != 0.0 else None

    def _get_lbmult(self, nup: int) -> float:
        nwup = self.warmup_epochs * self.updates_per_epoch
        top = float(self.batch_scale)
        if nup >= nwup:
            return top
        if nwup <= 1:
            return 1.0
        if self.warmup_strategy == "linear":
            return 1.0 + (top - 1) * nup / nwup
        if self.warmup_strategy == "power2":
            return 1.0 + (top - 1) * (nup * nup) / (nwup * nwup)
        return 1.0 + (top - 1) * math.sqrt(float(nup) / nwup)  # sqrt

    @staticmethod
    def _get_lars(w, g, wd) -> float:
        w2, g2 = float((w.astype(np.float64) ** 2).sum()), float((g.astype(np.float64) ** 2).sum())
        return min(max(math.sqrt(w2 / (g2 + wd * w2 + 1e-18)), 0.01), 100.0)

    def update(self, index, weight, grad, state) -> None:
        w, g = _array(weight), _array(grad)
        if w.shape != g.shape:
            raise CoarsenetError(f"LBSGD.update: parameter '{self._name(index)}' has shape "
                                 f"{w.shape} but its gradient has shape {g.shape}")
        lr, wd = self._get_lr(index), self._get_wd(index)
        self._update_count(index)
        cum = self.cumgrads.get(index)
        if cum is None or cum[1] == 0:
            cum = self.cumgrads[index] = [np.array(g, copy=True), self.init_updates + 1]
        else:
            cum[0] = cum[0] + g
            cum[1] += 1
        if cum[1] % self.batch_scale:
            return  # still summing this large batch (MXNet runs an SGD step with lr 0)
        g = cum[0] / self.batch_scale
        mult = self._get_lars(w, g, wd) if self.warmup_strategy == "lars" else \
            self._get_lbmult(cum[1])
        lr *= mult
        step = self._prepared_grad(g)
        step += wd * w
        if state is None:
            w -= lr * step
        else:
            state *= self.momentum
            state -= lr * step
            w += state
        cum[0] = np.zeros_like(cum[0])  # the count goes on: it drives the warm-up
