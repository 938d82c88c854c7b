"""The imperative fast path (_core.imperative_call): an nd call autograd does not record runs
in one C++ entry. It must behave exactly as the general path (the one recording takes):
same results, dtypes, broadcasting, out=, and the same errors word for word."""
import numpy as np
import pytest

import coarsenet as cn
from coarsenet import _core, autograd


def both_paths(fn):
    """fn() on the fast path and on the general path (recording), as (result, error text)."""
    def run():
        try:
            r = fn()
        except cn.CoarsenetError as e:
            return None, str(e)
        return r, None
    fast = run()
    with autograd.record(train_mode=False):  # the same is_train as the unrecorded call
        general = run()
    return fast, general


def assert_same(fn):
    (r1, e1), (r2, e2) = both_paths(fn)
    assert e1 == e2
    if e1 is None:
        rs1 = r1 if isinstance(r1, list) else [r1]
        rs2 = r2 if isinstance(r2, list) else [r2]
        assert len(rs1) == len(rs2)
        for a, b in zip(rs1, rs2):
            assert type(a) is cn.nd.NDArray and type(b) is cn.nd.NDArray
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_array_equal(a.asnumpy(), b.asnumpy())
    return e1


def nd(shape, dtype=np.float32, seed=0):
    return cn.nd.array(np.random.default_rng(seed).normal(size=shape), dtype=dtype)


def test_the_fast_entry_is_what_an_unrecorded_call_takes(monkeypatch):
    calls = []
    real = _core.imperative_call

    def spy(*args):
        calls.append(args[0].name)
        return real(*args)
    monkeypatch.setattr(_core, "imperative_call", spy)
    x = nd((2, 3))
    x + x
    cn.nd.FullyConnected(nd((1, 1)), nd((1, 1)), nd((1,)), num_hidden=1)
    with autograd.record():
        x * x  # recorded: the general path
    x.sum()
    cn.nd.relu(x, out=cn.nd.zeros((2, 3)))  # out=: the general path
    assert calls == ["elemwise_add", "FullyConnected", "sum"]


def test_results_match_the_general_path():
    x, y, b = nd((2, 3)), nd((2, 3), seed=1), nd((1, 3), seed=2)
    assert_same(lambda: x + y)
    assert_same(lambda: x + b)  # broadcast
    assert_same(lambda: x * 2.5)
    assert_same(lambda: cn.nd.FullyConnected(x, nd((4, 3)), nd((4,)), num_hidden=4))
    assert_same(lambda: cn.nd.split(nd((4, 6)), num_outputs=3, axis=1))  # several outputs
    assert_same(lambda: cn.nd.Cast(x, dtype="float64"))
    assert_same(lambda: nd((2, 3), np.float64) + nd((2, 3), np.float64, seed=3))
    assert_same(lambda: cn.nd.BatchNorm(nd((2, 3, 4, 4)), nd((3,)), nd((3,)), nd((3,), seed=4),
                                        cn.nd.ones((3,))))  # aux states


def test_errors_match_the_general_path_word_for_word():
    x = nd((2, 3))
    errors = [
        assert_same(lambda: cn.ndarray.invoke("elemwise_add", [x], {})),  # too few inputs
        assert_same(lambda: cn.ndarray.invoke("elemwise_add", [x, np.ones((2, 3))], {})),
        assert_same(lambda: cn.nd.FullyConnected(x, nd((4, 2)), nd((4,)), num_hidden=4)),
        assert_same(lambda: x + nd((2, 3), np.float64)),                # dtype mismatch
        assert_same(lambda: cn.nd.elemwise_add(x, nd((3, 2)))),         # shapes differ
    ]
    assert all(errors), errors
    assert "expected 2 inputs (lhs, rhs), found 1" in errors[0]
    assert "input 'rhs' must be an NDArray, found ndarray" in errors[1]


def test_unusual_arrays_take_the_general_checks():
    strided = cn.nd.NDArray(np.ones((4, 6), np.float32)[:, ::2])  # not C-contiguous
    err = assert_same(lambda: strided + strided)
    assert "must be C-contiguous" in err
    ints = cn.nd.NDArray(np.arange(6, dtype=np.int16).reshape(2, 3))  # no op dtype
    err = assert_same(lambda: ints + ints)
    assert "unsupported dtype int16" in err


def test_out_argument_writes_and_returns_the_target():
    x = nd((2, 3))
    target = cn.nd.zeros((2, 3))
    assert cn.nd.relu(x, out=target) is target
    np.testing.assert_array_equal(target.asnumpy(), np.maximum(x.asnumpy(), 0))


def test_remembered_plans_follow_shapes_dtypes_and_threads():
    before = cn.get_num_threads()
    try:
        for shape, dtype in [((2, 3), np.float32), ((5,), np.float32), ((2, 3), np.float64),
                             ((2, 3), np.float32)]:
            a, b = nd(shape, dtype), nd(shape, dtype, seed=1)
            r = cn.nd.elemwise_add(a, b)
            assert r.shape == shape and r.dtype == dtype
            np.testing.assert_array_equal(r.asnumpy(), a.asnumpy() + b.asnumpy())
        x, w = nd((4, 16, 12, 12)), nd((16, 16, 3, 3), seed=1)
        results = []
        for threads in (1, 3, 1):  # a new count: a new plan (and workspace) for Winograd
            cn.set_num_threads(threads)
            results.append(cn.nd.Convolution(x, w, num_filter=16, kernel=(3, 3), pad=(1, 1),
                                             no_bias=True).asnumpy())
        for r in results[1:]:
            np.testing.assert_array_equal(r, results[0])
    finally:
        cn.set_num_threads(before)


def test_results_are_plain_ndarrays_ready_for_autograd():
    r = nd((2, 2)) + nd((2, 2), seed=1)
    assert r.grad is None and r._grad_req == "null" and r._tape is None
    r.attach_grad()
    with autograd.record():
        loss = (r * r).sum()
    loss.backward()
    np.testing.assert_allclose(r.grad.asnumpy(), 2 * r.asnumpy(), rtol=1e-6)
