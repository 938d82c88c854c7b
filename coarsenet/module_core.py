"""Module: MXNet's high-level trainer around one bound executor (bind, init, fit, score, predict).

A Module owns a symbol, binds it for the batch shapes, keeps the parameters in the executor's
arg/aux arrays, and updates them in place with an optimizer. `fit` runs epochs with a progress
bar (tqdm), metrics and checkpoint callbacks.
"""
from __future__ import annotations

import logging

import numpy as np

from . import initializer as init_mod
from . import optimizer as opt_mod
from .base import CoarsenetError, host_view
from .base_module import BaseModule, BatchEndParam  # noqa: F401  mx.mod.BatchEndParam
from .io import DataBatch, DataDesc
from .ndarray import NDArray


def _descs(shapes) -> list[DataDesc]:
    """DataDesc list from DataDesc objects or (name, shape) pairs."""
    out = []
    for item in shapes or []:
        out.append(item if isinstance(item, DataDesc) else DataDesc(item[0], tuple(item[1])))
    return out


class Module(BaseModule):
    def __init__(self, symbol, data_names=("data",), label_names=("softmax_label",), context=None,
                 fixed_param_names=None, logger=logging, work_load_list=None, mirror=None,
                 **_ignored):
        from .context import check_usable

        check_usable(context)
        self.symbol = symbol
        self.mirror = mirror  # recomputation plan for the training executor (see passes.mirror)
        self.data_names = list(data_names or [])
        self.label_names = list(label_names or [])
        self.fixed_param_names = set(fixed_param_names or [])
        self.logger = logger
        arguments = symbol.list_arguments()
        for name in self.data_names:
            if name not in arguments:
                raise CoarsenetError(f"Module: data name '{name}' is not an argument of the "
                                     f"symbol; its arguments are {arguments}")
        self.label_names = [n for n in self.label_names if n in arguments]
        inputs = set(self.data_names) | set(self.label_names)
        self.param_names = [n for n in arguments if n not in inputs]
        self.aux_names = symbol.list_auxiliary_states()
        self.binded = self.params_initialized = self.optimizer_initialized = False
        self.for_training = self.inputs_need_grad = False
        self.output_names = symbol.list_outputs()
        self.data_shapes, self.label_shapes = [], []
        self._monitor = None
        self._exec = None
        self._arg_params = self._aux_params = None
        self._updater = None
        self._kvstore = None
        self._checkpoint_params = None

    # ---------------------------------------------------------------- binding
    def bind(self, data_shapes, label_shapes=None, for_training=True, inputs_need_grad=False,
             force_rebind=False, shared_module=None, grad_req="write"):
        if self.binded and not force_rebind:
            return
        self.data_shapes = _descs(data_shapes)
        self.label_shapes = _descs(label_shapes) if for_training else []
        names = [d.name for d in self.data_shapes]
        if names != self.data_names:
            raise CoarsenetError(f"Module.bind: expected data {self.data_names}, found {names}")
        self.for_training = for_training
        self.inputs_need_grad = bool(inputs_need_grad and for_training)
        reqs = {}
        for name in self.symbol.list_arguments():
            if name in self.param_names:
                fixed = name in self.fixed_param_names or not for_training
                reqs[name] = "null" if fixed else grad_req
            elif name in self.data_names:
                reqs[name] = grad_req if inputs_need_grad and for_training else "null"
            else:
                reqs[name] = "null"
        shapes = {d.name: d.shape for d in self.data_shapes + self.label_shapes}
        extra = {"mirror": self.mirror} if self.mirror is not None and for_training else {}
        self._exec = self.symbol.simple_bind(grad_req=reqs, **extra, **shapes)
        if self._monitor is not None:
            self._monitor.install(self._exec)
        self._executors = {tuple(sorted(shapes.items())): self._exec}
        self.binded = True
        if self.params_initialized:  # rebinding keeps the current parameters
            self._exec.copy_params_from(self._arg_params, self._aux_params)
        self._sync_param_refs()

    def _sync_param_refs(self):
        self._arg_params = {n: self._exec.arg_dict[n] for n in self.param_names}
        self._aux_params = {n: self._exec.aux_dict[n] for n in self.aux_names}

    @property
    def output_shapes(self):
        return [(name, o.shape) for name, o in zip(self.symbol.list_outputs(), self._exec.outputs)]

    # ---------------------------------------------------------------- parameters
    def init_params(self, initializer=None, arg_params=None, aux_params=None,
                    allow_missing=False, force_init=False, allow_extra=False):
        self._require("bind()", self.binded)
        if self.params_initialized and not force_init:
            return
        initializer = initializer or init_mod.Uniform(0.01)
        if arg_params is None and aux_params is None and self._checkpoint_params is not None:
            arg_params, aux_params = self._checkpoint_params
        attrs = self.symbol.attr_dict()
        for given, names, targets in ((arg_params, self.param_names, self._arg_params),
                                      (aux_params, self.aux_names, self._aux_params)):
            for name in names:
                target = targets[name]
                if given is not None and name in given:
                    self._copy_param(name, given[name], target)
                elif given is not None and not allow_missing:
                    raise CoarsenetError(f"Module.init_params: parameter '{name}' is missing from "
                                         "the given params (pass allow_missing=True to initialize it)")
                else:
                    initializer(init_mod.InitDesc(name, attrs.get(name, {})), target)
            extra = set(given or {}) - set(names)
            if extra and not allow_extra:
                raise CoarsenetError(f"Module.init_params: unknown parameters {sorted(extra)} "
                                     "(pass allow_extra=True to ignore them)")
        self.params_initialized = True

    @staticmethod
    def _copy_param(name, source, target: NDArray):
        value = source.asnumpy() if hasattr(source, "asnumpy") else np.asarray(source)
        if value.shape != target.shape:
            raise CoarsenetError(f"parameter '{name}': expected shape {target.shape}, found "
                                 f"{value.shape}")
        host_view(target)[...] = value

    def get_params(self):
        self._require("init_params()", self.params_initialized)
        return ({n: a.copy() for n, a in self._arg_params.items()},
                {n: a.copy() for n, a in self._aux_params.items()})

    def set_params(self, arg_params, aux_params, allow_missing=False, force_init=True,
                   allow_extra=False):
        self.init_params(None, arg_params, aux_params, allow_missing, force_init=True,
                         allow_extra=allow_extra)

    # ---------------------------------------------------------------- optimizer
    def init_optimizer(self, kvstore="local", optimizer="sgd",
                       optimizer_params=(("learning_rate", 0.01),), force_init=False):
        self._require("init_params()", self.params_initialized)
        if self.optimizer_initialized and not force_init:
            return
        params = dict(optimizer_params)
        self._kvstore = _create_kvstore(kvstore)
        # As MXNet: with synchronous data parallelism the gradient is summed over every
        # worker's batch, so it is averaged over the global batch.
        batch = self.data_shapes[0].shape[0] * getattr(self._kvstore, "num_workers", 1)
        if isinstance(optimizer, str):
            params.setdefault("rescale_grad", 1.0 / batch)
            idx2name = dict(enumerate(self.param_names))
            optimizer = opt_mod.create(optimizer, sym=self.symbol, param_idx2name=idx2name, **params)
        self._optimizer = optimizer
        self._updater = opt_mod.get_updater(optimizer)
        if self._kvstore is not None:
            for i, name in enumerate(self.param_names):
                self._kvstore.init(i, self._arg_params[name])
        self.optimizer_initialized = True
        preload = getattr(self, "_preload_opt_states", None)
        if preload is not None:  # Module.load(..., load_optimizer_states=True)
            self.load_optimizer_states(preload)
            self._preload_opt_states = None

    # ---------------------------------------------------------------- steps
    def forward(self, data_batch: DataBatch, is_train=None):
        self._require("bind()", self.binded)
        is_train = self.for_training if is_train is None else is_train
        inputs = dict(zip(self.data_names, data_batch.data))
        # MXNet's inference recipe passes namedtuple('Batch', ['data']): no label field at all.
        label = getattr(data_batch, "label", None)
        if is_train or label:
            inputs.update(zip(self.label_names, label or []))
        inputs = {k: v.asnumpy() if hasattr(v, "asnumpy") else np.asarray(v)
                  for k, v in inputs.items()}
        self._use_executor_for({k: v.shape for k, v in inputs.items()}, is_train)
        for name, value in inputs.items():
            host_view(self._exec.arg_dict[name])[...] = value
        self._exec.forward(is_train=is_train)

    def _use_executor_for(self, shapes: dict, is_train: bool) -> None:
        """Switches to an executor for these input shapes (as MXNet's Module reshapes), sharing
        the parameters; one executor per shape is kept, so alternating sizes do not re-plan."""
        current = {k: self._exec.arg_dict[k].shape for k in shapes}
        if current == shapes:
            return
        data = {k: shapes[k] for k in self.data_names}
        for name, shape in shapes.items():
            if name in self.data_names and len(shape) != len(current[name]):
                raise CoarsenetError(f"Module.forward: input '{name}' expected shape like "
                                     f"{current[name]} (as bound), found {shape}")
        if is_train and data != {k: current[k] for k in self.data_names}:
            raise CoarsenetError(f"Module.forward: training batches must have the bound shapes "
                                 f"{current}, found {shapes}")
        key = tuple(sorted(shapes.items()))
        if key not in self._executors:
            self._executors[key] = self._exec.reshape(**shapes)
            if self._monitor is not None:
                self._monitor.install(self._executors[key])
        self._exec = self._executors[key]

    def backward(self, out_grads=None):
        self._require("bind(for_training=True)", self.binded and self.for_training)
        self._exec.backward(out_grads)

    def update(self):
        self._require("init_optimizer()", self.optimizer_initialized)
        grads = self._exec.grad_dict
        trained = [(i, name) for i, name in enumerate(self.param_names)
                   if grads.get(name) is not None]
        if self._kvstore is not None:  # one bucketed all-reduce for every gradient
            self._kvstore.pushpull_list([i for i, _ in trained], [grads[n] for _, n in trained])
        for i, name in trained:
            self._updater(i, grads[name], self._arg_params[name])

    def get_outputs(self, merge_multi_context=True):
        return list(self._exec.outputs)

    def get_input_grads(self, merge_multi_context=True):
        return [self._exec.grad_dict[n] for n in self.data_names]

    def update_metric(self, eval_metric, labels, pre_sliced=False):
        eval_metric.update(labels, self.get_outputs())

    def install_monitor(self, mon):
        """Makes `mon` (mx.mon.Monitor) watch this module's executors."""
        self._require("bind()", self.binded)
        self._monitor = mon
        for exe in self._executors.values():
            mon.install(exe)

    # ---------------------------------------------------------------- files
    def save_checkpoint(self, prefix, epoch, save_optimizer_states=False):
        from . import model_base as model

        arg, aux = self.get_params()
        model.save_checkpoint(prefix, epoch, self.symbol, arg, aux)
        if save_optimizer_states:
            self.save_optimizer_states(f"{prefix}-{int(epoch):04d}.states")

    def save_optimizer_states(self, fname):
        """Writes the optimizer states (coarsenet's .npz format, not MXNet's pickle)."""
        self._require("init_optimizer()", self.optimizer_initialized)
        from .atomic_file import write_atomic

        data = self._updater.get_states()
        try:
            write_atomic(fname, lambda f: f.write(data), binary=True)
        except OSError as e:
            raise CoarsenetError(f"save_optimizer_states: cannot write '{fname}': {e}") from None

    def load_optimizer_states(self, fname):
        self._require("init_optimizer()", self.optimizer_initialized)
        with open(fname, "rb") as f:
            self._updater.set_states(f.read())

    def borrow_optimizer(self, shared_module):
        """Uses shared_module's optimizer, updater (states) and kvstore."""
        if not shared_module.optimizer_initialized:
            raise CoarsenetError("Module.borrow_optimizer: the shared module has no optimizer "
                                 "yet (call its init_optimizer() first)")
        self._optimizer, self._updater = shared_module._optimizer, shared_module._updater
        self._kvstore = shared_module._kvstore
        self.optimizer_initialized = True

    @staticmethod
    def load(prefix, epoch, load_optimizer_states=False, **kwargs) -> Module:
        from . import model_base as model

        sym, arg, aux = model.load_checkpoint(prefix, epoch)
        mod = Module(sym, **kwargs)
        mod._checkpoint_params = (arg, aux)  # used by init_params when none are given
        if load_optimizer_states:  # read by init_optimizer
            mod._preload_opt_states = f"{prefix}-{int(epoch):04d}.states"
        return mod


def _create_kvstore(kvstore):
    if kvstore is None or kvstore == "local" or kvstore == "device":
        return None
    if isinstance(kvstore, str):
        from . import kvstore as kv

        return kv.create(kvstore)
    return kvstore
