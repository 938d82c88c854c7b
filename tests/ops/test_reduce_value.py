import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import check_op, expect_error


def _axes(axis, ndim, exclude=False):
    if axis is None or axis == ():
        return tuple(range(ndim))
    axes = tuple(a % ndim for a in (axis if isinstance(axis, tuple) else (axis,)))
    return tuple(a for a in range(ndim) if a not in axes) if exclude else axes


def reduce_ref(fn):
    def ref(x, axis=None, keepdims=False, exclude=False):
        y = fn(x, axis=_axes(axis, x.ndim, exclude), keepdims=keepdims)
        return np.reshape(y, (1,)) if np.ndim(y) == 0 else y
    return ref


CASES = [
    ((3, 4), {}),
    ((3, 4), dict(axis=1)),
    ((2, 3, 4), dict(axis=(0, 2))),
    ((2, 3, 4), dict(axis=(1,), keepdims=True)),
    ((2, 3, 4), dict(axis=(1,), exclude=True)),
    ((2, 3, 4, 5), dict(axis=(-1, -2))),
    ((5,), dict(axis=0)),
]


@pytest.mark.parametrize("name, fn", [("max", np.max), ("min", np.min), ("max_axis", np.max),
                                      ("min_axis", np.min)])
@pytest.mark.parametrize("shape, params", CASES)
def test_max_min(name, fn, shape, params):
    check_op(name, [shape], params, reduce_ref(fn))


@pytest.mark.parametrize("shape, params", CASES)
def test_prod(shape, params):
    # Values away from 0 and near 1 in size so products stay well conditioned.
    def input_fn(i, shape, rng):
        return rng.uniform(0.5, 1.5, size=shape) * rng.choice([-1, 1], size=shape)
    check_op("prod", [shape], params, reduce_ref(np.prod), input_fn=input_fn)


def test_prod_gradient_with_zeros_is_exact():
    x = np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 4.0], [1.0, 2.0, 3.0]])
    op = cn.ops.make("prod", dict(axis=1))
    dx = np.zeros_like(x)
    op.backward([np.ones(3)], [x], [None], [dx], [1], [])
    np.testing.assert_array_equal(dx, [[6, 0, 0], [0, 0, 0], [6, 3, 2]])


def test_max_gradient_goes_to_every_tie():
    op = cn.ops.make("max", dict(axis=1))
    x = np.array([[1.0, 3.0, 3.0], [2.0, 1.0, 0.0]])
    dx = np.zeros_like(x)
    op.backward([np.array([1.0, 2.0])], [x], [np.array([3.0, 2.0])], [dx], [1], [])
    np.testing.assert_array_equal(dx, [[0, 1, 1], [2, 0, 0]])


def norm_ref(x, ord=2, axis=None, keepdims=False):
    axes = _axes(axis, x.ndim)
    y = np.sqrt(np.sum(x * x, axis=axes, keepdims=keepdims)) if ord == 2 else \
        np.sum(np.abs(x), axis=axes, keepdims=keepdims)
    return np.reshape(y, (1,)) if np.ndim(y) == 0 else y


@pytest.mark.parametrize("shape, params", [
    ((3, 4), {}), ((2, 3, 4), dict(axis=1)), ((2, 3, 4), dict(axis=(1, 2), keepdims=True)),
    ((2, 3, 4), dict(ord=1, axis=-1)), ((2, 3), dict(ord=1))])
def test_norm(shape, params):
    case = check_op("norm", [shape], params, norm_ref)
    assert case.op.needs_outputs == [params.get("ord", 2) == 2]


def test_norm_mxnet_doc_example():
    x = cn.nd.array(np.array([[[1, 2], [3, 4]], [[2, 2], [5, 6]]], dtype=np.float32))
    np.testing.assert_allclose(cn.nd.norm(x, ord=2, axis=1).asnumpy(),
                               [[3.1622777, 4.472136], [5.3851647, 6.3245554]], rtol=1e-6)
    np.testing.assert_array_equal(cn.nd.norm(x, ord=1, axis=1).asnumpy(), [[4, 6], [7, 8]])
    assert cn.nd.norm(x).shape == (1,)


def test_large_reductions_match_numpy():
    x = np.random.default_rng(0).standard_normal((64, 3000)).astype(np.float32)
    for axis in (0, 1):
        np.testing.assert_array_equal(cn.nd.max(cn.nd.array(x), axis=axis).asnumpy(),
                                      x.max(axis=axis))
        np.testing.assert_allclose(cn.nd.norm(cn.nd.array(x), axis=axis).asnumpy(),
                                   np.linalg.norm(x, axis=axis), rtol=1e-5)


def test_errors():
    x = cn.nd.ones((2, 3))
    expect_error(lambda: cn.nd.max(x, axis=2), "max", "axis 2", "out of range")
    expect_error(lambda: cn.nd.norm(x, ord=3), "norm", "ord", "3")
    expect_error(lambda: cn.nd.norm(x, out_dtype="float64"), "norm", "out_dtype")
    expect_error(lambda: cn.nd.norm(x, out_dtype="float128"), "norm", "out_dtype", "float128")
    expect_error(lambda: cn.nd.prod(x, keepdim=True), "prod", "keepdim")
    assert cn.sym.norm(cn.sym.Variable("x"), axis=1).infer_shape(x=(2, 3))[1] == [(2,)]
