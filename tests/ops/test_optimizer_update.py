"""The fused optimizer updates: new weight against NumPy, states updated in place, nd and sym
forms. (Exact agreement with MXNet 1.9.1, two in-place steps each, is in test_mxnet_semantics.)"""
import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import check_op


def grad_of(g, rescale_grad=1.0, clip_gradient=-1.0, **_):
    g = rescale_grad * g
    return np.clip(g, -clip_gradient, clip_gradient) if clip_gradient >= 0 else g


def sgd(w, g, lr, wd=0.0, **kw):
    return w - lr * (grad_of(g, **kw) + wd * w)


def sgd_mom(w, g, mom, lr, momentum=0.0, wd=0.0, **kw):
    return w + momentum * mom - lr * (grad_of(g, **kw) + wd * w)


def nag_mom(w, g, mom, lr, momentum=0.0, wd=0.0, **kw):
    return w + momentum ** 2 * mom - (1 + momentum) * lr * (grad_of(g, **kw) + wd * w)


def adam(w, g, mean, var, lr, beta1=0.9, beta2=0.999, epsilon=1e-8, wd=0.0, **kw):
    G = grad_of(g, **kw) + wd * w
    m = beta1 * mean + (1 - beta1) * G
    v = beta2 * var + (1 - beta2) * G * G
    return w - lr * m / (np.sqrt(v) + epsilon)


def rmsprop(w, g, n, lr, gamma1=0.95, epsilon=1e-8, wd=0.0, clip_weights=-1.0, **kw):
    G = grad_of(g, **kw) + wd * w
    n = (1 - gamma1) * G * G + gamma1 * n
    out = w - lr * G / np.sqrt(n + epsilon)
    return np.clip(out, -clip_weights, clip_weights) if clip_weights >= 0 else out


def signsgd(w, g, lr, wd=0.0, **kw):
    return (1 - lr * wd) * w - lr * np.sign(grad_of(g, **kw))


def signum(w, g, mom, lr, momentum=0.0, wd=0.0, wd_lh=0.0, **kw):
    m = momentum * mom - (1 - momentum) * (grad_of(g, **kw) + wd * w)
    return (1 - lr * wd_lh) * w + lr * np.sign(m)


def ftrl(w, g, z, n, lr, lamda1=0.01, beta=1.0, wd=0.0, **kw):
    g = grad_of(g, **kw)
    z = z + g - (np.sqrt(n + g * g) - np.sqrt(n)) * w / lr
    n = n + g * g
    return np.where(np.abs(z) > lamda1,
                    -(z - np.sign(z) * lamda1) / ((beta + np.sqrt(n)) / lr + wd), 0)




CASES = [
    ("sgd_update", sgd, dict(lr=0.1, wd=0.01, rescale_grad=0.5, clip_gradient=0.3)),
    ("sgd_mom_update", sgd_mom, dict(lr=0.1, momentum=0.9, wd=0.01)),
    ("nag_mom_update", nag_mom, dict(lr=0.1, momentum=0.9, wd=0.0)),
    ("adam_update", adam, dict(lr=0.01, wd=0.001, clip_gradient=0.5)),
    ("rmsprop_update", rmsprop, dict(lr=0.01, gamma1=0.9, clip_weights=0.8)),
    ("signsgd_update", signsgd, dict(lr=0.1, wd=0.05)),
    ("signum_update", signum, dict(lr=0.1, momentum=0.9, wd=0.01, wd_lh=0.02)),
    ("ftrl_update", ftrl, dict(lr=0.1, lamda1=0.05, beta=1.5, wd=0.01)),
]


@pytest.mark.parametrize("name,ref,params", CASES, ids=[c[0] for c in CASES])
def test_update_output(name, ref, params):
    op = cn.ops.make(name, params)
    rng = np.random.default_rng(3)
    aux = [rng.uniform(0.1, 1.0, size=(3, 4)) for _ in op.aux_names]
    check_op(name, [(3, 4), (3, 4)], params, lambda w, g, **p: ref(w, g, *aux, **p), aux=aux)


