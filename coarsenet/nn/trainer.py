"""Trainer: applies an optimizer (coarsenet.optimizer) to a set of Parameters."""
from __future__ import annotations

from .. import kvstore as _kv
from .. import optimizer as _opt
from ..base import CoarsenetError
from .parameter import Parameter, ParameterDict


class Trainer:
    """`trainer.step(batch_size)` updates every parameter with a gradient, in place.

    Gradients are scaled by 1/batch_size (rescale_grad), as in MXNet Gluon. With
    kvstore='dist_sync' every step first sums the gradients of all workers (bucketed all-reduce),
    and rank 0's parameters are broadcast when the Trainer is made (or, for parameters whose
    shapes are still deferred, at the first step: run one forward pass before making the
    Trainer so every rank computes its first gradients from the same weights). As in MXNet, pass
    the global batch size (per-worker batch x number of workers) to step().
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
        self._kvstore = None if kvstore in (None, "local", "device") else (
            _kv.create(kvstore) if isinstance(kvstore, str) else kvstore)
        self._kv_initialized = False
        if self._kvstore is not None and all(p._data is not None for p in params):
            self._broadcast_params()  # before any gradient is computed from them

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
        self.allreduce_grads()
        self.update(batch_size, ignore_stale_grad)

    def _trained(self) -> list:
        return [(i, p) for i, p in enumerate(self._params)
                if p.grad_req != "null" and p._data is not None]

    def _broadcast_params(self) -> None:
        """Every worker starts from rank 0's parameters."""
        trained = self._trained()
        self._kvstore.init([i for i, _ in trained], [p.data() for _, p in trained])
        self._kv_initialized = True

    def allreduce_grads(self) -> None:
        """Sums gradients over the workers (dist_sync); nothing to do in one process."""
        if self._kvstore is None:
            return
        if not self._kv_initialized:  # deferred parameters: broadcast once they exist
            self._broadcast_params()
        trained = self._trained()
        self._kvstore.pushpull_list([i for i, _ in trained], [p.grad() for _, p in trained])

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

    def save_states(self, fname) -> None:
        """Writes the optimizer states (coarsenet's .npz format, not MXNet's pickle)."""
        from ..atomic_file import write_atomic

        data = self._updater.get_states()
        try:
            write_atomic(fname, lambda f: f.write(data), binary=True)
        except OSError as e:
            raise CoarsenetError(f"Trainer.save_states: cannot write '{fname}': {e}") from None

    def load_states(self, fname) -> None:
        """Restores what save_states wrote."""
        with open(fname, "rb") as f:
            self._updater.set_states(f.read())
