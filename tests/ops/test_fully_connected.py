import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import check_op, expect_error


def fc_ref(x, w, b=None, num_hidden=None, no_bias=False, flatten=True):
    x2 = x.reshape(x.shape[0], -1) if flatten else x.reshape(-1, x.shape[-1])
    y = x2 @ w.T + (0 if b is None else b)
    return y if flatten else y.reshape(x.shape[:-1] + (num_hidden,))


@pytest.mark.parametrize("data_shape", [(4, 6), (1, 6), (3, 2, 3)])
def test_fully_connected_with_bias(data_shape):
    k = int(np.prod(data_shape[1:]))
    check_op("FullyConnected", [data_shape, (5, k), (5,)], dict(num_hidden=5), fc_ref)


def test_fully_connected_no_bias():
    check_op("FullyConnected", [(3, 7), (2, 7)], dict(num_hidden=2, no_bias=True), fc_ref)


def test_fully_connected_no_flatten():
    check_op("FullyConnected", [(2, 3, 4), (6, 4), (6,)], dict(num_hidden=6, flatten=False), fc_ref)


def test_infers_weight_shape_from_data():
    op = cn.ops.make("FullyConnected", dict(num_hidden=8))
    ins, outs, _ = op.infer_shape([(16, 3, 5), None, None])
    assert ins == [(16, 3, 5), (8, 15), (8,)] and outs == [(16, 8)]


def test_bad_input_errors_name_the_op():
    x, w, b = cn.nd.ones((2, 5)), cn.nd.ones((3, 4)), cn.nd.ones(3)
    expect_error(lambda: cn.nd.FullyConnected(x, w, b, num_hidden=3),
                 "FullyConnected", "weight", "(3, 5)", "(3, 4)")
    expect_error(lambda: cn.nd.FullyConnected(x, w, num_hidden=3), "FullyConnected", "bias")
    expect_error(lambda: cn.nd.FullyConnected(x, w, b, num_hiden=3), "FullyConnected", "num_hiden")
    expect_error(lambda: cn.nd.FullyConnected(x, w, b, num_hidden="x"), "FullyConnected", "'x'")
    expect_error(lambda: cn.nd.FullyConnected(x, w, b, num_hidden=0), "FullyConnected", "num_hidden")
    expect_error(lambda: cn.nd.FullyConnected(x, w, b), "FullyConnected", "num_hidden", "missing")
    w5 = cn.nd.ones((3, 5))
    expect_error(lambda: cn.nd.FullyConnected(x.astype(np.int32), w5, b, num_hidden=3),
                 "FullyConnected", "dtype")
    expect_error(lambda: cn.nd.FullyConnected(x.astype(np.int32), w5.astype(np.int32),
                                              b.astype(np.int32), num_hidden=3),
                 "FullyConnected", "expected dtype float32 or float64, found int32")