def test_states_update_in_place_like_mxnet_scripts():
    rng = np.random.default_rng(0)
    w0, g0 = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    w, g = cn.nd.array(w0), cn.nd.array(g0)
    mean, var = cn.nd.zeros((2, 3)), cn.nd.zeros((2, 3))
    cn.nd.adam_update(w, g, mean, var, lr=0.01, out=w)
    np.testing.assert_allclose(mean.asnumpy(), 0.1 * g0, rtol=1e-6)
    np.testing.assert_allclose(var.asnumpy(), 0.001 * g0 ** 2, rtol=1e-4)  # 1 - beta2 in float32
    np.testing.assert_allclose(w.asnumpy(), adam(w0, g0, 0, 0, 0.01), rtol=1e-5)
    n, gs, delta = cn.nd.ones((2, 3)), cn.nd.zeros((2, 3)), cn.nd.zeros((2, 3))
    cn.nd.rmspropalex_update(w, g, n, gs, delta, lr=0.01, out=w)
    assert np.abs(delta.asnumpy()).max() > 0 and np.abs(gs.asnumpy()).max() > 0


def test_multi_sgd_mom_update():
    rng = np.random.default_rng(1)
    ws = [rng.normal(size=s) for s in [(3,), (2, 2)]]
    gs = [rng.normal(size=w.shape) for w in ws]
    ms = [rng.normal(size=w.shape) * 0.1 for w in ws]
    arrays = []
    for w, g, m in zip(ws, gs, ms):
        arrays += [cn.nd.array(w), cn.nd.array(g), cn.nd.array(m)]
    cn.nd.multi_sgd_mom_update(*arrays, lrs=(0.1, 0.2), wds=(0.0, 0.01), momentum=0.9,
                               num_weights=2, out=[arrays[0], arrays[3]])
    for j, (lr, wd) in enumerate([(0.1, 0.0), (0.2, 0.01)]):
        mom = 0.9 * ms[j] - lr * (gs[j] + wd * ws[j])
        np.testing.assert_allclose(arrays[3 * j + 2].asnumpy(), mom, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(arrays[3 * j].asnumpy(), ws[j] + mom, rtol=1e-5, atol=1e-7)
    out = cn.nd.multi_sgd_update(cn.nd.array(ws[0]), cn.nd.array(gs[0]), lrs=(0.5,), wds=(0.0,))
    np.testing.assert_allclose(out.asnumpy(), ws[0] - 0.5 * gs[0], rtol=1e-5)


def test_errors_name_the_op():
    w = cn.nd.ones((2,))
    with pytest.raises(cn.CoarsenetError, match="sgd_update"):
        cn.nd.sgd_update(w, cn.nd.ones((3,)), lr=0.1)
    with pytest.raises(cn.CoarsenetError, match="lrs"):
        cn.nd.multi_sgd_update(w, w, w, w, lrs=(0.1,), wds=(0.0, 0.0), num_weights=2)


def test_symbolic_update():
    w, g, mom = cn.sym.var("w"), cn.sym.var("g"), cn.sym.var("mom")
    out = cn.sym.sgd_mom_update(w, g, mom, lr=0.5, momentum=0.5)
    ex = out.simple_bind(w=(2,), g=(2,))
    res = ex.forward(w=np.array([1, 2], np.float32), g=np.array([1, 1], np.float32))[0]
    assert res.shape == (2,)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_same_bits_for_1_2_3_threads_in_place(dtype):
    # The update loop is vectorised with a scalar tail; chunks across threads start anywhere,
    # so every element must get the same arithmetic wherever it falls (out=weight included).
    from coarsenet import ops
    cases = [("sgd_update", {}, 0), ("sgd_mom_update", {"momentum": 0.9}, 1),
             ("adam_update", {}, 2), ("rmspropalex_update", {}, 3), ("ftrl_update", {}, 2)]
    results, before = [], cn.get_num_threads()
    for threads in (1, 2, 3):
        cn.set_num_threads(threads)
        rng = np.random.default_rng(9)
        res = []
        for name, extra, naux in cases:
            w, g = (rng.standard_normal(100_003).astype(dtype) for _ in range(2))
            aux = [rng.uniform(0.5, 1.5, 100_003).astype(dtype) for _ in range(naux)]
            params = dict(lr=0.01, wd=0.001, rescale_grad=0.7, clip_gradient=0.3, **extra)
            (new,) = ops.make(name, params).invoke([w, g], aux, False, 0, [w])
            assert new is w
            res += [w] + aux
        results.append(res)
    cn.set_num_threads(before)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert np.array_equal(a, b, equal_nan=True)
