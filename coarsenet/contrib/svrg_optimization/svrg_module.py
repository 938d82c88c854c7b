"""SVRGModule: a Module trained with stochastic variance-reduced gradients (Johnson & Zhang,
2013), MXNet's `mx.contrib.svrg_optimization.svrg_module.SVRGModule` API.

Every `update_freq` epochs, update_full_grads() snapshots the weights (w~) into a second module
bound to the same symbol and averages the batch gradients over the whole data set at w~ (mu).
Each step then applies the optimizer to g(w) - g(w~) + mu, where g(w) and g(w~) are the
gradients of the same batch at the current weights and at the snapshot.
"""
from __future__ import annotations

import logging

import numpy as np

from ...base import CoarsenetError
from ...module_core import Module


class SVRGModule(Module):
    def __init__(self, symbol, data_names=("data",), label_names=("softmax_label",),
                 logger=logging, context=None, work_load_list=None, fixed_param_names=None,
                 state_names=None, group2ctxs=None, compression_params=None, update_freq=None):
        if not isinstance(update_freq, int) or update_freq <= 0:
            raise CoarsenetError("SVRGModule: update_freq must be a positive int (epochs between "
                                 f"full-gradient snapshots), found {update_freq!r}")
        kwargs = dict(data_names=data_names, label_names=label_names, logger=logger,
                      context=context, work_load_list=work_load_list,
                      fixed_param_names=fixed_param_names)
        super().__init__(symbol, **kwargs)
        self.update_freq = update_freq
        self._mod_aux = Module(symbol, **kwargs)  # holds the snapshot weights w~
        self._full_grads = None

    def bind(self, data_shapes, label_shapes=None, for_training=True, inputs_need_grad=False,
             force_rebind=False, shared_module=None, grad_req="write"):
        super().bind(data_shapes, label_shapes, for_training, inputs_need_grad, force_rebind,
                     shared_module, grad_req)
        if for_training:
            self._mod_aux.bind(data_shapes, label_shapes, for_training, inputs_need_grad,
                               force_rebind, None, grad_req)

    def init_params(self, *args, **kwargs):
        super().init_params(*args, **kwargs)
        # the snapshot module needs weights to run at all; update_full_grads() sets w~
        if self._mod_aux.binded and not self._mod_aux.params_initialized:
            self._mod_aux.set_params(*self.get_params(), force_init=True)

    def forward(self, data_batch, is_train=None):
        super().forward(data_batch, is_train)
        if (is_train is None or is_train) and self._mod_aux.binded:
            self._mod_aux.forward(data_batch, is_train=True)

    def backward(self, out_grads=None):
        super().backward(out_grads)
        self._mod_aux.backward(out_grads)

    def update_full_grads(self, train_data) -> None:
        """Snapshots the current weights and averages the batch gradients over train_data."""
        self._mod_aux.set_params(*self.get_params(), force_init=True)
        sums, batches = {}, 0
        train_data.reset()
        for batch in train_data:
            self._mod_aux.forward(batch, is_train=True)
            self._mod_aux.backward()
            for name, grad in self._mod_aux._exec.grad_dict.items():
                if grad is not None and name in self.param_names:
                    sums[name] = sums.get(name, 0) + grad.asnumpy()
            batches += 1
        train_data.reset()
        if batches == 0:
            raise CoarsenetError("SVRGModule.update_full_grads: the data iterator gave no batch")
        self._full_grads = {name: total / batches for name, total in sums.items()}

    def update(self) -> None:
        if self._full_grads is None:
            raise CoarsenetError("SVRGModule.update: call update_full_grads(train_data) first "
                                 "(fit() does it every update_freq epochs)")
        snapshot = self._mod_aux._exec.grad_dict
        for name, grad in self._exec.grad_dict.items():
            if grad is not None and name in self._full_grads:
                value = grad.asnumpy() - snapshot[name].asnumpy() + self._full_grads[name]
                grad[:] = value.astype(np.dtype(grad.dtype), copy=False)
        super().update()

    def fit(self, train_data, eval_data=None, eval_metric="acc", epoch_end_callback=None,
            batch_end_callback=None, kvstore="local", optimizer="sgd",
            optimizer_params=(("learning_rate", 0.01),), eval_end_callback=None,
            eval_batch_end_callback=None, initializer=None, arg_params=None, aux_params=None,
            allow_missing=False, force_rebind=False, force_init=False, begin_epoch=0,
            num_epoch=None, validation_metric=None, monitor=None, **kwargs):
        """Module.fit with update_full_grads() before every update_freq-th epoch."""
        from ...initializer import Uniform

        if num_epoch is None:
            raise CoarsenetError("SVRGModule.fit: num_epoch is required")
        self.bind(train_data.provide_data, train_data.provide_label, for_training=True,
                  force_rebind=force_rebind)
        self.init_params(initializer=initializer or Uniform(0.01), arg_params=arg_params,
                         aux_params=aux_params, allow_missing=allow_missing,
                         force_init=force_init)
        self.init_optimizer(kvstore=kvstore, optimizer=optimizer,
                            optimizer_params=optimizer_params)
        for epoch in range(begin_epoch, num_epoch):
            if (epoch - begin_epoch) % self.update_freq == 0:
                self.update_full_grads(train_data)
            super().fit(train_data, eval_data=eval_data, eval_metric=eval_metric,
                        epoch_end_callback=epoch_end_callback,
                        batch_end_callback=batch_end_callback, kvstore=kvstore,
                        optimizer=optimizer, optimizer_params=optimizer_params,
                        eval_end_callback=eval_end_callback,
                        eval_batch_end_callback=eval_batch_end_callback, begin_epoch=epoch,
                        num_epoch=epoch + 1, validation_metric=validation_metric,
                        monitor=monitor, **kwargs)
