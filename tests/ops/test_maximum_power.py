"""maximum, minimum and power in their three forms: same-shape, broadcast and with a scalar."""
import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import check_op, expect_error


def positive_base(i, shape, rng):  # d(a^b)/db = a^b ln a needs a > 0
    return rng.uniform(0.3, 2.0, size=shape) if i == 0 else None


FUNCS = {"maximum": (np.maximum, None), "minimum": (np.minimum, None),
         "power": (np.power, positive_base)}


@pytest.mark.parametrize("name", ["_maximum", "_Maximum", "_minimum", "_Minimum", "_power",
                                  "_Power"])
def test_elemwise(name):
    ref, input_fn = FUNCS[name.strip("_").lower()]
    case = check_op(name, [(3, 5), (3, 5)], {}, lambda a, b: ref(a, b), input_fn=input_fn)
    assert case.op.needs_inputs == [True, True]


@pytest.mark.parametrize("name", ["broadcast_maximum", "broadcast_minimum", "broadcast_power"])
@pytest.mark.parametrize("shapes", [[(2, 3, 4), (1, 3, 1)], [(3, 1), (1, 4)], [(4,), (2, 4)]])
def test_broadcast(name, shapes):
    ref, input_fn = FUNCS[name.split("_")[1]]
    check_op(name, shapes, {}, lambda a, b: ref(a, b), input_fn=input_fn)


@pytest.mark.parametrize("name, ref", [
    ("_maximum_scalar", lambda x, s: np.maximum(x, s)),
    ("_minimum_scalar", lambda x, s: np.minimum(x, s)),
    ("_power_scalar", lambda x, s: np.power(x, s)),
    ("_rpower_scalar", lambda x, s: np.power(s, x)),
])
def test_scalar(name, ref):
    input_fn = (lambda i, shape, rng: rng.uniform(0.3, 2.0, size=shape)) if "power" in name \
        else None
    check_op(name, [(4, 3)], dict(scalar=0.25), lambda x, scalar, **_: ref(x, scalar),
             input_fn=input_fn)


def test_ties_send_the_gradient_to_lhs():
    a, b = cn.nd.array(np.array([1.0, 2.0])), cn.nd.array(np.array([1.0, 3.0]))
    a.attach_grad()
    b.attach_grad()
    with cn.autograd.record():
        y = cn.nd._maximum(a, b)
    y.backward()
    np.testing.assert_array_equal(a.grad.asnumpy(), [1, 0])
    np.testing.assert_array_equal(b.grad.asnumpy(), [0, 1])


def test_errors():
    a, b = cn.nd.ones((2, 3)), cn.nd.ones((3, 2))
    expect_error(lambda: cn.nd._maximum(a, b), "_maximum", "(2, 3)", "(3, 2)")
    expect_error(lambda: cn.nd.broadcast_power(a, b), "broadcast_power", "(2, 3)", "(3, 2)")
    expect_error(lambda: cn.nd._power_scalar(a, scalar="x"), "_power_scalar", "'x'")
