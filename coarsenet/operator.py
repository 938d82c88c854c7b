"""Ops written in Python with numpy, for prototyping (MXNet's `mx.operator` API).

    @cn.operator.register("sqr")
    class SqrProp(cn.operator.CustomOpProp):
        def list_arguments(self): return ["data"]
        def infer_shape(self, in_shape): return in_shape, [in_shape[0]], []
        def create_operator(self, ctx, shapes, dtypes): return Sqr()

    class Sqr(cn.operator.CustomOp):
        def forward(self, is_train, req, in_data, out_data, aux):
            self.assign(out_data[0], req[0], in_data[0].asnumpy() ** 2)
        def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
            self.assign(in_grad[0], req[0], 2 * in_data[0].asnumpy() * out_grad[0].asnumpy())

    y = cn.nd.Custom(x, op_type="sqr")          # cn.sym.Custom(data, op_type="sqr") likewise

The built-in C++ op `Custom` calls back into this module: its param `op_type` picks the
registered prop, every other keyword reaches the prop's constructor as a string. Such an op takes
part in shape inference, autograd, graphs and JSON files like any other, but every forward and
backward is a Python call on numpy arrays: slow next to a C++ op (see coarsenet.cpp_extension).
"""
from __future__ import annotations

import itertools

import numpy as np

from . import _core
from . import nd_functions as _nd_functions
from . import ops as _ops
from . import symbol as _symbol
from .base import CODE_TO_DTYPE, CoarsenetError, dtype_code, host_view
from .ndarray import NDArray

__all__ = ["CustomOp", "CustomOpProp", "NumpyOp", "get_all_registered_operators", "register"]

_REQS = ("null", "write", "inplace", "add")


class CustomOp:
    """The computation of a Python op; made by CustomOpProp.create_operator."""

    def forward(self, is_train, req, in_data, out_data, aux):
        """Writes out_data (NDArrays) from in_data honouring req ('null', 'write', 'inplace',
        'add'); use self.assign."""
        raise NotImplementedError(f"{type(self).__name__}.forward")

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        """Writes in_grad from out_grad; arrays that declare_backward_dependency left out are
        None."""
        raise NotImplementedError(f"{type(self).__name__}.backward")

    def assign(self, dst, req, src) -> None:
        """Stores src into dst as the request says: nothing, overwrite, or add."""
        if req == "null":
            return
        target = host_view(dst)
        value = src.asnumpy() if isinstance(src, NDArray) else np.asarray(src)
        if req in ("write", "inplace"):
            target[...] = value
        elif req == "add":
            target += value
        else:
            raise CoarsenetError(f"CustomOp.assign: unknown req {req!r}; expected one of {_REQS}")


class CustomOpProp:
    """The facts of a Python op: names, shapes, dtypes, what backward reads."""

    def __init__(self, need_top_grad: bool = True):
        self.need_top_grad_ = need_top_grad

    def list_arguments(self) -> list[str]:
        return ["data"]

    def list_outputs(self) -> list[str]:
        return ["output"]

    def list_auxiliary_states(self) -> list[str]:
        return []

    def infer_shape(self, in_shape):
        """(input shapes, output shapes, aux shapes); default: every output like input 0."""
        return in_shape, [in_shape[0]] * len(self.list_outputs()), []

    def infer_type(self, in_type):
        """(input, output, aux) numpy dtypes; default: everything like input 0."""
        t = in_type[0]
        return in_type, [t] * len(self.list_outputs()), [t] * len(self.list_auxiliary_states())

    def declare_backward_dependency(self, out_grad, in_data, out_data) -> list:
        """The ids (from the three lists given) backward reads; the rest may be freed early."""
        deps = list(out_grad) if self.need_top_grad_ else []
        return deps + list(in_data) + list(out_data)

    def create_operator(self, ctx, in_shapes, in_dtypes) -> CustomOp:
        raise NotImplementedError(f"{type(self).__name__}.create_operator")


_registry: dict[str, type] = {}


def register(reg_name: str):
    """Class decorator: registers a CustomOpProp subclass as op_type `reg_name`. Registering a
    name again replaces it (handy when re-running a notebook cell)."""

    def do_register(prop_cls):
        if not (isinstance(prop_cls, type) and issubclass(prop_cls, CustomOpProp)):
            raise CoarsenetError(f"operator.register('{reg_name}'): expected a CustomOpProp "
                                 f"subclass, found {prop_cls!r}")
        _registry[reg_name] = prop_cls
        # Parsed Custom instances of the old class are cached (keys start with the op name).
        for cache in (_ops._instance_cache, _nd_functions._fast_calls):
            for key in [k for k in cache if k[0] == "Custom"]:
                del cache[key]
        return prop_cls

    return do_register


def get_all_registered_operators() -> list[str]:
    return sorted(_registry)


