import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import check_op, expect_error

# (input shape, shape param, reverse, expected output shape): MXNet's documented examples.
RESHAPE_CASES = [
    ((2, 3, 4), (4, 0, 2), False, (4, 3, 2)),
    ((2, 3, 4), (2, 0, 0), False, (2, 3, 4)),
    ((2, 3, 4), (6, 1, -1), False, (6, 1, 4)),
    ((2, 3, 4), (3, -1, 8), False, (3, 1, 8)),
    ((2, 3, 4), (-1,), False, (24,)),
    ((2, 3, 4), (-2,), False, (2, 3, 4)),
    ((2, 3, 4), (2, -2), False, (2, 3, 4)),
    ((2, 3, 4), (-2, 1, 1), False, (2, 3, 4, 1, 1)),
    ((2, 3, 4), (-3, 4), False, (6, 4)),
    ((2, 3, 4, 5), (-3, -3), False, (6, 20)),
    ((2, 3, 4), (0, -3), False, (2, 12)),
    ((2, 3, 4), (-3, -2), False, (6, 4)),
    ((2, 3, 4), (-4, 1, 2, -2), False, (1, 2, 3, 4)),
    ((2, 3, 4), (2, -4, -1, 3, -2), False, (2, 1, 3, 4)),
    ((10, 5, 4), (-1, 0), False, (40, 5)),
    ((10, 5, 4), (-1, 0), True, (50, 4)),
    ((2, 3, 4), (-1, -4, 2, 2), True, (6, 2, 2)),  # -4 moves as a unit when reversed
]


@pytest.mark.parametrize("in_shape, shape, reverse, expected", RESHAPE_CASES)
def test_reshape_special_codes(in_shape, shape, reverse, expected):
    op = cn.ops.make("Reshape", dict(shape=shape, reverse=reverse))
    _, outs, _ = op.infer_shape([in_shape])
    assert tuple(outs[0]) == expected


@pytest.mark.parametrize("in_shape, shape, reverse, expected", RESHAPE_CASES[::4])
def test_reshape_values_and_grad(in_shape, shape, reverse, expected):
    check_op("Reshape", [in_shape], dict(shape=shape, reverse=reverse),
             lambda x, **_: x.reshape(expected))


def test_flatten():
    check_op("Flatten", [(2, 3, 4)], {}, lambda x: x.reshape(2, -1))
    check_op("flatten", [(5,)], {}, lambda x: x.reshape(5, 1))


def test_ndarray_reshape_uses_the_op():
    x = cn.nd.array(np.arange(12))
    assert x.reshape(3, -1).shape == (3, 4)
    np.testing.assert_array_equal(x.reshape((-4, 2, -1)).asnumpy(), np.arange(12).reshape(2, 6))


def test_reshape_errors_name_both_shapes():
    x = cn.nd.ones((2, 3, 4))
    expect_error(lambda: cn.nd.Reshape(x, shape=(5, -1)), "Reshape", "(2, 3, 4)", "(5, -1)")
    expect_error(lambda: cn.nd.Reshape(x, shape=(5, 5)), "Reshape", "(2, 3, 4)", "(5, 5)")
    expect_error(lambda: cn.nd.Reshape(x, shape=(-1, -1)), "Reshape", "more than one -1")
    expect_error(lambda: cn.nd.Reshape(x, shape=(-4, 5, -1, 0, 0)), "Reshape", "split")
    expect_error(lambda: cn.nd.Reshape(x, shape=(0, 0, 0, 0)), "Reshape", "(2, 3, 4)")
    expect_error(lambda: cn.nd.Reshape(x, shape=(-5,)), "Reshape", "-5")
    expect_error(lambda: cn.nd.Reshape(x, target_shape=(4, 6)), "Reshape", "target_shape")
    expect_error(lambda: cn.nd.Reshape(x), "Reshape", "shape")


def test_in_place_forward_and_backward_share_bytes():
    op = cn.ops.make("Reshape", dict(shape=(-1, 4)))
    assert op.inplace == [(0, 0)] and op.backward_inplace == [(0, 0)]
    assert op.needs_inputs == [0] and op.needs_outputs == [0]
    x = np.arange(24.0).reshape(2, 3, 4)
    out = x.reshape(6, 4)  # a view: the planner hands both sides the same buffer
    op.forward([x], [out], [2], [])
    np.testing.assert_array_equal(out, np.arange(24.0).reshape(6, 4))
    dx = out.reshape(2, 3, 4)
    op.backward([out], [None], [None], [dx], [2], [])
    np.testing.assert_array_equal(dx, np.arange(24.0).reshape(2, 3, 4))
    acc = np.ones((2, 3, 4))
    op.backward([out], [None], [None], [acc], [3], [])  # req add
    np.testing.assert_array_equal(acc, 1 + np.arange(24.0).reshape(2, 3, 4))


@pytest.mark.parametrize("shape, axis", [((2, 3), 0), ((2, 3), 2), ((2, 3), -1), ((2, 3), -3),
                                         ((4,), 1)])
def test_expand_dims(shape, axis):
    check_op("expand_dims", [shape], dict(axis=axis), lambda x, axis: np.expand_dims(x, axis))


@pytest.mark.parametrize("shape, axis", [((2, 1, 3, 1), None), ((2, 1, 3, 1), (1,)),
                                         ((2, 1, 3, 1), (-1, 1)), ((1, 1), None)])
def test_squeeze(shape, axis):
    def ref(x, axis):
        y = np.squeeze(x, axis=axis)
        return y.reshape(1) if y.ndim == 0 else y  # MXNet 1.x keeps shape (1,)
    check_op("squeeze", [shape], dict(axis=axis), ref)


def test_expand_dims_and_squeeze_errors():
    x = cn.nd.ones((2, 3))
    expect_error(lambda: cn.nd.expand_dims(x, axis=3), "expand_dims", "axis 3", "(2, 3)")
    expect_error(lambda: cn.nd.expand_dims(x), "expand_dims", "axis", "missing")
    expect_error(lambda: cn.nd.squeeze(x, axis=(0,)), "squeeze", "axis 0", "size is 2")
    expect_error(lambda: cn.nd.squeeze(x, axis=(5,)), "squeeze", "out of range")
    y = cn.sym.squeeze(cn.sym.expand_dims(cn.sym.Variable("x"), axis=1))
    assert y.infer_shape(x=(2, 3))[1] == [(2, 3)]
