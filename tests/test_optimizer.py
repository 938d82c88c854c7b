"""Optimizers and LR schedules against updates computed by hand."""
import math

import numpy as np
import pytest

import coarsenet as cn
from coarsenet import lr_scheduler, optimizer
from coarsenet.testing import expect_error


def run(opt, w0, grads, index=0):
    w = np.array(w0, dtype=np.float64)
    state = opt.create_state(index, w)
    for g in grads:
        opt.update(index, w, np.array(g, dtype=np.float64), state)
    return w


def test_sgd_plain_with_wd_rescale_and_clip():
    opt = optimizer.create("sgd", learning_rate=0.1, wd=0.01, rescale_grad=0.5, clip_gradient=0.2,
                           param_idx2name={0: "fc_weight"})
    w = run(opt, [1.0, -2.0], [[1.0, 0.2]])
    g = np.clip(np.array([1.0, 0.2]) * 0.5, -0.2, 0.2) + 0.01 * np.array([1.0, -2.0])
    np.testing.assert_allclose(w, np.array([1.0, -2.0]) - 0.1 * g)


def test_sgd_momentum_two_steps():
    opt = optimizer.SGD(learning_rate=0.1, momentum=0.9)
    w = run(opt, [1.0], [[1.0], [2.0]])
    mom1 = -0.1 * 1.0
    mom2 = 0.9 * mom1 - 0.1 * 2.0
    np.testing.assert_allclose(w, [1.0 + mom1 + mom2])


def test_nag():
    opt = optimizer.NAG(learning_rate=0.1, momentum=0.9)
    w = run(opt, [1.0], [[1.0], [1.0]])
    m1 = 1.0
    w1 = 1.0 - 0.1 * (1.0 + 0.9 * m1)
    m2 = 0.9 * m1 + 1.0
    np.testing.assert_allclose(w, [w1 - 0.1 * (1.0 + 0.9 * m2)])


def test_adam_and_adamw():
    g = [0.5, -1.0]
    for cls, decoupled in [(optimizer.Adam, False), (optimizer.AdamW, True)]:
        opt = cls(learning_rate=0.01, wd=0.1, param_idx2name={0: "w_weight"})
        w = run(opt, [1.0, 2.0], [g])
        w0 = np.array([1.0, 2.0])
        gg = np.array(g) if decoupled else np.array(g) + 0.1 * w0
        m, v = 0.1 * gg, 0.001 * gg**2
        step = m / (np.sqrt(v) + 1e-8) * math.sqrt(1 - 0.999) / (1 - 0.9)
        expected = w0 - 0.01 * (step + (0.1 * w0 if decoupled else 0))
        np.testing.assert_allclose(w, expected, rtol=1e-12)


def test_rmsprop_plain_and_centered():
    opt = optimizer.RMSProp(learning_rate=0.01)
    w = run(opt, [1.0], [[2.0]])
    n = 0.1 * 4.0
    np.testing.assert_allclose(w, [1.0 - 0.01 * 2.0 / (math.sqrt(n) + 1e-8)])
    opt = optimizer.RMSProp(learning_rate=0.01, centered=True)
    w = run(opt, [1.0], [[2.0]])
    mean = 0.1 * 2.0
    np.testing.assert_allclose(w, [1.0 - 0.01 * 2.0 / math.sqrt(n - mean**2 + 1e-8)])


def test_wd_mult_defaults_and_lr_mult():
    opt = optimizer.SGD(learning_rate=1.0, wd=1.0, param_idx2name={0: "fc_weight", 1: "fc_bias"})
    opt.set_lr_mult({"fc_weight": 0.5})
    assert opt._get_wd(1) == 0.0 and opt._get_wd(0) == 1.0
    assert opt._get_lr(0) == 0.5 and opt._get_lr(1) == 1.0


def test_updater_keeps_state_and_works_on_ndarrays():
    up = optimizer.get_updater(optimizer.SGD(learning_rate=0.1, momentum=0.5))
    w = cn.nd.array(np.ones(3))
    for _ in range(2):
        up(7, cn.nd.array(np.ones(3)), w)
    np.testing.assert_allclose(w.asnumpy(), 1 - 0.1 - (0.5 * 0.1 + 0.1), rtol=1e-6)


def test_schedulers():
    f = lr_scheduler.FactorScheduler(step=10, factor=0.5, base_lr=1.0)
    assert [f(0), f(10), f(11), f(25)] == [1.0, 1.0, 0.5, 0.25]
    m = lr_scheduler.MultiFactorScheduler(step=[5, 8], factor=0.1, base_lr=1.0)
    assert m(5) == 1.0 and m(6) == pytest.approx(0.1) and m(9) == pytest.approx(0.01)
    c = lr_scheduler.CosineScheduler(max_update=100, base_lr=1.0, final_lr=0.0, warmup_steps=10,
                                     warmup_begin_lr=0.0)
    assert c(5) == pytest.approx(0.5) and c(10) == pytest.approx(1.0) and c(100) == pytest.approx(0)
    assert c(55) == pytest.approx(0.5)
    opt = optimizer.SGD(learning_rate=0.2, lr_scheduler=lr_scheduler.FactorScheduler(1, 0.5))
    w = run(opt, [0.0], [[1.0], [1.0]])
    np.testing.assert_allclose(w, [-(0.2 + 0.1)])


def test_bad_input():
    expect_error(lambda: optimizer.create("adagradx"), "adagradx", "sgd")
    opt = optimizer.SGD(param_idx2name={0: "fc_weight"})
    expect_error(lambda: opt.update(0, np.ones(3), np.ones(4), None), "fc_weight", "(3,)", "(4,)")
    expect_error(lambda: lr_scheduler.FactorScheduler(step=0), "step")
    expect_error(lambda: lr_scheduler.MultiFactorScheduler(step=[5, 3]), "increasing")
