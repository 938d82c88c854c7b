import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import check_op, expect_error


def positive(i, shape, rng):
    return rng.uniform(0.2, 2.0, size=shape)


def away_from_zero(i, shape, rng):  # abs and relu have a kink at 0
    return rng.uniform(0.05, 1.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)


# name -> (NumPy reference, input maker or None for uniform [-1, 1), what backward reads)
UNARY = {
    "exp": (np.exp, None, "output"),
    "log": (np.log, positive, "input"),
    "sqrt": (np.sqrt, positive, "output"),
    "rsqrt": (lambda x: 1 / np.sqrt(x), positive, "output"),
    "square": (np.square, None, "input"),
    "abs": (np.abs, away_from_zero, "input"),
    "negative": (np.negative, None, None),
    "reciprocal": (lambda x: 1 / x, positive, "output"),
    "sigmoid": (lambda x: 1 / (1 + np.exp(-x)), None, "output"),
    "tanh": (np.tanh, None, "output"),
    "relu": (lambda x: np.maximum(x, 0), away_from_zero, "output"),
    "sin": (np.sin, None, "input"),
    "cos": (np.cos, None, "input"),
    "sign": (np.sign, away_from_zero, "zero"),
    "zeros_like": (np.zeros_like, None, "zero"),
    "ones_like": (np.ones_like, None, "zero"),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary(name):
    ref, input_fn, reads = UNARY[name]
    case = check_op(name, [(3, 7)], {}, lambda x: ref(x), input_fn=input_fn)
    check_op(name, [(2, 3, 4)], {}, lambda x: ref(x), input_fn=input_fn, grad=False)
    assert case.op.inplace == [(0, 0)]
    assert case.op.needs_inputs == [reads == "input"]
    assert case.op.needs_outputs == [reads == "output"]


def test_fast_float32_paths_on_large_arrays():
    x = np.random.default_rng(0).uniform(-20, 20, size=100_000).astype(np.float32)
    for name, ref in [("exp", np.exp), ("tanh", np.tanh),
                      ("sigmoid", lambda v: 1 / (1 + np.exp(-v.astype(np.float64))))]:
        got = getattr(cn.nd, name)(cn.nd.array(x)).asnumpy()
        np.testing.assert_allclose(got, ref(x), rtol=2e-6, atol=1e-30, err_msg=name)


def test_autograd_chain_and_symbol():
    x = cn.nd.array(np.array([0.5, 1.0, 2.0]))
    x.attach_grad()
    with cn.autograd.record():
        y = cn.nd.log(cn.nd.exp(cn.nd.square(x)))
    y.backward()
    np.testing.assert_allclose(x.grad.asnumpy(), 2 * np.array([0.5, 1.0, 2.0]), rtol=1e-6)
    s = cn.sym.relu(cn.sym.sqrt(cn.sym.Variable("x")))
    assert s.infer_shape(x=(2, 3))[1] == [(2, 3)]


def test_bad_inputs():
    x = cn.nd.ones((2, 3))
    expect_error(lambda: cn.nd.exp(x, scalar=2), "exp", "unknown parameter 'scalar'")
    expect_error(lambda: cn.nd.sqrt(x.astype(np.int32)), "sqrt", "float32 or float64", "int32")
