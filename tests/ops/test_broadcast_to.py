import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import check_op, expect_error


@pytest.mark.parametrize("shape, target", [
    ((1, 3), (4, 3)), ((2, 1, 3, 1), (2, 5, 3, 4)), ((2, 1), (0, 6)), ((1,), (7,)),
    ((3, 4), (3, 4)), ((1, 1, 1), (2, 3, 4))])
def test_broadcast_to(shape, target):
    def ref(x, shape):
        return np.broadcast_to(x, tuple(t or d for t, d in zip(shape, x.shape)))
    check_op("broadcast_to", [shape], dict(shape=target), ref)


def test_broadcast_axis():
    def ref(x, axis, size):
        out = list(x.shape)
        for a, s in zip(axis, size):
            out[a] = s
        return np.broadcast_to(x, out)
    check_op("broadcast_axis", [(1, 2, 1)], dict(axis=(0, 2), size=(2, 3)), ref)
    check_op("broadcast_axes", [(3, 1)], dict(axis=(-1,), size=(4,)), ref)


def test_broadcast_like():
    check_op("broadcast_like", [(1, 3), (2, 3)], {}, lambda a, b: np.broadcast_to(a, b.shape))
    case = check_op("broadcast_like", [(1,), (5, 2)], dict(lhs_axes=(0,), rhs_axes=(0,)),
                    lambda a, b, **_: np.broadcast_to(a, (5,)))
    assert case.op.needs_inputs == [False, False]  # backward needs only dy


@pytest.mark.parametrize("shape, reps", [
    ((2, 3), (2, 2)), ((2, 3), (2,)), ((3,), (2, 2)), ((2, 1, 3), (1, 3, 1)), ((2, 3), ()),
    ((2, 3, 4), (2, 1, 3))])
def test_tile(shape, reps):
    check_op("tile", [shape], dict(reps=reps), lambda x, reps: np.tile(x, reps))


@pytest.mark.parametrize("shape, repeats, axis", [
    ((2, 3), 2, None), ((2, 3), 3, 0), ((2, 3), 2, 1), ((2, 3, 4), 2, -2), ((5,), 1, 0)])
def test_repeat(shape, repeats, axis):
    check_op("repeat", [shape], dict(repeats=repeats, axis=axis),
             lambda x, repeats, axis: np.repeat(x, repeats, axis))


def test_large_broadcast_backward_sums_repeats():
    x = cn.nd.array(np.arange(6.0).reshape(2, 1, 3))
    x.attach_grad()
    with cn.autograd.record():
        y = cn.nd.broadcast_to(x, shape=(2, 5000, 3))
    y.backward(cn.nd.ones((2, 5000, 3), dtype=np.float64))
    np.testing.assert_array_equal(x.grad.asnumpy(), np.full((2, 1, 3), 5000.0))


def test_symbols():
    x = cn.sym.Variable("x")
    assert cn.sym.tile(x, reps=(2, 3)).infer_shape(x=(4, 5))[1] == [(8, 15)]
    assert cn.sym.repeat(x, repeats=2).infer_shape(x=(4, 5))[1] == [(40,)]
    assert cn.sym.broadcast_to(x, shape=(3, 0)).infer_shape(x=(1, 5))[1] == [(3, 5)]


def test_bad_inputs():
    x = cn.nd.ones((2, 3))
    expect_error(lambda: cn.nd.broadcast_to(x, shape=(4, 3)), "broadcast_to", "(2, 3)",
                 "(4, 3)", "dim 0")
    expect_error(lambda: cn.nd.broadcast_to(x, shape=(3,)), "broadcast_to", "one entry per")
    expect_error(lambda: cn.nd.broadcast_axis(x, axis=(0,), size=(4,)), "broadcast_axis",
                 "axis 0", "size 2")
    expect_error(lambda: cn.nd.broadcast_like(x, cn.nd.ones((4,))), "broadcast_like",
                 "(2, 3)", "(4,)")
    expect_error(lambda: cn.nd.tile(x, reps=(0, 1)), "tile", "positive")
    expect_error(lambda: cn.nd.tile(x), "tile", "reps", "missing")
    expect_error(lambda: cn.nd.repeat(x, repeats=0), "repeat", "repeats", "positive")
    expect_error(lambda: cn.nd.repeat(x, repeats=2, axis=2), "repeat", "axis 2")
    expect_error(lambda: cn.nd.repeat(x, repeats=2, axes=1), "repeat", "axes")
