"""The host GEMM split over threads (issue 20): each thread runs a single-threaded BLAS call on
its block of C's columns (or rows, for a tall C). The blocks must cover C exactly for every
transpose case and odd size, and the bits must not depend on the thread count (FullyConnected
forward and backward, dot), nor on it for the optimizer updates that now run in parallel."""
import numpy as np
import pytest

import coarsenet as cn


@pytest.fixture
def restore_threads():
    before = cn.get_num_threads()
    yield
    cn.set_num_threads(before)


# (m, n, k): all above the single-thread threshold (4M multiply-adds); wide, tall, odd sizes.
SHAPES = [(32, 2048, 512), (1000, 40, 203), (67, 999, 129), (17, 4100, 61)]


@pytest.mark.parametrize("m,n,k", SHAPES)
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dot_is_right_and_same_bits_for_1_2_3_threads(m, n, k, ta, tb, dtype, restore_threads):
    rng = np.random.default_rng(m + n + k)
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    want = (a.T if ta else a).astype(np.float64) @ (b.T if tb else b).astype(np.float64)
    results = []
    for threads in (1, 2, 3):
        cn.set_num_threads(threads)
        out = cn.nd.dot(cn.nd.array(a, dtype=dtype), cn.nd.array(b, dtype=dtype),
                        transpose_a=ta, transpose_b=tb).asnumpy()
        results.append(out)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(results[0], want, rtol=tol, atol=tol * np.sqrt(k))
    for out in results[1:]:
        assert np.array_equal(out, results[0])


@pytest.mark.parametrize("batch,inputs,hidden", [(32, 512, 2048), (64, 2450, 500),
                                                 (300, 100, 257)])
def test_fully_connected_step_same_bits_for_1_2_3_threads(batch, inputs, hidden,
                                                           restore_threads):
    rng = np.random.default_rng(batch)
    x = rng.standard_normal((batch, inputs)).astype(np.float32)
    w = (rng.standard_normal((hidden, inputs)) * 0.05).astype(np.float32)
    bias = rng.standard_normal(hidden).astype(np.float32)
    head = rng.standard_normal((batch, hidden)).astype(np.float32)
    net = cn.sym.FullyConnected(cn.sym.Variable("data"), num_hidden=hidden, name="fc")
    results = []
    for threads in (1, 2, 3):
        cn.set_num_threads(threads)
        exe = net.simple_bind(data=x.shape)
        exe.arg_dict["data"][:] = x
        exe.arg_dict["fc_weight"][:] = w
        exe.arg_dict["fc_bias"][:] = bias
        out = exe.forward(is_train=True)[0].asnumpy()
        exe.backward(cn.nd.array(head))
        results.append([out] + [exe.grad_dict[n].asnumpy() for n in ("data", "fc_weight",
                                                                      "fc_bias")])
    np.testing.assert_allclose(results[0][0], x @ w.T + bias, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(results[0][2], head.T @ x, rtol=1e-4, atol=1e-3)
    for other in results[1:]:
        for got, first in zip(other, results[0]):
            assert np.array_equal(got, first)


@pytest.mark.parametrize("op,aux", [("sgd_mom_update", 1), ("adam_update", 2),
                                    ("sgd_update", 0)])
def test_parallel_updates_match_one_thread(op, aux, restore_threads):
    rng = np.random.default_rng(1)
    size = 300_001  # several parallel chunks with a ragged end
    w0, g = (rng.standard_normal(size).astype(np.float32) for _ in range(2))
    states0 = [np.abs(rng.standard_normal(size)).astype(np.float32) for _ in range(aux)]
    params = {"lr": 0.1, "wd": 0.01, "rescale_grad": 0.5, "clip_gradient": 0.8}
    if op == "sgd_mom_update":
        params["momentum"] = 0.9
    results = []
    for threads in (1, 2, 3):
        cn.set_num_threads(threads)
        # copies: cn.nd.array may share a float32 array's memory, and the update is in place
        w = cn.nd.array(w0.copy())
        states = [cn.nd.array(s.copy()) for s in states0]
        getattr(cn.nd, op)(w, cn.nd.array(g), *states, out=w, **params)
        results.append([w.asnumpy()] + [s.asnumpy() for s in states])
    if op == "sgd_mom_update":
        step = np.clip(0.5 * g, -0.8, 0.8) + np.float32(0.01) * w0
        mom = np.float32(0.9) * states0[0] - np.float32(0.1) * step
        np.testing.assert_allclose(results[0][1], mom, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(results[0][0], w0 + mom, rtol=1e-5, atol=1e-6)
    for other in results[1:]:
        for got, first in zip(other, results[0]):
            assert np.array_equal(got, first)
