"""The optimizer base class and its registry, below optimizer.py (MXNet's mx.optimizer
namespace, with SGD, Adam, ...) and optimizer_rules.py (the other rules), which both subclass
it. See optimizer.py for what every rule has in common."""
from __future__ import annotations

import numpy as np

from .base import CoarsenetError, host_view
from .lr_scheduler import LRScheduler


def _array(x) -> np.ndarray:
    """The numpy array behind an NDArray, no copy (updates write through it)."""
    return host_view(x)


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
