"""`mx.operator.NumpyOp`: MXNet's older Python-op interface, one object that is both the
property (list_arguments, list_outputs, infer_shape) and the computation (forward, backward on
numpy arrays). Calling it on symbols makes a `Custom` node, so it runs through the same C++
Custom op as CustomOpProp does (graph, memory plan, autograd)."""
from __future__ import annotations

import itertools

import numpy as np

from . import operator as _operator

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
        from . import symbol

        if self._op_type is None:
            self._op_type = f"_numpy_op_{type(self).__name__}_{next(_ids)}"
            _operator.register(self._op_type)(_prop_class(self))
        return symbol.Custom(*args, op_type=self._op_type, **kwargs)


def _prop_class(numpy_op: NumpyOp):
    """A CustomOpProp (and its CustomOp) that delegates to one NumpyOp instance."""

    class _Op(_operator.CustomOp):
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

    class _Prop(_operator.CustomOpProp):
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
