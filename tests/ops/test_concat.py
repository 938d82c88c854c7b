import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import REQ_NULL, REQ_WRITE, check_op, expect_error


def concat_ref(*xs, num_args, dim=1):
    return np.concatenate(xs, axis=dim)


def split_ref(x, num_outputs, axis=1, squeeze_axis=False):
    parts = np.split(x, num_outputs, axis=axis)
    return tuple(np.squeeze(p, axis=axis) if squeeze_axis else p for p in parts)


@pytest.mark.parametrize("shapes, dim", [
    ([(2, 3), (2, 4)], 1),
    ([(1, 3), (2, 3), (3, 3)], 0),
    ([(2, 3, 1), (2, 3, 2)], -1),
    ([(2, 1, 3), (2, 2, 3)], 1),
])
def test_concat(shapes, dim):
    check_op("Concat", shapes, dict(num_args=len(shapes), dim=dim), concat_ref)


def test_concat_names_and_alias():
    op = cn.ops.make("concat", dict(num_args=3))
    assert op.input_names == ["arg0", "arg1", "arg2"]
    a, b = cn.nd.ones((2, 2)), cn.nd.zeros((2, 1))
    np.testing.assert_array_equal(cn.nd.Concat(a, b).asnumpy(), [[1, 1, 0], [1, 1, 0]])


def test_concat_backward_with_unwanted_gradient():
    op = cn.ops.make("Concat", dict(num_args=2, dim=1))
    dy = np.arange(10.0).reshape(2, 5)
    g1 = np.zeros((2, 3))
    g0 = np.zeros((2, 2))
    op.backward([dy], [None, None], [None], [g0, g1], [REQ_NULL, REQ_WRITE], [])
    np.testing.assert_array_equal(g1, dy[:, 2:])
    np.testing.assert_array_equal(g0, 0)


@pytest.mark.parametrize("shape, params", [
    ((2, 6), dict(num_outputs=3)),
    ((4, 2, 3), dict(num_outputs=2, axis=0)),
    ((2, 3, 2), dict(num_outputs=2, axis=-1)),
    ((2, 3, 4), dict(num_outputs=3, axis=1, squeeze_axis=True)),
])
def test_slice_channel(shape, params):
    check_op("SliceChannel", [shape], params, split_ref)


def test_split_alias_returns_a_list():
    parts = cn.nd.split(cn.nd.array(np.arange(6).reshape(1, 6)), num_outputs=2)
    assert [p.shape for p in parts] == [(1, 3), (1, 3)]
    assert cn.ops.make("split", dict(num_outputs=2)).output_names == ["output0", "output1"]


def test_bad_inputs():
    a, b = cn.nd.ones((2, 3)), cn.nd.ones((3, 3))
    expect_error(lambda: cn.nd.Concat(a, b, dim=1), "Concat", "(3, 3)", "(2, 3)", "dim 1")
    expect_error(lambda: cn.nd.Concat(a, cn.nd.ones(3), dim=0), "Concat", "(3,)")
    expect_error(lambda: cn.nd.Concat(a, a, dim=2), "Concat", "dim 2", "out of range")
    expect_error(lambda: cn.nd.SliceChannel(a, num_outputs=2), "SliceChannel", "divisible",
                 "(2, 3)", "2")
    expect_error(lambda: cn.nd.split(a, num_outputs=1, axis=1, squeeze_axis=True), "split",
                 "squeeze_axis")
    expect_error(lambda: cn.nd.split(a, num_outputs=0), "split", "num_outputs")
    expect_error(lambda: cn.nd.split(a), "split", "num_outputs", "missing")


def test_concat_backward_through_autograd_with_a_constant_input():
    from coarsenet import autograd

    const, y = cn.nd.ones((2, 2)), cn.nd.array(np.arange(6.0).reshape(2, 3))
    y.attach_grad()
    with autograd.record():
        z = cn.nd.Concat(const, y, y, dim=1)
    z.backward(cn.nd.array(np.arange(16.0).reshape(2, 8)))
    head = np.arange(16.0).reshape(2, 8)
    np.testing.assert_array_equal(y.grad.asnumpy(), head[:, 2:5] + head[:, 5:8])
