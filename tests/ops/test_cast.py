import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import check_op, expect_error

DTYPES = ["float32", "float64", "float16", "uint8", "int32", "int8", "int64"]


def test_cast_float32_with_gradient():
    # check_op requires float32 inputs to give float32 outputs, so only this target fits it;
    # the other targets are checked pairwise below.
    check_op("Cast", [(3, 4)], dict(dtype="float32"), lambda x, dtype: x.astype(dtype),
             eps=1e-3, grad_rtol=1e-3, grad_atol=1e-5)


@pytest.mark.parametrize("dtype", ["uint8", "int32", "int8", "int64"])
def test_cast_forward(dtype):
    def values(i, shape, rng):
        return rng.integers(0, 100, size=shape).astype(np.float64) + 0.25
    check_op("Cast", [(3, 4)], dict(dtype=dtype), lambda x, dtype: x.astype(dtype),
             input_fn=values, grad=False)


@pytest.mark.parametrize("src", DTYPES)
@pytest.mark.parametrize("dst", DTYPES)
def test_cast_every_pair(src, dst):
    x = np.array([[0, 1, 7], [100, 3, 42]]).astype(src)
    y = cn.nd.Cast(cn.nd.array(x, dtype=src), dtype=dst).asnumpy()
    assert y.dtype == np.dtype(dst)
    np.testing.assert_array_equal(y, x.astype(dst))


def test_cast_infers_type_and_casts_gradient_back():
    op = cn.ops.make("Cast", dict(dtype="float16"))
    assert op.infer_type([0])[1] == [2]
    grad = np.zeros(3, dtype=np.float32)
    op.backward([np.array([1.5, -2, 0.25], dtype=np.float16)], [None], [None], [grad], [1], [])
    np.testing.assert_array_equal(grad, [1.5, -2, 0.25])
    assert op.needs_inputs == [False] and op.needs_outputs == [False]
    assert cn.ops.make("cast", dict(dtype="int8")).infer_type([0])[1] == [5]


def test_cast_errors():
    x = cn.nd.ones((2,))
    expect_error(lambda: cn.nd.Cast(x, dtype="bfloat16"), "Cast", "bfloat16", "not supported")
    expect_error(lambda: cn.nd.Cast(x, dtype="bool"), "Cast", "bool", "not supported")
    expect_error(lambda: cn.nd.Cast(x, dtype="complex64"), "Cast", "complex64")
    expect_error(lambda: cn.nd.Cast(x), "Cast", "dtype", "missing")
