import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import check_op, expect_error


def reduce_ref(fn):
    def ref(x, axis=None, keepdims=False, exclude=False):
        if axis is None or axis == ():
            axes = tuple(range(x.ndim))
        else:
            axes = tuple(a % x.ndim for a in (axis if isinstance(axis, tuple) else (axis,)))
            if exclude:
                axes = tuple(a for a in range(x.ndim) if a not in axes)
        y = fn(x, axis=axes, keepdims=keepdims)
        return y.reshape(1) if y.ndim == 0 else y
    return ref


CASES = [
    dict(),
    dict(axis=()),
    dict(keepdims=True),
    dict(axis=(1,)),
    dict(axis=(0, 2), keepdims=True),
    dict(axis=(-1,)),
    dict(axis=(1,), exclude=True),
    dict(axis=(0, 1, 2)),
    dict(axis=(0, 2)),
]


@pytest.mark.parametrize("name,fn", [("sum", np.sum), ("mean", np.mean)])
@pytest.mark.parametrize("params", CASES)
def test_reduce(name, fn, params):
    check_op(name, [(2, 3, 4)], params, reduce_ref(fn))


@pytest.mark.parametrize("name,fn", [("sum", np.sum), ("mean", np.mean)])
def test_reduce_with_unit_dims(name, fn):
    check_op(name, [(3, 1, 4, 1)], dict(axis=(1, 2)), reduce_ref(fn))


def test_reduce_shapes_follow_mxnet():
    op = cn.ops.make("sum", {})
    assert op.infer_shape([(2, 3)])[1] == [(1,)]
    assert cn.ops.make("sum", dict(keepdims=True)).infer_shape([(2, 3)])[1] == [(1, 1)]
    assert cn.ops.make("mean", dict(axis=1, exclude=True)).infer_shape([(2, 3, 4)])[1] == [(3,)]
    assert op.needs_inputs == [False] and op.needs_outputs == [False]


def test_ndarray_sum_mean_methods():
    x = cn.nd.array(np.arange(6).reshape(2, 3))
    np.testing.assert_array_equal(x.sum().asnumpy(), [15])
    np.testing.assert_array_equal(x.sum(axis=0).asnumpy(), [3, 5, 7])
    np.testing.assert_allclose(x.mean(axis=1, keepdims=True).asnumpy(), [[1], [4]])


def test_reduce_errors():
    x = cn.nd.ones((2, 3))
    expect_error(lambda: cn.nd.sum(x, axis=2), "sum", "axis", "2", "out of range")
    expect_error(lambda: cn.nd.mean(x, axis=(0, -2)), "mean", "twice")
    expect_error(lambda: cn.nd.sum(x, axis="a"), "sum", "axis")


@pytest.mark.parametrize("shape,axis", [((300, 500), None), ((300, 500), (0,)), ((300, 500), (1,)),
                                        ((3, 70000), (1,)), ((40, 3, 2000), (0, 2)),
                                        ((2, 80000), (0,))])
def test_large_reductions_split_across_threads(shape, axis):
    """Above the parallel threshold every split (rows, long rows, columns) matches NumPy."""
    x = np.random.default_rng(0).uniform(-1, 1, shape)
    params = {} if axis is None else dict(axis=axis)
    op = cn.ops.make("sum", params)
    y = op.invoke([x], [], False, 0)[0]
    np.testing.assert_allclose(y.reshape(-1), np.sum(x, axis=axis).reshape(-1), rtol=1e-10)
    dy = np.random.default_rng(1).uniform(-1, 1, y.shape)
    dx = np.zeros(shape)
    op.backward([dy], [None], [None], [dx], [1], [])
    expected = np.broadcast_to(np.sum(x, axis=axis, keepdims=True) * 0 + dy.reshape(
        np.sum(x, axis=axis, keepdims=True).shape), shape)
    np.testing.assert_allclose(dx, expected)
