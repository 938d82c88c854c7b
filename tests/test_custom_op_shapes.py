"""A CustomOpProp's infer_shape is asked as soon as the first input shape is known, with unknown
inputs as empty shapes (as MXNet), so it can fill a label shaped like the data
(example/numpy-ops/weighted_logistic_regression.py)."""
import numpy as np
import pytest

import coarsenet as mx

SEEN = []


class _Scale(mx.operator.CustomOp):
    def forward(self, is_train, req, in_data, out_data, aux):
        self.assign(out_data[0], req[0], in_data[0] * 2)

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        self.assign(in_grad[0], req[0], out_grad[0] * 2 + in_data[1])


@mx.operator.register("test_label_like_data")
class _LabelLikeData(mx.operator.CustomOpProp):
    def __init__(self):
        super().__init__(need_top_grad=True)

    def list_arguments(self):
        return ["data", "label"]

    def infer_shape(self, in_shape):
        SEEN.append([list(s) for s in in_shape])
        return [in_shape[0], in_shape[0]], [in_shape[0]], []

    def create_operator(self, ctx, shapes, dtypes):
        return _Scale()


@mx.operator.register("test_needs_all_shapes")
class _NeedsAll(_LabelLikeData):
    def infer_shape(self, in_shape):
        rows = in_shape[1][0]  # fails while the label is unknown: asked again later
        return [in_shape[0], [rows]], [in_shape[0]], []


def test_unknown_label_is_filled_from_the_data():
    SEEN.clear()
    sym = mx.sym.Custom(mx.sym.Variable("data"), name="c", op_type="test_label_like_data")
    assert sym.list_arguments() == ["data", "c_label"]
    args, outs, _ = sym.infer_shape(data=(4, 5))
    assert args == [(4, 5), (4, 5)] and outs == [(4, 5)]
    assert SEEN[0] == [[4, 5], []]  # MXNet's form of "unknown"
    exe = sym.simple_bind(data=(4, 5))
    exe.arg_dict["data"][:] = 1
    exe.arg_dict["c_label"][:] = 3
    np.testing.assert_array_equal(exe.forward(is_train=True)[0].asnumpy(), 2)
    exe.backward()
    np.testing.assert_array_equal(exe.grad_dict["data"].asnumpy(), 5)


def test_a_prop_needing_every_shape_waits_for_them():
    sym = mx.sym.Custom(mx.sym.Variable("data"), mx.sym.Variable("label"),
                        op_type="test_needs_all_shapes")
    with pytest.warns(UserWarning, match="cannot infer"):
        assert sym.infer_shape(data=(4, 5)) == (None, None, None)
    args, outs, _ = sym.infer_shape(data=(4, 5), label=(4,))
    assert args == [(4, 5), (4,)] and outs == [(4, 5)]
