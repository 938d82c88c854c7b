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
from .lr_scheduler import LRScheduler


def _array(x) -> np.ndarray:
    """The numpy array behind an NDArray (or the array itself)."""
    return x.asnumpy() if hasattr(x, "asnumpy") else x


class Optimizer:
    """Base class; `create(name, **kwargs)` makes one by its registered (lowercase) name."""

    registry: dict[str, type] = {}
    # True for rules that apply weight decay themselves (AdamW); the others get wd * w added to
    # the gradient before their step.
    decoupled_weight_decay = False

    def __init__(self, learning_rate: float = 0.01, rescale_grad: float = 1.0,
                 param_idx2name: dict | None = None, wd: float = 0.0,
                 clip_gradient: float | None = None, lr_scheduler: LRScheduler | None = None,
                 sym=None, begin_num_update: int = 0, multi_precision: bool = False,
                 param_dict: dict | None = None):
        self.lr = learning_rate
        self.rescale_grad = rescale_grad
        self.wd = wd
        self.clip_gradient = clip_gradient
        self.lr_scheduler = lr_scheduler
        if lr_scheduler is not None:
            lr_scheduler.base_lr = learning_rate
            lr_scheduler.warmup_final_lr = learning_rate
        self.begin_num_update = begin_num_update
        self.num_update = begin_num_update
        self._index_update_count: dict = {}
        self.idx2name = dict(param_idx2name or {})
        self.param_dict = param_dict or {}
        self.lr_mult: dict = {}
        self.wd_mult: dict = {}
        self.sym_info = sym.attr_dict() if sym is not None else {}
        self.set_lr_mult({})
        self.set_wd_mult({})

    @classmethod
    def register(cls, klass):
        cls.registry[klass.__name__.lower()] = klass
        return klass

    @classmethod
    def create_optimizer(cls, name: str, **kwargs) -> Optimizer:
        klass = cls.registry.get(name.lower())
        if klass is None:
            raise CoarsenetError(
                f"unknown optimizer '{name}'; expected one of: {', '.join(sorted(cls.registry))}")
        return klass(**kwargs)

    # ---- learning rate and weight decay per parameter
    @property
    def learning_rate(self) -> float:
        if self.lr_scheduler is not None:
            return self.lr_scheduler(self.num_update)
        return self.lr

    def set_learning_rate(self, lr: float) -> None:
        if self.lr_scheduler is not None:
            raise CoarsenetError("set_learning_rate: an lr_scheduler controls the learning rate")
        self.lr = lr

    def _attr_mult(self, key: str) -> dict:
        return {name: float(attrs[key]) for name, attrs in self.sym_info.items() if key in attrs}

    def set_lr_mult(self, args_lr_mult: dict) -> None:
        self.lr_mult = {**self._attr_mult("__lr_mult__"), **args_lr_mult}

    def set_wd_mult(self, args_wd_mult: dict) -> None:
        self.wd_mult = {name: 0.0 for name in self.idx2name.values()
                        if not (name.endswith("_weight") or name.endswith("_gamma"))}
        self.wd_mult.update(self._attr_mult("__wd_mult__"))
        self.wd_mult.update(args_wd_mult)

    def _name(self, index):
        return self.idx2name.get(index, index)

    def _get_lr(self, index) -> float:
        return self.learning_rate * self.lr_mult.get(self._name(index), 1.0)

    def _get_wd(self, index) -> float:
        return self.wd * self.wd_mult.get(self._name(index), 1.0)

    def _update_count(self, index) -> int:
        count = self._index_update_count.get(index, self.begin_num_update) + 1
        self._index_update_count[index] = count
        self.num_update = max(count, self.num_update)
        return count

    def _prepared_grad(self, grad: np.ndarray) -> np.ndarray:
        """rescale_grad * grad, clipped; a new array (the caller's gradient is not modified)."""
        g = np.multiply(grad, self.rescale_grad)
        if self.clip_gradient is not None:
            np.clip(g, -self.clip_gradient, self.clip_gradient, out=g)
        return g

    # ---- the rule
    def create_state(self, index, weight):
        return None

    def update(self, index, weight, grad, state) -> None:
        w, g = _array(weight), _array(grad)
        if w.shape != g.shape:
            raise CoarsenetError(
                f"{type(self).__name__}.update: parameter '{self._name(index)}' has shape "
                f"{w.shape} but its gradient has shape {g.shape}")
        self._update_count(index)
        g = self._prepared_grad(g)
        wd = self._get_wd(index)
        if wd and not self.decoupled_weight_decay:
            g += wd * w
        self._step(index, w, g, state)

    def _step(self, index, w: np.ndarray, g: np.ndarray, state) -> None:
        """Applies the rule to weight w with the prepared gradient g (rescaled, clipped, with
        coupled weight decay added); both may be updated in place. A subclass defines this or
        overrides update() itself (MXNet's extension point)."""
        raise NotImplementedError(f"{type(self).__name__} defines neither update() nor _step()")


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


register = Optimizer.register  # mx.optimizer.register(klass), MXNet's decorator

from . import optimizer_rules  # noqa: F401  registers AdaGrad, Adamax, Nadam, Ftrl, SGLD, ...
from .optimizer_rules import (DCASGD, FTML, SGLD, AdaDelta, AdaGrad, Adamax,  # noqa: E402,F401
                              Ftrl, Nadam, Signum)
from . import optimizer_lbsgd  # noqa: E402,F401  registers LBSGD
from .optimizer_lbsgd import LBSGD  # noqa: E402,F401
from .optimizer_layerwise import LAMB, LARS, ccSGD  # noqa: E402,F401  registers them
