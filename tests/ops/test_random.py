"""Random samplers (src/ops/random.cc) and MXNet's random API (coarsenet/random_functions.py).

Moments are checked on 200k draws at a fixed seed (tolerances are > 6 standard errors, and the
seed makes the draws deterministic, so these tests cannot flake)."""
import numpy as np
import pytest

import coarsenet as cn

N = 200_000


def draws(fn, **kw):
    cn.random.seed(7)
    return fn(shape=(N,), dtype="float64", **kw).asnumpy()


@pytest.mark.parametrize("fn, kw, mean, var", [
    (cn.nd.random.uniform, {"low": -2, "high": 4}, 1.0, 3.0),
    (cn.nd.random.normal, {"loc": 1, "scale": 2}, 1.0, 4.0),
    (cn.nd.random.exponential, {"scale": 0.5}, 0.5, 0.25),  # MXNet's scale = 1 / rate
    (cn.nd.random.gamma, {"alpha": 0.5, "beta": 2}, 1.0, 2.0),
    (cn.nd.random.gamma, {"alpha": 4, "beta": 1}, 4.0, 4.0),
    (cn.nd.random.poisson, {"lam": 3}, 3.0, 3.0),
    (cn.nd.random.poisson, {"lam": 60}, 60.0, 60.0),
])
def test_moments(fn, kw, mean, var):
    x = draws(fn, **kw)
    assert abs(x.mean() - mean) < 6 * np.sqrt(var / N)
    assert abs(x.var() / var - 1) < 0.03


def test_ranges_and_dtypes():
    u = cn.nd.random.uniform(2, 3, shape=(1000,))
    assert u.dtype == np.float32 and 2 <= u.asnumpy().min() and u.asnumpy().max() < 3
    r = cn.nd.random.randint(-3, 5, shape=(5000,)).asnumpy()
    assert r.dtype == np.int32 and set(np.unique(r)) == set(range(-3, 5))  # high is exclusive
    assert cn.nd.random.randint(0, 2, shape=(3,), dtype="int64").dtype == np.int64
    p = cn.nd.random.poisson(2.0, shape=(100,)).asnumpy()
    assert p.dtype == np.float32 and np.all(p == np.round(p))
    assert cn.nd.random.uniform().shape == (1,)  # MXNet: no shape gives one value
    assert cn.nd.random.randn(2, 3).shape == (2, 3)


def test_seed_repeats_runs_and_forms_agree():
    cn.random.seed(11)
    a = cn.random.uniform(0, 1, (5,), cn.cpu()).asnumpy()
    b = cn.nd.random.normal(shape=(5,)).asnumpy()
    cn.random.seed(11)
    np.testing.assert_array_equal(a, cn.nd.random_uniform(low=0, high=1, shape=(5,)).asnumpy())
    np.testing.assert_array_equal(b, cn.nd.normal(shape=(5,)).asnumpy())
    assert not np.array_equal(a, cn.nd.uniform(shape=(5,)).asnumpy())


def test_symbolic_node_redraws_each_forward_and_repeats_after_seed():
    exe = cn.sym.random.uniform(shape=(4,), name="u").simple_bind()
    cn.random.seed(5)
    first = exe.forward()[0].asnumpy().copy()
    second = exe.forward()[0].asnumpy().copy()
    assert not np.array_equal(first, second)
    cn.random.seed(5)
    np.testing.assert_array_equal(exe.forward()[0].asnumpy(), first)


def test_ndarray_params_draw_one_block_per_element():
    cn.random.seed(1)
    x = cn.nd.random.uniform(cn.nd.array([0, 10]), cn.nd.array([1, 11]), shape=500).asnumpy()
    assert x.shape == (2, 500)
    assert 0 <= x[0].min() and x[0].max() < 1 and 10 <= x[1].min() and x[1].max() < 11


def test_multinomial_and_shuffle():
    cn.random.seed(2)
    idx = cn.nd.random.multinomial(cn.nd.array([[0, 1, 0], [0.25, 0, 0.75]]), shape=4000)
    got = idx.asnumpy()
    assert got.shape == (2, 4000) and np.all(got[0] == 1) and not np.any(got[1] == 1)
    assert abs((got[1] == 2).mean() - 0.75) < 0.04
    x = cn.nd.arange(12).reshape((6, 2))
    s = cn.nd.random.shuffle(x).asnumpy()
    assert sorted(map(tuple, s)) == sorted(map(tuple, x.asnumpy())) and s.shape == (6, 2)


@pytest.mark.parametrize("call, match", [
    (lambda: cn.nd.random.uniform(2, 1, shape=(2,)), "low <= high"),
    (lambda: cn.nd.random.exponential(scale=0, shape=(2,)), "scale must be > 0"),
    (lambda: cn.nd.random.randint(3, 3, shape=(2,)), "low < high"),
    (lambda: cn.nd.random.gamma(alpha=-1, shape=(2,)), "alpha and beta > 0"),
])
def test_bad_params_raise(call, match):
    with pytest.raises(cn.CoarsenetError, match=match):
        call()
