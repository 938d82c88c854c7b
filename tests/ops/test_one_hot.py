import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import check_op


def one_hot_ref(idx, depth, on_value=1.0, off_value=0.0, dtype="float32"):
    k = np.trunc(idx).astype(np.int64)
    out = np.where(k[..., None] == np.arange(depth), on_value, off_value)
    return out.astype(dtype)


@pytest.mark.parametrize("params", [dict(depth=4), dict(depth=3, on_value=2.5, off_value=-1),
                                    dict(depth=5, dtype="int64")])
def test_one_hot(params):
    def make(i, shape, rng):
        return rng.integers(-1, 6, size=shape) + rng.uniform(0, 0.9, size=shape)
    check_op("one_hot", [(3, 4)], params, one_hot_ref, input_fn=make)


def test_one_hot_dtypes_and_out_of_range():
    y = cn.nd.one_hot(cn.nd.array([1, 7, -1]), 3, dtype="int32")
    assert y.dtype == np.int32 and y.asnumpy().tolist() == [[0, 1, 0], [0, 0, 0], [0, 0, 0]]
    assert cn.nd.one_hot(cn.nd.array([[0, 1]]), depth=2).shape == (1, 2, 2)
    assert cn.nd.one_hot(cn.nd.array([0]), depth=2, dtype="float64").dtype == np.float64


def test_onehot_encode():
    def ref(idx, like):
        return one_hot_ref(idx, like.shape[1])
    check_op("onehot_encode", [(4,), (4, 3)], {}, ref,
             input_fn=lambda i, s, rng: rng.integers(0, 4, size=s).astype(float) if i == 0 else None)


def test_onehot_encode_fills_out_like_mxnet():
    arr = cn.nd.zeros((3, 4))
    res = cn.nd.onehot_encode(cn.nd.array([1, 3, 7]), out=arr)
    assert res is arr
    assert arr.asnumpy().tolist() == [[0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]]
    other = cn.nd.zeros((2, 2))
    cn.nd.onehot_encode(cn.nd.array([0, 1]), other)  # positional form, also in place
    assert other.asnumpy().tolist() == [[1, 0], [0, 1]]
