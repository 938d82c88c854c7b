"""mx.mod.PythonModule and PythonLossModule: modules computed in Python, without parameters.

PythonModule is the base to subclass: it binds (recording shapes), has nothing to initialize or
update, and leaves forward/backward/get_outputs to the subclass (`_compute_output_shapes` too).
PythonLossModule is a loss at the end of a SequentialModule: its output is its input (the
scores), and backward gives grad_func(scores, labels) as the gradient of the scores.
"""
from __future__ import annotations

import logging

import numpy as np

from .base import CoarsenetError
from .base_module import BaseModule
from .io import DataDesc
from .ndarray import NDArray, array


def _descs(shapes):
    return [s if isinstance(s, DataDesc) else DataDesc(s[0], tuple(s[1])) for s in shapes or []]


class PythonModule(BaseModule):
    def __init__(self, data_names, label_names, output_names, logger=logging):
        super().__init__(logger=logger)
        self._data_names = list(data_names)
        self._label_names = list(label_names or [])
        self._output_names = list(output_names)
        self._data_shapes = self._label_shapes = self._output_shapes = None

    @property
    def data_names(self):
        return self._data_names

    @property
    def output_names(self):
        return self._output_names

    @property
    def data_shapes(self):
        return self._data_shapes

    @property
    def label_shapes(self):
        return self._label_shapes

    @property
    def output_shapes(self):
        return self._output_shapes

    def get_params(self):
        return {}, {}

    def init_params(self, initializer=None, arg_params=None, aux_params=None,
                    allow_missing=False, force_init=False, allow_extra=False):
        self.params_initialized = True  # nothing to initialize

    def update(self):
        """No parameters, nothing to update."""

    def update_metric(self, eval_metric, labels, pre_sliced=False):
        if self._label_shapes is None:
            return  # this module takes no labels: nothing to score
        eval_metric.update(labels, self.get_outputs())

    def bind(self, data_shapes, label_shapes=None, for_training=True, inputs_need_grad=False,
             force_rebind=False, shared_module=None, grad_req="write"):
        if self.binded and not force_rebind:
            self.logger.warning("Already bound, ignoring bind()")
            return
        if grad_req != "write":
            raise CoarsenetError(f"{type(self).__name__}.bind: only grad_req='write' is "
                                 f"supported, found '{grad_req}'")
        self.for_training, self.inputs_need_grad = for_training, inputs_need_grad
        data_shapes = _descs(data_shapes)
        names = [d.name for d in data_shapes]
        if names != self._data_names:
            raise CoarsenetError(f"{type(self).__name__}.bind: expected data {self._data_names}, "
                                 f"found {names}")
        self._data_shapes = data_shapes
        if label_shapes is not None:
            label_shapes = _descs(label_shapes)
            names = [d.name for d in label_shapes]
            if names != self._label_names:
                raise CoarsenetError(f"{type(self).__name__}.bind: expected labels "
                                     f"{self._label_names}, found {names}")
        self._label_shapes = label_shapes
        self._output_shapes = self._compute_output_shapes()
        self.binded = True

    def _compute_output_shapes(self):
        """[(output name, shape)] from self._data_shapes / self._label_shapes."""
        raise NotImplementedError(f"{type(self).__name__} does not define "
                                  "_compute_output_shapes()")

    def init_optimizer(self, kvstore="local", optimizer="sgd",
                       optimizer_params=(("learning_rate", 0.01),), force_init=False):
        self.optimizer_initialized = True  # no parameters to optimize

    def install_monitor(self, mon):
        """Nothing to watch: no executor."""


class PythonLossModule(PythonModule):
    """Outputs its input unchanged; backward's input gradient is grad_func(scores, labels)."""

    def __init__(self, name="pyloss", data_names=("data",), label_names=("softmax_label",),
                 logger=logging, grad_func=None):
        super().__init__(data_names, label_names, [name + "_output"], logger=logger)
        self._name = name
        if len(self._data_names) != 1 or len(self._label_names) != 1:
            raise CoarsenetError("PythonLossModule: expected one data and one label name, found "
                                 f"{self._data_names} and {self._label_names}")
        self._scores = self._labels = self._scores_grad = None
        if grad_func is not None and not callable(grad_func):
            raise CoarsenetError(f"PythonLossModule: grad_func must be callable, found "
                                 f"{type(grad_func).__name__}")
        self._grad_func = grad_func

    def _compute_output_shapes(self):
        return [(self._name + "_output", self._data_shapes[0].shape)]

    def forward(self, data_batch, is_train=None):
        self._scores = data_batch.data[0]
        is_train = self.for_training if is_train is None else is_train
        if is_train:
            label = getattr(data_batch, "label", None)
            if not label:
                raise CoarsenetError("PythonLossModule.forward: training needs labels; the "
                                     "batch has none (add the module with take_labels=True)")
            self._labels = label[0]

    def get_outputs(self, merge_multi_context=True):
        return [self._scores]

    def backward(self, out_grads=None):
        if out_grads is not None:
            raise CoarsenetError("PythonLossModule.backward: a loss module takes no out_grads")
        if not self.for_training:
            raise CoarsenetError("PythonLossModule.backward: bind with for_training=True first")
        if self._grad_func is None:
            raise NotImplementedError("PythonLossModule: no grad_func given; subclass it and "
                                      "override backward(), or pass grad_func")
        grad = self._grad_func(self._scores, self._labels)
        if not isinstance(grad, NDArray):
            grad = array(np.asarray(grad), dtype=np.asarray(grad).dtype)
        self._scores_grad = grad

    def get_input_grads(self, merge_multi_context=True):
        if self._scores_grad is None:
            raise CoarsenetError("PythonLossModule: call backward() before get_input_grads()")
        return [self._scores_grad]
