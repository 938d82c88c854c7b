import math

import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import check_op, expect_error

ACTIVATIONS = {
    "relu": lambda x: np.maximum(x, 0),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "tanh": np.tanh,
    "softrelu": lambda x: np.log1p(np.exp(x)),
    "softsign": lambda x: x / (1 + np.abs(x)),
}


def activation_ref(x, act_type):
    return ACTIVATIONS[act_type](x)


@pytest.mark.parametrize("act_type", sorted(ACTIVATIONS))
def test_activation(act_type):
    check_op("Activation", [(3, 4, 5)], dict(act_type=act_type), activation_ref)


@pytest.mark.parametrize("act_type,reads", [("relu", "output"), ("sigmoid", "output"),
                                            ("tanh", "output"), ("softrelu", "input"),
                                            ("softsign", "input")])
def test_activation_backward_reads_only_what_it_needs(act_type, reads):
    op = cn.ops.make("Activation", dict(act_type=act_type))
    assert op.needs_inputs == [reads == "input"]
    assert op.needs_outputs == [reads == "output"]
    assert op.inplace == [(0, 0)] and op.backward_inplace == [(0, 0)]


def test_softrelu_is_stable_for_large_inputs():
    x = cn.nd.array(np.array([-100.0, 0.0, 100.0]))
    y = cn.nd.Activation(x, act_type="softrelu").asnumpy()
    np.testing.assert_allclose(y, [0.0, math.log(2), 100.0], rtol=1e-6, atol=1e-30)


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


def test_activation_errors():
    x = cn.nd.ones((2, 3))
    expect_error(lambda: cn.nd.Activation(x, act_type="swish"), "Activation", "act_type", "swish")
    expect_error(lambda: cn.nd.Activation(x), "Activation", "act_type", "missing")
    expect_error(lambda: cn.nd.LeakyReLU(x, act_type="rrelu"), "LeakyReLU", "rrelu")
    expect_error(lambda: cn.nd.LeakyReLU(x, cn.nd.ones(2), act_type="prelu"),
                 "LeakyReLU", "gamma", "(3,)", "(2,)")
    expect_error(lambda: cn.nd.Activation(x.astype(np.int32), act_type="relu"),
                 "Activation", "dtype")
