"""mx.model.FeedForward: MXNet's older scikit-learn style trainer (create, fit, predict, score,
save, load), here a thin layer over Module.

X may be a DataIter or arrays (numpy or NDArray, with y as labels); arrays are batched by
NDArrayIter with numpy_batch_size (shuffled for training). Extra keyword arguments of the
constructor are optimizer parameters, as in MXNet.
"""
from __future__ import annotations

import logging
import time

import numpy as np

from . import initializer as init_mod
from . import metric as metric_mod
from .base import CoarsenetError
from .base_module import BatchEndParam, _as_list
from .io import DataIter, NDArrayIter


def _is_array(x) -> bool:
    return isinstance(x, np.ndarray) or hasattr(x, "asnumpy")


def _np(x):
    return x.asnumpy() if hasattr(x, "asnumpy") else np.asarray(x)


class FeedForward:
    def __init__(self, symbol, ctx=None, num_epoch=None, epoch_size=None, optimizer="sgd",
                 initializer=None, numpy_batch_size=128, arg_params=None, aux_params=None,
                 allow_extra_params=False, begin_epoch=0, **kwargs):
        from .context import check_usable

        check_usable(ctx)
        self.symbol = symbol
        self.ctx = ctx
        self.num_epoch, self.epoch_size = num_epoch, epoch_size
        self.optimizer = optimizer
        self.initializer = initializer if initializer is not None else init_mod.Uniform(0.01)
        self.numpy_batch_size = numpy_batch_size
        self.arg_params, self.aux_params = arg_params, aux_params
        self.allow_extra_params = allow_extra_params
        self.begin_epoch = begin_epoch
        self.kwargs = dict(kwargs)  # optimizer parameters
        self._pred_module = None

    # ---------------------------------------------------------------- data
    def _iter(self, X, y=None, is_train=False) -> DataIter:
        if isinstance(X, DataIter) or (hasattr(X, "provide_data") and hasattr(X, "reset")):
            if y is not None:
                raise CoarsenetError("FeedForward: y must be None when X is a DataIter")
            return X
        if not _is_array(X):
            raise CoarsenetError(f"FeedForward: X must be a DataIter or an array, found "
                                 f"{type(X).__name__}")
        X = _np(X)
        if y is None:
            if is_train:
                raise CoarsenetError("FeedForward.fit: y is required when X is an array")
            y = np.zeros(X.shape[0], dtype=np.float32)
        y = _np(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y.ravel()
        if y.shape[0] != X.shape[0]:
            raise CoarsenetError(f"FeedForward: X has {X.shape[0]} samples, y has {y.shape[0]}")
        batch = min(X.shape[0], self.numpy_batch_size)
        return NDArrayIter(X, y, batch, shuffle=is_train,
                           last_batch_handle="roll_over" if is_train else "pad")

    def _module(self, data_iter, for_training: bool):
        from .module import BucketingModule, Module

        data_names = [d[0] for d in data_iter.provide_data]
        label_names = [d[0] for d in (data_iter.provide_label or [])]
        if callable(self.symbol) and not hasattr(self.symbol, "list_arguments"):
            # symbol=sym_gen(bucket_key) -> Symbol: MXNet's bucketing form of FeedForward
            key = getattr(data_iter, "default_bucket_key", None)
            if key is None:
                raise CoarsenetError("FeedForward: a symbol generator needs a bucketing "
                                     "iterator (with default_bucket_key)")
            gen = self.symbol
            mod = BucketingModule(lambda k: (gen(k), data_names, label_names),
                                  default_bucket_key=key)
        else:
            mod = Module(self.symbol, data_names=data_names, label_names=label_names)
        mod.bind(data_iter.provide_data, data_iter.provide_label if for_training else None,
                 for_training=for_training)
        return mod

    def _check_params(self):
        if self.arg_params is None:
            raise CoarsenetError("FeedForward: no parameters yet; call fit() or load() first")

    # ---------------------------------------------------------------- training
    def fit(self, X, y=None, eval_data=None, eval_metric="acc", epoch_end_callback=None,
            batch_end_callback=None, kvstore="local", logger=None, work_load_list=None,
            monitor=None, eval_end_callback=None, eval_batch_end_callback=None):
        if self.num_epoch is None:
            raise CoarsenetError("FeedForward.fit: num_epoch is required (constructor argument)")
        logger = logger or logging
        data = self._iter(X, y, is_train=True)
        if isinstance(eval_data, (tuple, list)) and len(eval_data) == 2:
            eval_data = self._iter(eval_data[0], eval_data[1])
        mod = self._module(data, for_training=True)
        mod.logger = logger
        if monitor is not None:
            mod.install_monitor(monitor)
        mod.init_params(self.initializer, self.arg_params, self.aux_params,
                        allow_missing=True, allow_extra=self.allow_extra_params)
        params = dict(self.kwargs)
        if isinstance(self.optimizer, str):
            params.setdefault("rescale_grad", 1.0 / data.batch_size)
        mod.init_optimizer(kvstore=kvstore, optimizer=self.optimizer, optimizer_params=params)
        eval_metric = metric_mod.create(eval_metric)
        batches = iter(())
        for epoch in range(self.begin_epoch, self.num_epoch):
            start = time.time()
            eval_metric.reset()
            nbatch = 0
            while True:
                if self.epoch_size is not None and nbatch == self.epoch_size:
                    break  # epoch_size batches per epoch; the iterator continues next epoch
                batch = next(batches, None)
                if batch is None:
                    data.reset()
                    batches = iter(data)
                    if self.epoch_size is None and nbatch > 0:
                        break
                    batch = next(batches, None)
                    if batch is None:
                        raise CoarsenetError("FeedForward.fit: the training data is empty")
                if monitor is not None:
                    monitor.tic()
                mod.forward_backward(batch)
                mod.update()
                mod.update_metric(eval_metric, batch.label)
                if monitor is not None:
                    monitor.toc_print()
                for cb in _as_list(batch_end_callback):
                    cb(BatchEndParam(epoch, nbatch, eval_metric, locals()))
                nbatch += 1
            for name, value in eval_metric.get_name_value():
                logger.info("Epoch[%d] Train-%s=%f", epoch, name, value)
            logger.info("Epoch[%d] Time cost=%.3f", epoch, time.time() - start)
            self.arg_params, self.aux_params = mod.get_params()
            for cb in _as_list(epoch_end_callback):
                cb(epoch, self.symbol, self.arg_params, self.aux_params)
            if eval_data is not None:
                res = mod.score(eval_data, eval_metric, epoch=epoch,
                                batch_end_callback=eval_batch_end_callback,
                                score_end_callback=eval_end_callback)
                for name, value in res:
                    logger.info("Epoch[%d] Validation-%s=%f", epoch, name, value)
        self._pred_module = None  # parameters changed
        return self

    # ---------------------------------------------------------------- inference
    def _predictor(self, data_iter):
        self._check_params()
        key = tuple(tuple(d[1]) for d in data_iter.provide_data)
        if self._pred_module is None or self._pred_module[0] != key:
            mod = self._module(data_iter, for_training=False)
            mod.init_params(None, self.arg_params, self.aux_params, allow_missing=False,
                            allow_extra=True)
            self._pred_module = (key, mod)
        return self._pred_module[1]

    def predict(self, X, num_batch=None, return_data=False, reset=True):
        """Outputs as numpy arrays (a list when the symbol has several); padding is dropped.
        return_data=True also returns the inputs and labels of the samples predicted."""
        data = self._iter(X)
        mod = self._predictor(data)
        outs, datas, labels = [], [], []
        for outputs, _, batch in mod.iter_predict(data, num_batch=num_batch, reset=reset):
            outs.append([o.asnumpy() for o in outputs])
            if return_data:
                keep = batch.data[0].shape[0] - (getattr(batch, "pad", 0) or 0)
                datas.append([_np(d)[:keep] for d in batch.data])
                labels.append([_np(lb)[:keep] for lb in batch.label or []])
        if not outs:
            raise CoarsenetError("FeedForward.predict: the data gave no batches")
        merged = [np.concatenate(parts) for parts in zip(*outs)]
        result = merged[0] if len(merged) == 1 else merged
        if not return_data:
            return result
        d = [np.concatenate(parts) for parts in zip(*datas)]
        lb = [np.concatenate(parts) for parts in zip(*labels)] if labels and labels[0] else []
        return result, d[0] if len(d) == 1 else d, lb[0] if len(lb) == 1 else lb

    def score(self, X, eval_metric="acc", num_batch=None, batch_end_callback=None, reset=True):
        """The metric's value over X (padding excluded)."""
        data = self._iter(X)
        mod = self._predictor(data)
        return mod.score(data, metric_mod.create(eval_metric), num_batch=num_batch,
                         batch_end_callback=batch_end_callback, reset=reset)[0][1]

    # ---------------------------------------------------------------- files
    def save(self, prefix, epoch=None, remove_amp_cast=True):
        from .model_base import save_checkpoint

        self._check_params()
        if not hasattr(self.symbol, "list_arguments"):
            raise CoarsenetError("FeedForward.save: the model has a symbol generator, not one "
                                 "symbol; save the parameters with nd.save instead")
        epoch = self.num_epoch if epoch is None else epoch
        if epoch is None:
            raise CoarsenetError("FeedForward.save: give epoch (num_epoch is not set)")
        save_checkpoint(prefix, epoch, self.symbol, self.arg_params, self.aux_params or {})

    @staticmethod
    def load(prefix, epoch, ctx=None, **kwargs) -> FeedForward:
        from .model_base import load_checkpoint

        symbol, arg_params, aux_params = load_checkpoint(prefix, epoch)
        return FeedForward(symbol, ctx=ctx, arg_params=arg_params, aux_params=aux_params,
                           begin_epoch=epoch, **kwargs)

    @staticmethod
    def create(symbol, X, y=None, ctx=None, num_epoch=None, epoch_size=None, optimizer="sgd",
               initializer=None, eval_data=None, eval_metric="acc", epoch_end_callback=None,
               batch_end_callback=None, kvstore="local", logger=None, work_load_list=None,
               eval_end_callback=None, eval_batch_end_callback=None, **kwargs) -> FeedForward:
        model = FeedForward(symbol, ctx=ctx, num_epoch=num_epoch, epoch_size=epoch_size,
                            optimizer=optimizer, initializer=initializer, **kwargs)
        return model.fit(X, y, eval_data=eval_data, eval_metric=eval_metric,
                         epoch_end_callback=epoch_end_callback,
                         batch_end_callback=batch_end_callback, kvstore=kvstore, logger=logger,
                         eval_end_callback=eval_end_callback,
                         eval_batch_end_callback=eval_batch_end_callback)
