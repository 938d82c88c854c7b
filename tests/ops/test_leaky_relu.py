import math

import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import check_op, expect_error


def _erf(x):
    return np.vectorize(math.erf)(x)


LEAKY = {
    "leaky": lambda x, s: np.where(x > 0, x, s * x),
    "elu": lambda x, s: np.where(x > 0, x, s * np.expm1(x)),
    "selu": lambda x, s: 1.0507009873554804934193349852946
    * np.where(x > 0, x, 1.6732632423543772848170429916717 * np.expm1(x)),
    "gelu": lambda x, s: 0.5 * x * (1 + _erf(x / np.sqrt(2))),
}


def leaky_ref(x, gamma=None, act_type="leaky", slope=0.25, **_):
    if act_type == "prelu":
        g = gamma.reshape((1, -1) + (1,) * (x.ndim - 2)) if gamma.size > 1 else gamma
        return np.where(x > 0, x, g * x)
    return LEAKY[act_type](x, slope)


@pytest.mark.parametrize("act_type", sorted(LEAKY))
def test_leaky_relu(act_type):
    check_op("LeakyReLU", [(2, 3, 4)], dict(act_type=act_type, slope=0.3), leaky_ref)


def test_leaky_relu_default_is_leaky_with_slope_quarter():
    check_op("LeakyReLU", [(5, 6)], {}, leaky_ref)


@pytest.mark.parametrize("shapes", [[(2, 3, 4, 5), (3,)], [(4, 6), (6,)], [(2, 3, 4), (1,)]])
def test_prelu(shapes):
    check_op("LeakyReLU", shapes, dict(act_type="prelu"), leaky_ref)


def test_prelu_infers_gamma_per_channel():
    op = cn.ops.make("LeakyReLU", dict(act_type="prelu"))
    assert op.input_names == ["data", "gamma"]
    ins, outs, _ = op.infer_shape([(2, 7, 3, 3), None])
    assert ins[1] == (7,) and outs == [(2, 7, 3, 3)]


def test_large_prelu_matches_numpy():
    rng = np.random.default_rng(0)
    x, gamma = rng.uniform(-1, 1, (4, 16, 48, 48)), rng.uniform(0, 0.5, 16)
    op = cn.ops.make("LeakyReLU", dict(act_type="prelu"))
    np.testing.assert_allclose(op.invoke([x, gamma], [], False, 0)[0], leaky_ref(x, gamma, "prelu"))
    dy = rng.uniform(-1, 1, x.shape)
    dx, dg = np.zeros(x.shape), np.zeros(16)
    op.backward([dy], [x, gamma], [None], [dx, dg], [1, 1], [])
    g = gamma.reshape(1, -1, 1, 1)
    np.testing.assert_allclose(dx, np.where(x > 0, dy, g * dy))
    np.testing.assert_allclose(dg, np.where(x > 0, 0, dy * x).sum(axis=(0, 2, 3)))


def test_leaky_relu_errors():
    x = cn.nd.ones((2, 3))
    expect_error(lambda: cn.nd.LeakyReLU(x, act_type="rrelu"), "LeakyReLU", "rrelu")
    expect_error(lambda: cn.nd.LeakyReLU(x, act_type="relu6"), "LeakyReLU", "act_type", "relu6")
    expect_error(lambda: cn.nd.LeakyReLU(x, cn.nd.ones(2), act_type="prelu"),
                 "LeakyReLU", "gamma", "(3,)", "(2,)")
