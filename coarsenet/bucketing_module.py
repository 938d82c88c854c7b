"""mx.mod.BucketingModule: one Module per bucket key (e.g. sequence length), all sharing the
parameters, their gradients, the optimizer state, and ONE activation arena.

sym_gen(bucket_key) -> (symbol, data_names, label_names). The default bucket is bound first and
must be the largest (as in MXNet); every other bucket's executor is planned on its own but runs
in a prefix of the default bucket's arena, since buckets never run interleaved (forward,
backward and update finish on one bucket before the next forward). A bucket whose plan needs
more than that arena gets its own (memory_stats reports how many did). Outputs of a bucket are
views into the shared arena: read them before running another bucket.
"""
from __future__ import annotations

import logging

import numpy as np

from .base import CoarsenetError, host_view
from .executor import Executor
from .module_core import Module, _descs
from .ndarray import NDArray


class BucketingModule(Module):
    def __init__(self, sym_gen, default_bucket_key=None, logger=logging, context=None,
                 work_load_list=None, fixed_param_names=None, state_names=None, **_ignored):
        if default_bucket_key is None:
            raise CoarsenetError("BucketingModule: default_bucket_key is required")
        self._sym_gen, self._default_key = sym_gen, default_bucket_key
        symbol, data_names, label_names = sym_gen(default_bucket_key)
        super().__init__(symbol, data_names, label_names, context,
                         fixed_param_names=fixed_param_names, logger=logger)
        self._buckets: dict = {}
        self._curr_key = default_bucket_key

    @property
    def _curr(self) -> Module:
        return self._buckets[self._curr_key]

    def bind(self, data_shapes, label_shapes=None, for_training=True, inputs_need_grad=False,
             force_rebind=False, shared_module=None, grad_req="write"):
        if self.binded and not force_rebind:
            return
        base = Module(self.symbol, self.data_names, self.label_names,
                      fixed_param_names=self.fixed_param_names, logger=self.logger)
        base.bind(data_shapes, label_shapes, for_training, inputs_need_grad, grad_req=grad_req)
        self._buckets = {self._default_key: base}
        self._curr_key = self._default_key
        self._adopt(base)
        self.binded, self.for_training = True, for_training
        self._bind_args = (inputs_need_grad, grad_req)

    def _adopt(self, module: Module) -> None:
        """Module's own methods (init_params, update, get_params...) act on the default bucket's
        shared arrays and on the current bucket's executor."""
        base = self._buckets[self._default_key]
        self.data_shapes, self.label_shapes = module.data_shapes, module.label_shapes
        self._exec, self._executors = module._exec, module._executors
        self._arg_params, self._aux_params = base._arg_params, base._aux_params

    def install_monitor(self, mon) -> None:
        """mx.mon.Monitor over every bucket's executors (and those of buckets bound later)."""
        self._require("bind()", self.binded)
        self._monitor = mon
        for module in self._buckets.values():
            for exe in module._executors.values():
                mon.install(exe)

    def switch_bucket(self, bucket_key, data_shapes, label_shapes=None) -> None:
        """Binds (once) and selects the executor of bucket_key, sharing everything shareable."""
        self._require("bind()", self.binded)
        if bucket_key not in self._buckets:
            self._buckets[bucket_key] = self._bind_shared(bucket_key, data_shapes, label_shapes)
        self._curr_key = bucket_key
        self._adopt(self._buckets[bucket_key])

    def _bind_shared(self, key, data_shapes, label_shapes) -> Module:
        base = self._buckets[self._default_key]
        symbol, data_names, label_names = self._sym_gen(key)
        module = Module(symbol, data_names, label_names,
                        fixed_param_names=self.fixed_param_names, logger=self.logger)
        inputs_need_grad, grad_req = self._bind_args
        module.data_shapes = _descs(data_shapes)
        module.label_shapes = _descs(label_shapes) if self.for_training and label_shapes else []
        shapes = {d.name: d.shape for d in module.data_shapes + module.label_shapes}
        arg_shapes, _, aux_shapes = symbol.infer_shape(**shapes)
        args, grads, reqs, aux = {}, {}, {}, {}
        base_exec = base._exec
        for name, shape in zip(symbol.list_arguments(), arg_shapes):
            shared = base_exec.arg_dict.get(name)
            if name in module.param_names:
                if shared is None or shared.shape != tuple(shape):
                    raise CoarsenetError(
                        f"BucketingModule: bucket {key!r} needs parameter '{name}' of shape "
                        f"{tuple(shape)}, the default bucket has "
                        f"{None if shared is None else shared.shape}")
                args[name] = shared
                fixed = name in self.fixed_param_names or not self.for_training
                reqs[name] = "null" if fixed else grad_req
                if reqs[name] != "null":
                    grads[name] = base_exec.grad_dict[name]
            else:
                args[name] = NDArray(np.zeros(shape, np.float32))
                wants = name in module.data_names and inputs_need_grad and self.for_training
                reqs[name] = grad_req if wants else "null"
                if wants:
                    grads[name] = NDArray(np.zeros(shape, np.float32))
        for name, shape in zip(symbol.list_auxiliary_states(), aux_shapes):
            aux[name] = base_exec.aux_dict[name]
        module._exec = Executor(symbol, args, grads, reqs, aux, shared_arena=base_exec._arena)
        if self._monitor is not None:  # install_monitor covers buckets bound later too
            self._monitor.install(module._exec)
        module._executors = {tuple(sorted(shapes.items())): module._exec}
        module.for_training, module.binded = self.for_training, True
        module._sync_param_refs()
        return module

    def forward(self, data_batch, is_train=None):
        key = getattr(data_batch, "bucket_key", None)
        if key is None:
            key = self._default_key
        provide_data = getattr(data_batch, "provide_data", None) or [
            (n, x.shape) for n, x in zip(self._sym_gen(key)[1], data_batch.data)]
        provide_label = getattr(data_batch, "provide_label", None)
        if provide_label is None and getattr(data_batch, "label", None):
            provide_label = [(n, x.shape) for n, x in zip(self._sym_gen(key)[2],
                                                           data_batch.label)]
        self.switch_bucket(key, provide_data, provide_label)
        module = self._curr
        module.forward(data_batch, is_train)
        self._exec = module._exec

    def backward(self, out_grads=None):
        self._curr.backward(out_grads)

    def update(self):
        """The default bucket's updater on the shared gradients; parameters the current
        bucket does not use get no update (their gradients are stale)."""
        self._require("init_optimizer()", self.optimizer_initialized)
        used = set(self._curr.param_names)
        saved = self._exec
        self._exec = self._buckets[self._default_key]._exec
        try:
            names = [n for n in self.param_names if n not in used]
            if names:
                grads = self._exec.grad_dict
                for n in names:
                    if n in grads:
                        host_view(grads[n])[...] = 0
            super().update()
        finally:
            self._exec = saved

    def get_outputs(self, merge_multi_context=True):
        return self._curr.get_outputs(merge_multi_context)

    def get_input_grads(self, merge_multi_context=True):
        return self._curr.get_input_grads(merge_multi_context)

    @property
    def symbol_of_bucket(self) -> dict:
        return {k: m.symbol for k, m in self._buckets.items()}

    def memory_stats(self) -> dict:
        """arena_bytes: the one shared arena (the default bucket's); separate_arena_bytes: what
        one arena per bucket would take; own_arena_buckets: buckets that did not fit in it;
        per_bucket: each bucket's executor memory_stats."""
        self._require("bind()", self.binded)
        base = self._buckets[self._default_key]._exec
        per = {k: m._exec.memory_stats() for k, m in self._buckets.items()}
        own = [k for k, m in self._buckets.items()
               if m._exec is not base and not np.shares_memory(m._exec._arena, base._arena)]
        return {"num_buckets": len(self._buckets), "arena_bytes": base._arena.nbytes,
                "separate_arena_bytes": sum(m._exec._arena.nbytes
                                            for m in self._buckets.values()),
                "own_arena_buckets": own, "per_bucket": per}
