"""Initializer statistics and MXNet's name rules."""
import numpy as np
import pytest

import coarsenet as cn
from coarsenet import initializer as init
from coarsenet.testing import expect_error


def fill(initializer, name, shape):
    a = np.empty(shape, dtype=np.float32)
    initializer(init.InitDesc(name), a)
    return a


@pytest.mark.parametrize("rnd_type,factor_type,magnitude", [
    ("uniform", "avg", 3), ("gaussian", "in", 2), ("uniform", "out", 1)])
def test_xavier_scale(rnd_type, factor_type, magnitude):
    cn.random.seed(0)
    w = fill(init.Xavier(rnd_type, factor_type, magnitude), "conv_weight", (64, 32, 3, 3))
    fan = {"avg": (32 * 9 + 64 * 9) / 2, "in": 32 * 9, "out": 64 * 9}[factor_type]
    scale = np.sqrt(magnitude / fan)
    expected_std = scale / np.sqrt(3) if rnd_type == "uniform" else scale
    assert w.std() == pytest.approx(expected_std, rel=0.03)
    if rnd_type == "uniform":
        assert np.abs(w).max() <= scale


def test_msra_prelu_is_he_initialisation():
    cn.random.seed(1)
    w = fill(init.MSRAPrelu(factor_type="in", slope=0.0), "fc_weight", (256, 512))
    assert w.std() == pytest.approx(np.sqrt(2 / 512), rel=0.03)
    assert init.create("msraprelu").magnitude == pytest.approx(2 / 1.0625)


def test_name_rules_and_constants():
    x = init.Xavier()
    assert not fill(x, "bn_beta", (4,)).any() and not fill(x, "fc_bias", (4,)).any()
    assert (fill(x, "bn_gamma", (4,)) == 1).all() and (fill(x, "bn_moving_var", (4,)) == 1).all()
    assert not fill(x, "bn_moving_mean", (4,)).any()
    assert (fill(init.Constant(0.3), "w", (2, 2)) == np.float32(0.3)).all()
    own = init.InitDesc("fc_weight", {"__init__": init.Constant(2.0).dumps()})
    a = np.zeros((2, 2), np.float32)
    x(own, a)
    assert (a == 2).all()


def test_bad_initializers():
    expect_error(lambda: init.Xavier(rnd_type="cauchy"), "Xavier", "cauchy")
    expect_error(lambda: fill(init.Xavier(), "fc_weight", (5,)), "Xavier", "fc_weight", "(5,)")
    expect_error(lambda: init.create("nope"), "nope")
