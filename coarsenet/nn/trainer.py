"""Trainer: applies an optimizer (coarsenet.optimizer) to a set of Parameters."""
from __future__ import annotations

from .. import optimizer as _opt
from ..base import CoarsenetError
from .parameter import Parameter, ParameterDict


class Trainer:
    """`trainer.step(batch_size)` updates every parameter with a gradient, in place.

    Gradients are scaled by 1/batch_size (rescale_grad), as in MXNet Gluon.
    """

    def __init__(self, params, optimizer="sgd", optimizer_params: dict | None = None,
                 kvstore=None, compression_params=None, update_on_kvstore=None):
        if isinstance(params, ParameterDict):
            params = list(params.values())
        elif isinstance(params, dict):
            params = list(params.values())
        params = list(params)
        for p in params:
            if not isinstance(p, Parameter):
                raise CoarsenetError(f"Trainer: expected Parameters, found {type(p).__name__}")
        self._params = params
        optimizer_params = dict(optimizer_params or {})
        self._scale = optimizer_params.get("rescale_grad", 1.0)
        if isinstance(optimizer, _opt.Optimizer):
            self._optimizer = optimizer
        else:
            optimizer_params["param_idx2name"] = {i: p.name for i, p in enumerate(params)}
            self._optimizer = _opt.create(optimizer, **optimizer_params)
        # Gluon takes the multipliers from each Parameter (bias included), not from names.
        self._optimizer.set_lr_mult({p.name: p.lr_mult for p in params})
        self._optimizer.set_wd_mult({p.name: p.wd_mult for p in params})
        self._updater = _opt.get_updater(self._optimizer)

    @property
    def optimizer(self):
        return self._optimizer

    @property
    def learning_rate(self) -> float:
        return self._optimizer.learning_rate

    def set_learning_rate(self, lr: float) -> None:
        self._optimizer.set_learning_rate(lr)

    def step(self, batch_size: int, ignore_stale_grad: bool = False) -> None:
        """One update of every trainable parameter with its gradient / batch_size."""
        self._optimizer.rescale_grad = self._scale / batch_size
        self.update(batch_size, ignore_stale_grad)

    def allreduce_grads(self) -> None:
        """Single process: gradients are already complete."""

    def update(self, batch_size: int, ignore_stale_grad: bool = False) -> None:
        self._optimizer.rescale_grad = self._scale / batch_size
        for i, p in enumerate(self._params):
            if p.grad_req == "null":
                continue
            if p._data is None:
                if ignore_stale_grad:
                    continue
                raise CoarsenetError(f"Trainer: parameter '{p.name}' is not initialized "
                                     "(run a forward pass first)")
            self._updater(i, p.grad(), p.data())
