"""Optimizers (MXNet 1.x names and update rules), updating parameters in place with numpy.

Every rule works on whole arrays with in-place numpy ufuncs (no per-element Python). Common to
all: the gradient is first scaled by rescale_grad and clipped to +-clip_gradient; the learning
rate comes from lr_scheduler (if any) times the parameter's lr_mult, weight decay is wd times
its wd_mult. As in MXNet, parameters whose names end neither in _weight nor _gamma get
wd_mult 0 by default, and symbol attributes __lr_mult__ / __wd_mult__ override both.
"""
from __future__ import annotations

import numpy as np

from .base import CoarsenetError
from .optimizer_base import Optimizer, _array  # noqa: F401  (the base class, as in MXNet)


@Optimizer.register
class SGD(Optimizer):
    """mom = momentum * mom - lr * (g + wd * w); w += mom  (plain step when momentum == 0)."""

    def __init__(self, momentum: float = 0.0, lazy_update: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum

    def create_state(self, index, weight):
        return np.zeros_like(_array(weight)) if self.momentum != 0.0 else None

    def _step(self, index, w, g, mom):
        lr = self._get_lr(index)
        if mom is None:
            w -= lr * g
            return
        mom *= self.momentum
        mom -= lr * g
        w += mom


@Optimizer.register
class NAG(SGD):
    """Nesterov momentum: mom = momentum * mom + g'; w -= lr * (g' + momentum * mom), g' = g + wd*w."""

    def _step(self, index, w, g, mom):
        lr = self._get_lr(index)
        if mom is None:
            w -= lr * g
            return
        mom *= self.momentum
        mom += g
        g += self.momentum * mom
        w -= lr * g


@Optimizer.register
class Adam(Optimizer):
    """Adam with bias correction folded into the step size; wd is added to the gradient."""

    def __init__(self, learning_rate: float = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 epsilon: float = 1e-8, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon

    def create_state(self, index, weight):
        w = _array(weight)
        return np.zeros_like(w), np.zeros_like(w)

    def _moments(self, index, g, state):
        t = self._index_update_count[index]
        mean, var = state
        mean *= self.beta1
        mean += (1 - self.beta1) * g
        var *= self.beta2
        var += (1 - self.beta2) * np.square(g)
        correction = np.sqrt(1 - self.beta2 ** t) / (1 - self.beta1 ** t)
        return mean / (np.sqrt(var) + self.epsilon) * correction

    def _step(self, index, w, g, state):
        w -= self._get_lr(index) * self._moments(index, g, state)


@Optimizer.register
class AdamW(Adam):
    """Adam with decoupled weight decay: w -= lr * (adam_step + wd * w)."""

    decoupled_weight_decay = True

    def _step(self, index, w, g, state):
        lr, wd = self._get_lr(index), self._get_wd(index)
        step = self._moments(index, g, state)
        if wd:
            step += wd * w
        w -= lr * step


@Optimizer.register
class RMSProp(Optimizer):
    """Tieleman & Hinton's RMSProp; centered=True is Graves' variant with momentum gamma2."""

    def __init__(self, learning_rate: float = 0.001, gamma1: float = 0.9, gamma2: float = 0.9,
                 epsilon: float = 1e-8, centered: bool = False, clip_weights: float | None = None,
                 **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.gamma1, self.gamma2, self.epsilon = gamma1, gamma2, epsilon
        self.centered, self.clip_weights = centered, clip_weights

    def create_state(self, index, weight):
        w = _array(weight)
        if self.centered:
            return np.zeros_like(w), np.zeros_like(w), np.zeros_like(w)
        return (np.zeros_like(w),)

    def _step(self, index, w, g, state):
        lr = self._get_lr(index)
        n = state[0]
        n *= self.gamma1
        n += (1 - self.gamma1) * np.square(g)
        if self.centered:
            mean, delta = state[1], state[2]
            mean *= self.gamma1
            mean += (1 - self.gamma1) * g
            delta *= self.gamma2
            delta -= lr * g / np.sqrt(n - np.square(mean) + self.epsilon)
            w += delta
        else:
            w -= lr * g / (np.sqrt(n) + self.epsilon)
        if self.clip_weights is not None:
            np.clip(w, -self.clip_weights, self.clip_weights, out=w)


def create(name: str, **kwargs) -> Optimizer:
    """An optimizer by name ('sgd', 'nag', 'adam', 'adamw', 'rmsprop'); an instance passes through."""
    if isinstance(name, Optimizer):
        return name
    return Optimizer.create_optimizer(name, **kwargs)


class Updater:
    """Keeps one state per parameter index and applies the optimizer: updater(index, grad, weight)."""

    def __init__(self, optimizer: Optimizer):
        self.optimizer = optimizer
        self.states: dict = {}

    def __call__(self, index, grad, weight) -> None:
        if index not in self.states:
            self.states[index] = self.optimizer.create_state(index, weight)
        self.optimizer.update(index, weight, grad, self.states[index])

    def get_states(self, dump_optimizer: bool = False) -> bytes:
        """The optimizer states and update counts as bytes (an .npz archive, no pickle; MXNet
        pickles here, so the two formats differ). dump_optimizer is not supported."""
        if dump_optimizer:
            raise CoarsenetError("Updater.get_states: dump_optimizer=True would pickle the "
                                 "optimizer; coarsenet saves states only")
        import io
        import json

        arrays, meta = {}, []
        for k, (index, state) in enumerate(self.states.items()):
            parts = state if isinstance(state, (tuple, list)) else [state]
            kinds = []
            for j, part in enumerate(parts):
                if part is None:
                    kinds.append(None)
                else:
                    arrays[f"s{k}_{j}"] = _array(part)
                    kinds.append("array")
            meta.append({"index": index, "tuple": isinstance(state, (tuple, list)),
                         "parts": kinds,
                         "count": self.optimizer._index_update_count.get(index)})
        arrays["meta"] = np.array(json.dumps({"states": meta,
                                              "num_update": self.optimizer.num_update}))
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        return buffer.getvalue()

    def set_states(self, states: bytes) -> None:
        """Restores what get_states returned (also read back from a file)."""
        import io
        import json

        try:
            archive = np.load(io.BytesIO(states), allow_pickle=False)
            meta = json.loads(str(archive["meta"]))
        except Exception as e:  # noqa: BLE001  any unreadable input gets the same message
            raise CoarsenetError(f"Updater.set_states: expected the bytes of get_states() (an "
                                 f".npz archive), could not read them: {e}") from None
        self.states = {}
        for k, entry in enumerate(meta["states"]):
            parts = [None if kind is None else np.array(archive[f"s{k}_{j}"])
                     for j, kind in enumerate(entry["parts"])]
            index = entry["index"]
            self.states[index] = tuple(parts) if entry["tuple"] else parts[0]
            if entry["count"] is not None:
                self.optimizer._index_update_count[index] = entry["count"]
        self.optimizer.num_update = meta["num_update"]


def get_updater(optimizer: Optimizer) -> Updater:
    return Updater(optimizer)
