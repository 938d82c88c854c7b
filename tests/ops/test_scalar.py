import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import check_op

OPS = {
    "_plus_scalar": (lambda x, s: x + s, False),
    "_minus_scalar": (lambda x, s: x - s, False),
    "_rminus_scalar": (lambda x, s: s - x, False),
    "_mul_scalar": (lambda x, s: x * s, False),
    "_div_scalar": (lambda x, s: x / s, False),
    "_rdiv_scalar": (lambda x, s: s / x, True),
}


def away_from_zero(i, shape, rng):
    return rng.uniform(0.5, 1.5, size=shape) * rng.choice([-1, 1], size=shape)


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("scalar", [2.5, -0.75])
def test_scalar_op(name, scalar):
    fn, _ = OPS[name]
    check_op(name, [(3, 5)], dict(scalar=scalar), lambda x, scalar: fn(x, scalar),
             input_fn=away_from_zero)


@pytest.mark.parametrize("name", sorted(OPS))
def test_scalar_needs_and_inplace(name):
    op = cn.ops.make(name, dict(scalar=2))
    assert op.needs_inputs == [OPS[name][1]] and op.needs_outputs == [False]
    assert op.inplace == [(0, 0)] and op.backward_inplace == [(0, 0)]


def test_scalar_default_and_mxnet_is_int_attribute():
    x = cn.nd.array(np.arange(3))
    np.testing.assert_array_equal(cn.nd._plus_scalar(x).asnumpy(), [1, 2, 3])
    y = cn.nd._mul_scalar(x, scalar="2", is_int="False").asnumpy()
    np.testing.assert_array_equal(y, [0, 2, 4])
