"""mx.mod.BaseModule: the training loops (fit, score, predict, iter_predict) written once over
the abstract steps every module provides (bind, init_params, init_optimizer, forward, backward,
update, get_outputs, update_metric). Module, SequentialModule and PythonModule subclass it, and so
can user modules, as in MXNet.
"""
from __future__ import annotations

import logging
import time

import numpy as np

from . import metric as metric_mod
from .base import CoarsenetError


class BatchEndParam:
    """What batch and epoch callbacks receive (MXNet's BatchEndParam fields)."""

    def __init__(self, epoch, nbatch, eval_metric, locals=None):  # noqa: A002  MXNet's name
        self.epoch, self.nbatch, self.eval_metric, self.locals = epoch, nbatch, eval_metric, locals

    def __repr__(self) -> str:
        return f"BatchEndParam(epoch={self.epoch}, nbatch={self.nbatch})"


def _as_list(x) -> list:
    if x is None:
        return []
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _pad(batch) -> int:
    """Filler samples at the end of a batch: 0 for user batches without `pad` (or pad=None)."""
    return int(getattr(batch, "pad", None) or 0)


class BaseModule:
    """Subclasses define the steps; the loops here only call them."""

    def __init__(self, logger=logging):
        self.logger = logger
        self.binded = self.for_training = self.inputs_need_grad = False
        self.params_initialized = self.optimizer_initialized = False
        self.symbol = None

    # ---------------------------------------------------------------- abstract steps
    def _abstract(self, what):
        raise NotImplementedError(f"{type(self).__name__} does not define {what}")

    # data_names, output_names, data_shapes, label_shapes, output_shapes and symbol are plain
    # attributes or properties of each subclass (Module sets them when it binds).

    def get_params(self):
        self._abstract("get_params()")

    def init_params(self, initializer=None, arg_params=None, aux_params=None,
                    allow_missing=False, force_init=False, allow_extra=False):
        self._abstract("init_params()")

    def set_params(self, arg_params, aux_params, allow_missing=False, force_init=True,
                   allow_extra=False):
        self.init_params(initializer=None, arg_params=arg_params, aux_params=aux_params,
                         allow_missing=allow_missing, force_init=force_init,
                         allow_extra=allow_extra)

    def bind(self, data_shapes, label_shapes=None, for_training=True, inputs_need_grad=False,
             force_rebind=False, shared_module=None, grad_req="write"):
        self._abstract("bind()")

    def init_optimizer(self, kvstore="local", optimizer="sgd",
                       optimizer_params=(("learning_rate", 0.01),), force_init=False):
        self._abstract("init_optimizer()")

    def forward(self, data_batch, is_train=None):
        self._abstract("forward()")

    def backward(self, out_grads=None):
        self._abstract("backward()")

    def update(self):
        self._abstract("update()")

    def get_outputs(self, merge_multi_context=True):
        self._abstract("get_outputs()")

    def get_input_grads(self, merge_multi_context=True):
        self._abstract("get_input_grads()")

    def update_metric(self, eval_metric, labels, pre_sliced=False):
        self._abstract("update_metric()")

    def install_monitor(self, mon):
        self._abstract("install_monitor()")

    def get_states(self, merge_multi_context=True):
        return []

    def set_states(self, states=None, value=None):
        if states is not None or value is not None:
            self._abstract("set_states()")

    def prepare(self, data_batch, sparse_row_id_fn=None):
        """MXNet prepares row-sparse parameters here; dense parameters need nothing."""

    def reshape(self, data_shapes, label_shapes=None):
        self.bind(data_shapes, label_shapes, for_training=self.for_training,
                  inputs_need_grad=self.inputs_need_grad, force_rebind=True)

    # ---------------------------------------------------------------- composed steps
    def forward_backward(self, data_batch):
        self.forward(data_batch, is_train=True)
        self.backward()

    def save_params(self, fname):
        from . import ndarray as nd

        arg, aux = self.get_params()
        saved = {f"arg:{k}": v for k, v in arg.items()}
        saved.update({f"aux:{k}": v for k, v in aux.items()})
        nd.save(fname, saved)

    def load_params(self, fname):
        from . import ndarray as nd

        arg, aux = {}, {}
        for key, value in nd.load(fname).items():
            role, sep, name = key.partition(":")
            if not sep or role not in ("arg", "aux"):
                raise CoarsenetError(f"{fname}: expected array names prefixed 'arg:' or 'aux:', "
                                     f"found '{key}'")
            (arg if role == "arg" else aux)[name] = value
        self.set_params(arg, aux)

    # ---------------------------------------------------------------- loops
    def score(self, eval_data, eval_metric, num_batch=None, batch_end_callback=None,
              score_end_callback=None, reset=True, epoch=0, sparse_row_id_fn=None):
        """Metric values over eval_data: [(name, value)]. Padded samples are left out; a batch
        without `pad` (a user DataBatch or namedtuple) has none."""
        self._require("bind() and init_params()", self.binded and self.params_initialized)
        if reset:
            eval_data.reset()
        eval_metric = metric_mod.create(eval_metric)
        eval_metric.reset()
        done = 0
        for nbatch, batch in enumerate(eval_data):
            if num_batch is not None and nbatch == num_batch:
                break
            self.forward(batch, is_train=False)
            pad = _pad(batch)
            labels = _as_list(batch.label)
            if pad:
                keep = batch.data[0].shape[0] - pad
                eval_metric.update([lbl[:keep] for lbl in labels],
                                   [o[:keep] for o in self.get_outputs()[: len(labels)]])
            else:
                self.update_metric(eval_metric, labels)
            for cb in _as_list(batch_end_callback):
                cb(BatchEndParam(epoch, nbatch, eval_metric, locals()))
            done += 1
        for cb in _as_list(score_end_callback):
            cb(BatchEndParam(epoch, done, eval_metric, locals()))
        return eval_metric.get_name_value()

    def iter_predict(self, eval_data, num_batch=None, reset=True, sparse_row_id_fn=None):
        """Yields (outputs without padding, batch index, batch) per batch."""
        self._require("bind() and init_params()", self.binded and self.params_initialized)
        if reset:
            eval_data.reset()
        for nbatch, batch in enumerate(eval_data):
            if num_batch is not None and nbatch == num_batch:
                break
            self.forward(batch, is_train=False)
            keep = batch.data[0].shape[0] - _pad(batch)
            yield [o[:keep].copy() for o in self.get_outputs()], nbatch, batch

    def predict(self, eval_data, num_batch=None, merge_batches=True, reset=True,
                always_output_list=False, sparse_row_id_fn=None):
        from .ndarray import array

        self._require("bind() and init_params()", self.binded and self.params_initialized)
        if isinstance(eval_data, np.ndarray) or hasattr(eval_data, "asnumpy"):
            from .io import NDArrayIter

            data = eval_data.asnumpy() if hasattr(eval_data, "asnumpy") else eval_data
            eval_data = NDArrayIter(data, batch_size=self.data_shapes[0][1][0], shuffle=False)
        collected = [[o.asnumpy().copy() for o in outs]
                     for outs, _, _ in self.iter_predict(eval_data, num_batch, reset)]
        if not collected:
            return []
        if not merge_batches:
            return [[array(o, dtype=o.dtype) for o in outs] for outs in collected]
        if len({len(outs) for outs in collected}) != 1:
            raise CoarsenetError("predict: batches gave different numbers of outputs; "
                                 "pass merge_batches=False")
        merged = [array(np.concatenate(parts), dtype=parts[0].dtype) for parts in zip(*collected)]
        return merged if always_output_list or len(merged) > 1 else merged[0]

    def fit(self, train_data, eval_data=None, eval_metric="acc", epoch_end_callback=None,
            batch_end_callback=None, kvstore="local", optimizer="sgd",
            optimizer_params=(("learning_rate", 0.01),), eval_end_callback=None,
            eval_batch_end_callback=None, initializer=None, arg_params=None, aux_params=None,
            allow_missing=False, force_rebind=False, force_init=False, begin_epoch=0,
            num_epoch=None, validation_metric=None, monitor=None, sparse_row_id_fn=None,
            progress_bar=None):
        if num_epoch is None:
            raise CoarsenetError(f"{type(self).__name__}.fit: num_epoch is required")
        self.bind(train_data.provide_data, train_data.provide_label, for_training=True,
                  force_rebind=force_rebind)
        if monitor is not None:
            self.install_monitor(monitor)
        if initializer is None:
            from . import initializer as init_mod

            initializer = init_mod.Uniform(0.01)
        self.init_params(initializer=initializer, arg_params=arg_params, aux_params=aux_params,
                         allow_missing=allow_missing, force_init=force_init)
        self.init_optimizer(kvstore=kvstore, optimizer=optimizer,
                            optimizer_params=optimizer_params)
        eval_metric = metric_mod.create(eval_metric)
        validation_metric = eval_metric if validation_metric is None else validation_metric
        kv = getattr(self, "_kvstore", None)
        for epoch in range(begin_epoch, num_epoch):
            start = time.time()
            eval_metric.reset()
            train_data.reset()
            bar = _progress(progress_bar, kv, f"epoch {epoch + 1}",
                            _samples_per_epoch(train_data))
            for nbatch, batch in enumerate(train_data):
                if monitor is not None:
                    monitor.tic()
                self.forward_backward(batch)
                self.update()
                self.update_metric(eval_metric, batch.label)
                if monitor is not None:
                    monitor.toc_print()
                if bar is not None:
                    bar.update(batch.data[0].shape[0])
                    # This worker's running metric: the bar is drawn on rank 0 only, so a
                    # collective here would be made by one rank and hang (or abort) the job.
                    bar.set_postfix(dict(eval_metric.get_name_value()), refresh=False)
                for cb in _as_list(batch_end_callback):
                    cb(BatchEndParam(epoch, nbatch, eval_metric, locals()))
            if bar is not None:
                bar.close()
            for name, value in self._global_metric(eval_metric):
                self.logger.info("Epoch[%d] Train-%s=%f", epoch, name, value)
            self.logger.info("Epoch[%d] Time cost=%.3f", epoch, time.time() - start)
            arg, aux = self.get_params()
            for cb in _as_list(epoch_end_callback):
                cb(epoch, self.symbol, arg, aux)
            if eval_data is not None:
                res = self.score(eval_data, validation_metric, epoch=epoch,
                                 score_end_callback=eval_end_callback,
                                 batch_end_callback=eval_batch_end_callback)
                for name, value in res:
                    self.logger.info("Epoch[%d] Validation-%s=%f", epoch, name, value)

    def _global_metric(self, eval_metric):
        """Metric values; summed over workers when training is distributed."""
        kv = getattr(self, "_kvstore", None)
        if kv is None or getattr(kv, "num_workers", 1) == 1:
            return eval_metric.get_name_value()
        return kv.aggregate_metric(eval_metric)

    def _require(self, what: str, ok: bool):
        if not ok:
            raise CoarsenetError(f"{type(self).__name__}: call {what} first")


def _samples_per_epoch(data_iter) -> int | None:
    """How many samples (padding included) an epoch of this iterator yields, if it knows."""
    n, batch = getattr(data_iter, "num_data", None), getattr(data_iter, "batch_size", 0)
    if n is None or batch < 1:
        return None
    handle = getattr(data_iter, "last_batch_handle", "pad")
    if handle == "discard":
        return n // batch * batch
    return -(-n // batch) * batch if handle == "pad" else n


def _progress(enabled, kvstore, desc, total=None):
    """A tqdm bar on the first worker only; None when disabled or tqdm is missing. With the
    epoch's sample count as total, tqdm shows the fraction done and an ETA."""
    if enabled is False or (kvstore is not None and getattr(kvstore, "rank", 0) != 0):
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(desc=desc, total=total, unit="img", leave=False, dynamic_ncols=True)
