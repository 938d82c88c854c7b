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


def test_activation_errors():
    x = cn.nd.ones((2, 3))
    expect_error(lambda: cn.nd.Activation(x, act_type="swish"), "Activation", "act_type", "swish")
    expect_error(lambda: cn.nd.Activation(x), "Activation", "act_type", "missing")
    expect_error(lambda: cn.nd.Activation(x.astype(np.int32), act_type="relu"),
                 "Activation", "dtype")
