import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import check_op, expect_error


def pick_ref(x, index, axis=-1, keepdims=False, mode="clip"):
    axis = axis % x.ndim
    n = x.shape[axis]
    idx = np.floor(index).astype(np.int64).reshape(
        x.shape[:axis] + (1,) + x.shape[axis + 1:])
    idx = np.clip(idx, 0, n - 1) if mode == "clip" else np.mod(idx, n)
    out = np.take_along_axis(x, idx, axis)
    return out if keepdims else np.squeeze(out, axis)


def indices(high):
    def make(i, shape, rng):
        return rng.integers(-1, high + 1, size=shape).astype(np.float64) if i == 1 else None
    return make


@pytest.mark.parametrize("axis,keepdims,mode", [(-1, False, "clip"), (1, True, "wrap"),
                                                (0, False, "wrap")])
def test_pick(axis, keepdims, mode):
    shape = (3, 4, 2)
    ax = axis % 3
    index_shape = shape[:ax] + ((1,) if keepdims else ()) + shape[ax + 1:]
    check_op("pick", [shape, index_shape], dict(axis=axis, keepdims=keepdims, mode=mode),
             pick_ref, input_fn=indices(shape[ax]), grad_inputs=[0])


def test_integer_indices_and_errors():
    x = cn.nd.array(np.arange(6).reshape(2, 3))
    y = cn.nd.pick(x, cn.nd.array([2, 0], dtype=np.int32))
    assert y.asnumpy().tolist() == [2.0, 3.0]
    expect_error(lambda: cn.nd.pick(x, cn.nd.array([1, 2, 0])), "pick", "index", "(2,)")
    expect_error(lambda: cn.nd.pick(x, cn.nd.array([1, 0]), axis=2), "pick", "axis")
