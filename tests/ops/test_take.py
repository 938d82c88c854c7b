import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import check_op, expect_error


def indices(high, lo=-2, extra=2):
    def make(i, shape, rng):
        if i == 0:
            return None
        return rng.integers(lo, high + extra, size=shape).astype(np.float64)
    return make


def take_ref(a, idx, axis=0, mode="clip"):
    n = a.shape[axis]
    k = np.trunc(idx).astype(np.int64)
    k = np.clip(k, 0, n - 1) if mode == "clip" else np.mod(k, n)
    return np.take(a, k, axis=axis)


@pytest.mark.parametrize("axis,mode,ishape", [(0, "clip", (2, 3)), (1, "wrap", (5,)),
                                              (-1, "clip", (2, 2))])
def test_take(axis, mode, ishape):
    shape = (3, 4, 2)
    check_op("take", [shape, ishape], dict(axis=axis, mode=mode), take_ref,
             input_fn=indices(shape[axis]), grad_inputs=[0])


def test_take_raise():
    a = cn.nd.array(np.arange(12).reshape(3, 4))
    assert cn.nd.take(a, cn.nd.array([2, 0]), mode="raise").shape == (2, 4)
    expect_error(lambda: cn.nd.take(a, cn.nd.array([3]), mode="raise"), "take", "out of range")
    expect_error(lambda: cn.nd.take(a, cn.nd.array([-1]), mode="raise"), "take", "out of range")
    expect_error(lambda: cn.nd.take(a, cn.nd.array([0]), axis=2), "take", "axis 2")


def row_ref(a, idx):
    m = a.shape[-1]
    k = np.clip(np.trunc(idx).astype(np.int64), 0, m - 1)
    return a.reshape(-1, m)[np.arange(k.size), k.reshape(-1)].reshape(idx.shape)


@pytest.mark.parametrize("op", ["batch_take", "choose_element_0index"])
def test_row_pick(op):
    check_op(op, [(5, 4), (5,)], {}, row_ref, input_fn=indices(4), grad_inputs=[0])


def test_fill_element_0index():
    def ref(lhs, mhs, rhs):
        out = lhs.copy()
        for i, k in enumerate(np.trunc(rhs).astype(np.int64)):
            if 0 <= k < lhs.shape[1]:
                out[i, k] = mhs[i]
        return out

    def make(i, shape, rng):
        return rng.integers(-1, 5, size=shape).astype(np.float64) if i == 2 else None

    check_op("fill_element_0index", [(6, 4), (6,), (6,)], {}, ref, input_fn=make)


def test_row_errors():
    expect_error(lambda: cn.nd.batch_take(cn.nd.ones((3, 4)), cn.nd.array([0, 1])),
                 "batch_take", "3 elements")
    expect_error(lambda: cn.nd.fill_element_0index(cn.nd.ones((3,)), cn.nd.ones((3,)),
                                                   cn.nd.ones((3,))), "fill_element_0index",
                 "2 dims")
