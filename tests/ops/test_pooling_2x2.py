"""2x2 stride-2 unpadded max pooling takes its own kernels (pooling.cc, Max2x2*): checked against
NumPy with numeric gradients, and bit for bit against the general kernel, which the same windows
take under pooling_convention="full" on odd sizes (the extra edge windows make it ineligible)."""
import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import check_op

from test_pooling import pool_ref

MAX2 = dict(kernel=(2, 2), stride=(2, 2), pool_type="max")


# Odd sizes (the last row / column belongs to no window), rows of 1, 7 and 17 outputs (a
# partial vector block, a full one and a remainder), a batch of planes.
@pytest.mark.parametrize("shape", [(1, 2, 7, 9), (2, 3, 4, 14), (1, 1, 3, 34), (2, 1, 2, 2)])
def test_matches_numpy(shape):
    check_op("Pooling", [shape], MAX2, pool_ref)


def _special(shape, dtype, seed):
    """Values with ties, signed zeros, NaN, +-inf and lowest() in the windows."""
    rng = np.random.default_rng(seed)
    pool = np.array([0.0, -0.0, 1.0, 1.0, -1.0, np.nan, np.inf, -np.inf,
                     np.finfo(dtype).min, 2.5, -2.5], dtype)
    return rng.choice(pool, size=shape).astype(dtype)


def _run(params, x, dy_fn, req_fwd=1, req_bwd=1, seed=1):
    """Forward (y, argmax) and backward dx of op `params` on x; req 2 adds onto random data."""
    op = cn.ops.make("Pooling", params)
    outs = op.invoke([x], [], True, 0)
    rng = np.random.default_rng(seed)
    y0 = rng.normal(size=outs[0].shape).astype(x.dtype)
    y, arg = y0.copy(), np.empty_like(outs[1])
    op.forward([x], [y, arg], [req_fwd, 1], [])
    dx0 = rng.normal(size=x.shape).astype(x.dtype)
    dx = dx0.copy()
    op.backward([dy_fn(y.shape), None], [None], [None, arg], [dx], [req_bwd], [])
    return y, arg, dx


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("req", [1, 2])
@pytest.mark.parametrize("shape", [(2, 3, 7, 9), (1, 2, 5, 37), (3, 1, 3, 3)])
def test_bits_match_general_kernel(dtype, req, shape):
    n, c, h, w = shape
    oh, ow = (h - 2) // 2 + 1, (w - 2) // 2 + 1
    x = _special(shape, dtype, seed=h * w)
    dy = np.random.default_rng(3).normal(size=(n, c, oh, ow)).astype(dtype)
    dy[..., 0, 0] = -0.0  # a signed zero gradient: 0 + dy gives +0 on both paths

    def full_dy(s):  # the general kernel's extra edge windows get no gradient
        g = np.zeros(s, dtype)
        g[..., :oh, :ow] = dy
        return g

    y, arg, dx = _run(MAX2, x, lambda s: dy, req, req)
    yf, argf, dxf = _run(dict(MAX2, pooling_convention="full"), x, full_dy, req, req)
    assert argf.shape[2:] == (oh + 1, ow + 1)  # the "full" op really is the general one
    bits = np.uint32 if dtype == np.float32 else np.uint64
    np.testing.assert_array_equal(y.view(bits), yf[..., :oh, :ow].view(bits))
    np.testing.assert_array_equal(arg.view(bits), argf[..., :oh, :ow].view(bits))
    np.testing.assert_array_equal(dx.view(bits), dxf.view(bits))


def test_ties_nan_and_lowest():
    low = np.finfo(np.float32).min
    x = np.array([[[[1, 1, np.nan, 2, -np.inf, -np.inf],
                    [1, 0, 2, np.nan, -np.inf, np.nan]]]], np.float32)
    y, arg, dx = _run(MAX2, x, lambda s: np.full(s, 5, np.float32))
    assert y.ravel().tolist() == [1, 2, low]
    assert arg.ravel().tolist() == [0, 1, -1]  # first maximum in row-major order; none at all
    assert dx.ravel().tolist() == [5, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0]


def test_same_bits_for_any_thread_count():
    x = np.random.default_rng(0).normal(size=(4, 5, 14, 14)).astype(np.float32)
    dy = np.random.default_rng(1).normal(size=(4, 5, 7, 7)).astype(np.float32)
    before = cn.get_num_threads()
    results = []
    try:
        for threads in (1, 2, 3):
            cn.set_num_threads(threads)
            results.append(_run(MAX2, x, lambda s: dy))
    finally:
        cn.set_num_threads(before)
    for r in results[1:]:
        for a, b in zip(results[0], r):
            np.testing.assert_array_equal(a, b)
