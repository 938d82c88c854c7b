import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import check_op, expect_error


def pool_ref(x, kernel=(), pool_type="max", stride=(1, 1), pad=(0, 0), global_pool=False,
             pooling_convention="valid", count_include_pad=True, **_):
    """MXNet 1.x 2-D pooling, one window at a time."""
    n, c, h, w = x.shape
    if global_pool:
        kernel, stride, pad = (h, w), (1, 1), (0, 0)
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, pad
    rnd = np.ceil if pooling_convention == "full" else np.floor
    oh = int(rnd((h + 2 * ph - kh) / sh)) + 1
    ow = int(rnd((w + 2 * pw - kw) / sw)) + 1
    y = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            h0, w0 = i * sh - ph, j * sw - pw
            h1, w1 = min(h0 + kh, h + ph), min(w0 + kw, w + pw)
            size = (h1 - h0) * (w1 - w0)
            h0, w0, h1, w1 = max(h0, 0), max(w0, 0), min(h1, h), min(w1, w)
            win = x[:, :, h0:h1, w0:w1]
            if pool_type == "max":
                y[:, :, i, j] = win.max(axis=(2, 3))
            else:
                y[:, :, i, j] = win.sum(axis=(2, 3))
                if pool_type == "avg":
                    y[:, :, i, j] /= size if count_include_pad else (h1 - h0) * (w1 - w0)
    return y


CASES = [
    ((2, 3, 6, 6), dict(kernel=(2, 2), stride=(2, 2))),
    ((1, 2, 7, 7), dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1))),
    ((2, 2, 7, 6), dict(kernel=(3, 3), stride=(2, 2), pooling_convention="full")),
    ((1, 2, 8, 7), dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1), pooling_convention="full")),
    ((2, 1, 5, 9), dict(kernel=(2, 4), stride=(1, 3), pad=(1, 2))),
    ((1, 3, 5, 5), dict(kernel=(3, 3))),
    ((2, 3, 4, 5), dict(global_pool=True)),
    ((2, 3, 4, 5), dict(kernel=(9, 9), global_pool=True)),
    # One window over the whole plane (kernels/pooling_global.h): vector blocks and a tail.
    ((2, 2, 11, 13), dict(global_pool=True)),
    ((1, 3, 9, 8), dict(kernel=(9, 8))),
]


@pytest.mark.parametrize("pool_type", ["max", "avg", "sum"])
@pytest.mark.parametrize("shape,params", CASES)
def test_pooling(pool_type, shape, params):
    check_op("Pooling", [shape], dict(params, pool_type=pool_type), pool_ref)


@pytest.mark.parametrize("convention", ["valid", "full"])
def test_avg_count_include_pad_false(convention):
    params = dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1), pool_type="avg",
                  count_include_pad=False, pooling_convention=convention)
    check_op("Pooling", [(2, 2, 6, 7)], params, pool_ref)


def test_max_gradient_goes_to_first_maximum_of_ties():
    x = np.ones((1, 1, 2, 2), np.float32)
    op = cn.ops.make("Pooling", dict(kernel=(2, 2), pool_type="max"))
    y, argmax = op.invoke([x], [], False, 0)
    assert argmax.ravel().tolist() == [0]
    dx = np.full(x.shape, 5.0, np.float32)
    op.backward([np.ones((1, 1, 1, 1), np.float32), None], [None], [None, argmax], [dx], [1], [])
    assert dx.ravel().tolist() == [1, 0, 0, 0]


@pytest.mark.parametrize("params", [dict(global_pool=True), dict(kernel=(7, 9))])
def test_whole_plane_max_first_maximum_and_accumulate(params):
    x = np.zeros((1, 2, 7, 9), np.float32)
    x[0, 0, 3, 4] = x[0, 0, 5, 1] = 2.0  # ties: the first in row-major order wins
    x[0, 1] = np.nan  # NaN never wins: no position gets the gradient
    op = cn.ops.make("Pooling", dict(params, pool_type="max"))
    y, argmax = op.invoke([x], [], False, 0)
    assert y[0, 0, 0, 0] == 2.0 and argmax.ravel().tolist() == [3 * 9 + 4, -1]
    dx = np.full(x.shape, 5.0, np.float32)
    op.backward([np.full((1, 2, 1, 1), 3.0, np.float32), None], [None], [None, argmax], [dx],
                [3], [])  # req add
    expect = np.full(x.shape, 5.0, np.float32)
    expect[0, 0, 3, 4] = 8.0
    np.testing.assert_array_equal(dx, expect)


def test_argmax_output_is_skipped_when_not_requested():
    x = np.random.default_rng(0).normal(size=(1, 2, 4, 4))
    op = cn.ops.make("Pooling", dict(kernel=(2, 2), stride=(2, 2)))
    y, argmax = np.empty((1, 2, 2, 2)), np.full((1, 2, 2, 2), 7.0)
    op.forward([x], [y, argmax], [1, 0], [])
    assert np.all(argmax == 7.0)
    np.testing.assert_allclose(y, pool_ref(x, kernel=(2, 2), stride=(2, 2)))


def test_needs_and_hidden_argmax():
    max_pool = cn.ops.make("Pooling", dict(kernel=(2, 2)))
    assert max_pool.num_visible_outputs == 1
    assert list(max_pool.needs_inputs) == [False] and list(max_pool.needs_outputs) == [False, True]
    avg_pool = cn.ops.make("Pooling", dict(kernel=(2, 2), pool_type="avg"))
    assert list(avg_pool.needs_inputs) == [False] and list(avg_pool.needs_outputs) == [False]


def test_bad_input():
    x = cn.nd.ones((1, 2, 4, 4))
    expect_error(lambda: cn.nd.Pooling(x, kernel=(7, 7), pad=(1, 1)), "Pooling", "larger",
                 "(7, 7)", "(6, 6)")
    expect_error(lambda: cn.nd.Pooling(x, kernel=(2, 2), pool_type="lp"), "Pooling", "lp")
    expect_error(lambda: cn.nd.Pooling(x, kernel=(2, 2), pool_type="min"), "Pooling", "'min'")
    expect_error(lambda: cn.nd.Pooling(x, kernel=(2,)), "Pooling", "kernel", "(2,)")
    expect_error(lambda: cn.nd.Pooling(x), "Pooling", "kernel")
    expect_error(lambda: cn.nd.Pooling(x, kernel=(2, 2), stride=(0, 1)), "Pooling", "stride")
    expect_error(lambda: cn.nd.Pooling(x, kernel=(2, 2), layout="NHWC"), "Pooling", "NCHW")
    expect_error(lambda: cn.nd.Pooling(cn.nd.ones((2, 4, 4)), kernel=(2, 2)), "Pooling", "4-D",
                 "(2, 4, 4)")


@pytest.mark.parametrize("pool_type", ["max", "avg"])
def test_matches_torch(pool_type):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 4, 12, 12)).astype(np.float32)
    dy = rng.normal(size=(2, 4, 6, 6)).astype(np.float32)
    op = cn.ops.make("Pooling", dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1), pool_type=pool_type))
    outs = op.invoke([x], [], False, 0)
    dx = np.zeros_like(x)
    op.backward([dy] + [None] * (len(outs) - 1), [x], outs, [dx], [1], [])
    y = outs[0]
    tx = torch.tensor(x, requires_grad=True)
    pool = F.max_pool2d if pool_type == "max" else F.avg_pool2d
    ty = pool(tx, 3, 2, 1)
    ty.backward(torch.tensor(dy))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-5, atol=1e-6)