class _Instance:
    """One parsed `Custom` node: its prop, and its operators per input shapes. The C++ op calls
    these methods (holding the GIL) with numpy views of its buffers."""

    def __init__(self, op_type: str, kwargs: dict):
        prop_cls = _registry.get(op_type)
        if prop_cls is None:
            known = ", ".join(sorted(_registry)) or "none"
            raise CoarsenetError("not registered with coarsenet.operator.register (registered: "
                                 f"{known})")
        self.op_type = op_type
        self.prop = prop_cls(**kwargs)
        self.arguments = [str(n) for n in self.prop.list_arguments()]
        self.outputs = [str(n) for n in self.prop.list_outputs()]
        self.aux = [str(n) for n in self.prop.list_auxiliary_states()]
        self._operators: dict = {}
        self._last = None

    def backward_needs(self):
        n_out, n_in = len(self.outputs), len(self.arguments)
        og = list(range(n_out))
        ins = list(range(n_out, n_out + n_in))
        outs = list(range(n_out + n_in, 2 * n_out + n_in))
        deps = {int(d) for d in self.prop.declare_backward_dependency(og, ins, outs)}
        return ([int(i in deps) for i in og], [int(i in deps) for i in ins],
                [int(i in deps) for i in outs])

    def infer_shape(self, in_shapes):
        result = self.prop.infer_shape([list(s) for s in in_shapes])
        ins, outs = result[0], result[1]
        aux = result[2] if len(result) > 2 else []
        as_tuples = lambda shapes: [tuple(int(d) for d in s) for s in shapes]
        return as_tuples(ins), as_tuples(outs), as_tuples(aux)

    def infer_type(self, in_codes):
        known = [c for c in in_codes if c >= 0]
        if not known:
            n_out, n_aux = len(self.outputs), len(self.aux)
            return list(in_codes), [-1] * n_out, [-1] * n_aux
        # The prop sees numpy dtypes, with unknown inputs taking the first known one.
        dtypes = [CODE_TO_DTYPE[c if c >= 0 else known[0]] for c in in_codes]
        ins, outs, aux = self.prop.infer_type(dtypes)
        codes = lambda ts: [dtype_code(t) for t in ts]
        return codes(ins), codes(outs), codes(aux)

    def _operator(self, arrays):
        """The prop's operator for these input shapes (MXNet makes one per bind)."""
        if any(a is None for a in arrays):
            if self._last is None:
                raise CoarsenetError("backward ran before any forward")
            return self._last
        key = tuple((a.shape, a.dtype.str) for a in arrays)
        op = self._operators.get(key)
        if op is None:
            from .context import cpu

            op = self.prop.create_operator(cpu(), [list(a.shape) for a in arrays],
                                           [a.dtype for a in arrays])
            self._operators[key] = op
        self._last = op
        return op

    def forward(self, is_train, req, in_data, out_data, aux):
        op = self._operator(in_data)
        op.forward(is_train=is_train, req=req, in_data=_wrap(in_data), out_data=_wrap(out_data),
                   aux=_wrap(aux))

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        shapes = [x if x is not None else g for x, g in zip(in_data, in_grad)]
        op = self._operator(shapes)
        op.backward(req=req, out_grad=_wrap(out_grad), in_data=_wrap(in_data),
                    out_data=_wrap(out_data), in_grad=_wrap(in_grad), aux=_wrap(aux))


def _wrap(arrays):
    return [None if a is None else NDArray(a) for a in arrays]


_core._set_custom_op_factory(_Instance)


# ---------------------------------------------------------------- NumpyOp
# `mx.operator.NumpyOp`: MXNet's older Python-op interface, one object that is both the
# property (list_arguments, list_outputs, infer_shape) and the computation (forward, backward on
# numpy arrays). Calling it on symbols makes a `Custom` node, so it runs through the same C++
# Custom op as CustomOpProp does (graph, memory plan, autograd).

_ids = itertools.count()


class NumpyOp:
    def __init__(self, need_top_grad: bool = True):
        self.need_top_grad_ = need_top_grad
        self._op_type = None

    def list_arguments(self) -> list[str]:
        return ["data"]

    def list_outputs(self) -> list[str]:
        return ["output"]

    def infer_shape(self, in_shape):
        return in_shape, [in_shape[0]]

    def need_top_grad(self) -> bool:
        return self.need_top_grad_

    def forward(self, in_data, out_data):
        raise NotImplementedError(f"{type(self).__name__}.forward")

    def backward(self, out_grad, in_data, out_data, in_grad):
        raise NotImplementedError(f"{type(self).__name__}.backward")

    def __call__(self, *args, **kwargs):
        if self._op_type is None:
            self._op_type = f"_numpy_op_{type(self).__name__}_{next(_ids)}"
            register(self._op_type)(_prop_class(self))
        return _symbol.Custom(*args, op_type=self._op_type, **kwargs)


def _prop_class(numpy_op: NumpyOp):
    """A CustomOpProp (and its CustomOp) that delegates to one NumpyOp instance."""

    class _Op(CustomOp):
        def forward(self, is_train, req, in_data, out_data, aux):
            outs = [np.zeros(o.shape, o.dtype) for o in out_data]
            numpy_op.forward([x.asnumpy() for x in in_data], outs)
            for dst, r, src in zip(out_data, req, outs):
                self.assign(dst, r, src)

        def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
            grads = [np.zeros(g.shape, g.dtype) for g in in_grad]
            numpy_op.backward([None if g is None else g.asnumpy() for g in out_grad],
                              [x.asnumpy() for x in in_data],
                              [y.asnumpy() for y in out_data], grads)
            for dst, r, src in zip(in_grad, req, grads):
                self.assign(dst, r, src)

    class _Prop(CustomOpProp):
        def __init__(self):
            super().__init__(need_top_grad=numpy_op.need_top_grad())

        def list_arguments(self):
            return numpy_op.list_arguments()

        def list_outputs(self):
            return numpy_op.list_outputs()

        def infer_shape(self, in_shape):
            ins, outs = numpy_op.infer_shape(in_shape)[:2]
            return ins, outs, []

        def create_operator(self, ctx, in_shapes, in_dtypes):
            return _Op()

    return _Prop
