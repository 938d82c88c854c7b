import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import check_op, expect_error


def transpose_ref(x, axes=()):
    return np.transpose(x, axes or None)


@pytest.mark.parametrize("shape, axes", [
    ((3, 4), ()),
    ((2, 3, 4), ()),
    ((2, 3, 4), (1, 0, 2)),
    ((2, 3, 4, 5), (0, 2, 3, 1)),  # NCHW -> NHWC
    ((2, 3, 4, 5), (0, 3, 1, 2)),  # NHWC -> NCHW
    ((2, 1, 4), (2, -2, 0)),
    ((5,), ()),
    ((40, 70), ()),                # several 32 x 32 tiles, partial at the edges
    ((3, 33, 2, 35), (3, 1, 2, 0)),
])
def test_transpose(shape, axes):
    check_op("transpose", [shape], dict(axes=axes), transpose_ref)


@pytest.mark.parametrize("shape, dim1, dim2", [
    ((2, 3), 0, 1), ((2, 3, 4), 0, 2), ((2, 3, 4), 1, 1), ((2, 3, 4, 5), -1, 1)])
def test_swapaxis(shape, dim1, dim2):
    check_op("SwapAxis", [shape], dict(dim1=dim1, dim2=dim2),
             lambda x, dim1, dim2: np.swapaxes(x, dim1, dim2))


def test_swapaxes_alias_and_large_transpose():
    x = np.random.default_rng(0).standard_normal((64, 300, 9)).astype(np.float32)
    got = cn.nd.swapaxes(cn.nd.array(x), dim1=0, dim2=2).asnumpy()
    np.testing.assert_array_equal(got, np.swapaxes(x, 0, 2))
    got = cn.nd.transpose(cn.nd.array(x), axes=(1, 2, 0)).asnumpy()
    np.testing.assert_array_equal(got, np.transpose(x, (1, 2, 0)))


def test_symbol_transpose_infers_shape():
    y = cn.sym.transpose(cn.sym.Variable("x"), axes=(2, 0, 1))
    _, outs, _ = y.infer_shape(x=(2, 3, 4))
    assert outs == [(4, 2, 3)]


def test_bad_axes():
    x = cn.nd.ones((2, 3, 4))
    expect_error(lambda: cn.nd.transpose(x, axes=(0, 1)), "transpose", "(0, 1)", "3")
    expect_error(lambda: cn.nd.transpose(x, axes=(0, 1, 1)), "transpose", "twice")
    expect_error(lambda: cn.nd.transpose(x, axes=(0, 1, 3)), "transpose", "3", "out of range")
    expect_error(lambda: cn.nd.transpose(x, axis=(0, 1, 2)), "transpose", "axis")
    expect_error(lambda: cn.nd.SwapAxis(x, dim1=0, dim2=3), "SwapAxis", "dim2", "3")


def test_backward_with_no_gradient_wanted_does_nothing():
    for name, params in [("transpose", dict(axes=(1, 0))), ("tile", dict(reps=(2, 1))),
                         ("slice", dict(begin=(0,), end=(1,))), ("exp", {})]:
        op = cn.ops.make(name, params)
        op.backward([np.ones(op.infer_shape([(2, 3)])[1][0])], [None], [np.ones((2, 3))],
                    [None], [0], [])
