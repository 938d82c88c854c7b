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
