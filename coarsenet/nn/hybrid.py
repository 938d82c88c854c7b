"""hybridize: trace a HybridBlock once into a symbol and run it through a bound executor.

The block's parameters are bound by reference (the executor reads and, for BatchNorm's running
statistics, updates the very arrays the Parameters hold), so Trainer updates are seen without
copying. One executor is cached per input shape. Under autograd.record() the whole executor
call is ONE node on the tape; its backward runs the executor's backward and hands the input and
parameter gradients to the tape, which accumulates them like any other node's.
"""
from __future__ import annotations

import os
import sys
import traceback

import numpy as np

from .. import autograd
from ..base import CoarsenetError
from ..ndarray import NDArray
from .block import check_hybridize_options

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _symbol_module():
    try:
        from .. import symbol
    except ImportError:
        raise CoarsenetError("hybridize needs coarsenet.symbol (the graph layer), which this "
                             "build lacks") from None
    return symbol


class CachedGraph:
    """The traced symbol of one block and its executors by input shape."""

    def __init__(self, block, mirror=None, **options):
        check_hybridize_options(options)
        self.block, self.mirror = block, mirror
        self.symbol = None
        self.present: tuple | None = None  # which positional inputs were not None at the trace
        self.data_names: list[str] = []
        self.executors: dict = {}

    # ---------------------------------------------------------------- tracing
    def _trace(self, inputs: list) -> None:
        sym = _symbol_module()
        block = self.block
        if any(not p._shape_known() or p._data is None for p in block.collect_params().values()):
            block.infer_shape(*inputs)  # deferred parameter shapes from one shape trace
        # Optional inputs passed as None (a loss's sample_weight) stay None in the trace.
        self.present = tuple(x is not None for x in inputs)
        names = ["data"] if len(inputs) == 1 else [f"data{i}" for i in range(len(inputs))]
        placeholders = [sym.var(n) if x is not None else None for n, x in zip(names, inputs)]
        self.data_names = [n for n, x in zip(names, inputs) if x is not None]
        try:
            out = block._trace_symbol(*placeholders)
        except Exception as err:  # noqa: BLE001 - re-raised with the offending line
            raise CoarsenetError(_trace_failure(block, err)) from err
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        self.symbol = outs[0] if len(outs) == 1 else sym.Group(outs)
        self.num_outputs = len(outs)

    def _executor(self, inputs: list):
        key = tuple((x.shape, x.dtype.str, x._tape is not None) for x in inputs)
        exe = self.executors.get(key)
        if exe is not None:
            return exe
        params = {p.name: p for p in self.block.collect_params().values()}
        aux_names = set(self.symbol.list_auxiliary_states())
        args, grads, reqs, aux = {}, {}, {}, {}
        for name, x in zip(self.data_names, inputs):
            args[name] = NDArray(np.zeros(x.shape, x.dtype))
            reqs[name] = "write" if x._tape is not None else "null"
        for name in self.symbol.list_arguments():
            if name in args:
                continue
            p = params.get(name)
            if p is None:
                raise CoarsenetError(f"hybridize: {self.block.name}: the traced graph reads "
                                     f"'{name}', which is neither an input nor a parameter")
            args[name] = p.data()
            reqs[name] = "null" if p.grad_req == "null" else "write"
        for name in aux_names:
            aux[name] = params[name].data()
        for name, req in reqs.items():
            if req != "null":
                grads[name] = NDArray(np.zeros(args[name].shape, args[name].dtype))
        exe = self.symbol.bind(args=args, args_grad=grads, grad_req=reqs, aux_states=aux,
                               mirror=self.mirror)
        exe._cn_generation = 0
        self.executors[key] = exe
        return exe

    # ---------------------------------------------------------------- running
    def __call__(self, *inputs):
        if self.symbol is None:
            self._trace(list(inputs))
        if self.present is not None and tuple(x is not None for x in inputs) != self.present:
            raise CoarsenetError(
                f"hybridized block '{self.block.name}' was traced with inputs present "
                f"{self.present} (False: None) and is now called with "
                f"{tuple(x is not None for x in inputs)}; call hybridize() again to retrace")
        inputs = tuple(x for x in inputs if x is not None)
        exe = self._executor(list(inputs))
        exe.forward(is_train=autograd.is_training(),
                    **{n: x for n, x in zip(self.data_names, inputs)})
        exe._cn_generation += 1
        outputs = [NDArray(o._data.copy()) for o in exe.outputs[: self.num_outputs]]
        if autograd.is_recording():
            self._record(exe, list(inputs), outputs)
        return outputs[0] if len(outputs) == 1 else outputs

    def _record(self, exe, inputs: list, outputs: list) -> None:
        arg_names = [n for n in exe._arg_names if n not in self.data_names]
        params = [exe.arg_dict[n] for n in arg_names]
        generation = exe._cn_generation

        def executor_backward(out_grads):
            if exe._cn_generation != generation:
                raise CoarsenetError(
                    f"hybridized block '{self.block.name}' ran forward again on the same input "
                    "shape before this backward; call backward after each forward")
            heads = [np.zeros(*_meta(o)) if g is None else g for g, o in zip(out_grads, outputs)]
            exe.backward([NDArray(h) for h in heads])
            names = self.data_names + arg_names
            return [exe.grad_dict[n]._data if n in exe.grad_dict else None for n in names]

        executor_backward.__name__ = f"hybridized {self.block.name}"
        autograd.record_custom(inputs + params, outputs, executor_backward)

    def export(self, path: str, epoch: int = 0, format: str = "mxnet") -> str:  # noqa: A002
        from .. import mxnet_format

        if self.symbol is None or not self.executors:
            raise CoarsenetError(f"export: run {self.block.name} once after hybridize() so "
                                 "it is traced")
        params = {p.name: p for p in self.block.collect_params().values()}
        arrays = {}
        for name in self.symbol.list_arguments():
            if name not in self.data_names:
                arrays[f"arg:{name}"] = params[name].data().asnumpy()
        for name in self.symbol.list_auxiliary_states():
            arrays[f"aux:{name}"] = params[name].data().asnumpy()
        if format == "onnx":
            from .. import onnx

            last_call = next(reversed(self.executors))  # ((shape, dtype, taped), ...) per input
            return onnx.export_model(self.symbol, arrays, [k[0] for k in last_call],
                                     [np.dtype(k[1]) for k in last_call],
                                     onnx_file_path=f"{path}.onnx")
        self.symbol.save(f"{path}-symbol.json")
        mxnet_format.save_arrays(f"{path}-{epoch:04d}.params", arrays)
        return f"{path}-symbol.json"


def _meta(array: NDArray) -> tuple:
    return array.shape, array.dtype


def _trace_failure(block, err: Exception) -> str:
    """Names the line of user code where tracing with symbols failed."""
    frames = traceback.extract_tb(sys.exc_info()[2])
    user = [f for f in frames if not os.path.abspath(f.filename).startswith(_PACKAGE_DIR)]
    where = ""
    if user:
        f = user[-1]
        where = f" at {f.filename}:{f.lineno}: {f.line}"
    return (f"hybridize: cannot trace block '{block.name}' into a graph{where}: "
            f"{type(err).__name__}: {err}. hybrid_forward must use only F.<op> calls on its "
            "inputs (no Python control flow on values, no asnumpy()); call hybridize(False) "
            "to run it imperatively")
