"""mx.mod.SequentialModule: modules chained so each one's outputs are the next one's data.

Forward runs the modules in order, backward in reverse: each later module is bound with
inputs_need_grad, and its input gradients are the out_grads of the module before it. Labels go
to the modules added with take_labels=True; auto_wiring=True renames the previous outputs to
the module's data names (otherwise their names must already match).
"""
from __future__ import annotations

import logging

from .base import CoarsenetError
from .base_module import BaseModule
from .io import DataBatch, DataDesc


class SequentialModule(BaseModule):
    META_TAKE_LABELS = "take_labels"
    META_AUTO_WIRING = "auto_wiring"

    def __init__(self, logger=logging):
        super().__init__(logger=logger)
        self._modules: list = []
        self._metas: list = []
        self._label_shapes = None
        self._data_shapes = None

    def add(self, module, **kwargs) -> SequentialModule:
        """Appends a module; kwargs take_labels / auto_wiring. Returns self (for chaining)."""
        unknown = set(kwargs) - {self.META_TAKE_LABELS, self.META_AUTO_WIRING}
        if unknown:
            raise CoarsenetError(f"SequentialModule.add: unknown options {sorted(unknown)}; "
                                 "expected take_labels, auto_wiring")
        self._modules.append(module)
        self._metas.append(kwargs)
        # A new module means binding and initialization start over (as MXNet).
        self.binded = self.params_initialized = self.optimizer_initialized = False
        return self

    def _require_modules(self):
        if not self._modules:
            raise CoarsenetError("SequentialModule: add() at least one module first")

    # ---------------------------------------------------------------- shapes and names
    @property
    def data_names(self):
        self._require_modules()
        return self._modules[0].data_names

    @property
    def output_names(self):
        self._require_modules()
        return self._modules[-1].output_names

    @property
    def data_shapes(self):
        self._require("bind()", self.binded)
        return self._modules[0].data_shapes

    @property
    def label_shapes(self):
        self._require("bind()", self.binded)
        return self._label_shapes

    @property
    def output_shapes(self):
        self._require("bind()", self.binded)
        return self._modules[-1].output_shapes

    @property
    def symbol(self):
        return self._modules[-1].symbol if self._modules else None

    @symbol.setter
    def symbol(self, value):  # BaseModule.__init__ sets None; the symbol is the last module's
        pass

    # ---------------------------------------------------------------- parameters
    def get_params(self):
        self._require("init_params()", self.params_initialized)
        arg, aux = {}, {}
        for module in self._modules:
            a, x = module.get_params()
            arg.update(a)
            aux.update(x)
        return arg, aux

    def init_params(self, initializer=None, arg_params=None, aux_params=None,
                    allow_missing=False, force_init=False, allow_extra=False):
        if self.params_initialized and not force_init:
            return
        self._require("bind()", self.binded)
        for module in self._modules:
            # Each module takes its own names from the shared dicts; the others are extra.
            module.init_params(initializer=initializer, arg_params=arg_params,
                               aux_params=aux_params, allow_missing=allow_missing,
                               force_init=force_init, allow_extra=True)
        seen: dict = {}
        for i, module in enumerate(self._modules):
            if not hasattr(module, "get_params") or not module.params_initialized:
                continue
            a, x = module.get_params()
            for name in list(a) + list(x):
                if name in seen:
                    raise CoarsenetError(f"SequentialModule: parameter '{name}' is in module "
                                         f"{seen[name]} and module {i}; names must be unique")
                seen[name] = i
        self.params_initialized = True

    # ---------------------------------------------------------------- binding
    def bind(self, data_shapes, label_shapes=None, for_training=True, inputs_need_grad=False,
             force_rebind=False, shared_module=None, grad_req="write"):
        if self.binded and not force_rebind:
            return
        if shared_module is not None:
            raise CoarsenetError("SequentialModule.bind: shared_module is not supported "
                                 "(as in MXNet)")
        self._require_modules()
        self.for_training = for_training
        self.inputs_need_grad = inputs_need_grad
        self._label_shapes = label_shapes
        shapes = data_shapes
        any_labels = False
        for i, (module, meta) in enumerate(zip(self._modules, self._metas)):
            takes = meta.get(self.META_TAKE_LABELS, False)
            any_labels = any_labels or takes
            if meta.get(self.META_AUTO_WIRING, False):
                names = module.data_names
                if len(names) != len(shapes):
                    raise CoarsenetError(f"SequentialModule: module {i} takes {len(names)} "
                                         f"inputs {list(names)}, the module before gives "
                                         f"{len(shapes)}")
                shapes = [DataDesc(n, tuple(_shape_of(s))) for n, s in zip(names, shapes)]
            module.bind(shapes, label_shapes if takes else None, for_training=for_training,
                        inputs_need_grad=bool(inputs_need_grad or (for_training and i > 0)),
                        force_rebind=force_rebind, grad_req=grad_req)
            shapes = module.output_shapes
        if not any_labels:
            self._label_shapes = None  # no module reads labels
        self.binded = True

    def init_optimizer(self, kvstore="local", optimizer="sgd",
                       optimizer_params=(("learning_rate", 0.01),), force_init=False):
        self._require("bind() and init_params()", self.binded and self.params_initialized)
        if self.optimizer_initialized and not force_init:
            return
        for module in self._modules:
            module.init_optimizer(kvstore=kvstore, optimizer=optimizer,
                                  optimizer_params=optimizer_params, force_init=force_init)
        self.optimizer_initialized = True

    # ---------------------------------------------------------------- steps
    def forward(self, data_batch, is_train=None):
        self._require("bind() and init_params()", self.binded and self.params_initialized)
        batch = data_batch
        for i, module in enumerate(self._modules):
            module.forward(batch, is_train=is_train)
            if i + 1 == len(self._modules):
                break
            # The next module's batch: this module's outputs as data, the same labels.
            batch = DataBatch(module.get_outputs(), getattr(data_batch, "label", None),
                              pad=getattr(data_batch, "pad", 0) or 0)

    def backward(self, out_grads=None):
        self._require("bind(for_training=True)", self.binded and self.for_training)
        for i in reversed(range(len(self._modules))):
            module = self._modules[i]
            module.backward(out_grads=out_grads)
            if i == 0:
                break
            out_grads = module.get_input_grads()

    def update(self):
        self._require("init_optimizer()", self.optimizer_initialized)
        for module in self._modules:
            module.update()

    def get_outputs(self, merge_multi_context=True):
        return self._modules[-1].get_outputs(merge_multi_context)

    def get_input_grads(self, merge_multi_context=True):
        self._require("bind(inputs_need_grad=True)", self.binded and self.inputs_need_grad)
        return self._modules[0].get_input_grads(merge_multi_context)

    def update_metric(self, eval_metric, labels, pre_sliced=False):
        for meta, module in zip(self._metas, self._modules):
            if meta.get(self.META_TAKE_LABELS, False):
                module.update_metric(eval_metric, labels, pre_sliced)

    def install_monitor(self, mon):
        for module in self._modules:
            module.install_monitor(mon)


def _shape_of(desc):
    """The shape in a DataDesc or a (name, shape) pair."""
    return desc.shape if hasattr(desc, "shape") else desc[1]
