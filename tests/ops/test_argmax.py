import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import check_op, expect_error


def arg_ref(fn):
    def ref(x, axis=None, keepdims=False):
        if axis is None:
            out = np.array([fn(x)], dtype=x.dtype)
            return out.reshape((1,) * x.ndim) if keepdims else out
        out = fn(x, axis=axis, keepdims=keepdims).astype(x.dtype)
        return out.reshape(1) if out.ndim == 0 else out
    return ref


@pytest.mark.parametrize("params", [dict(axis=1), dict(axis=-1, keepdims=True), dict(),
                                    dict(keepdims=True), dict(axis=0)])
def test_argmax_argmin(params):
    check_op("argmax", [(3, 4, 5)], params, arg_ref(np.argmax))
    check_op("argmin", [(3, 4, 5)], params, arg_ref(np.argmin))


def test_argmax_channel():
    check_op("argmax_channel", [(2, 5, 3)], {}, lambda x: np.argmax(x, axis=1).astype(x.dtype))
    check_op("argmax_channel", [(4, 6)], {}, lambda x: np.argmax(x, axis=1).astype(x.dtype))


def test_ties_nan_and_errors():
    x = cn.nd.array([[1, 3, 3], [np.nan, 2, np.nan]])
    assert cn.nd.argmax(x, axis=1).asnumpy().tolist() == [1, 0]  # first max; NaN wins
    assert cn.nd.argmin(x, axis=1).asnumpy().tolist() == [0, 0]
    assert cn.nd.argmax(cn.nd.array([1.0, 2.0], dtype="float64")).dtype == np.float64
    expect_error(lambda: cn.nd.argmax(x, axis=2), "argmax", "axis 2")
    expect_error(lambda: cn.nd.argmax_channel(cn.nd.array([1, 2])), "argmax_channel", "axis")
    expect_error(lambda: cn.nd.argmax(cn.nd.zeros((2, 0)), axis=1), "argmax", "size 0")
    assert cn.nd.argmax(cn.nd.zeros((0, 3)), axis=1).shape == (0,)


def test_symbolic_no_gradient():
    x = cn.sym.var("x")
    y = cn.sym.argmax(x, axis=1) + cn.sym.sum(x, axis=1)
    ex = y.simple_bind(x=(2, 3))
    ex.forward(is_train=True, x=np.array([[1, 5, 2], [7, 0, 1]], np.float32))
    ex.backward(cn.nd.ones((2,)))
    np.testing.assert_allclose(ex.grad_dict["x"].asnumpy(), np.ones((2, 3)))
