import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import check_op, expect_error

CMP = {"equal": np.equal, "not_equal": np.not_equal, "greater": np.greater,
       "greater_equal": np.greater_equal, "lesser": np.less, "lesser_equal": np.less_equal,
       "logical_and": np.logical_and, "logical_or": np.logical_or,
       "logical_xor": np.logical_xor}


def mxmod(a, b):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b == 0, 0.0, np.mod(a, b))


def small_ints(i, shape, rng):
    return rng.integers(-2, 3, size=shape).astype(np.float64)  # ties for == and <=


@pytest.mark.parametrize("kind", sorted(CMP))
def test_comparisons_three_forms(kind):
    ref = CMP[kind]
    check_op(f"_{kind}", [(3, 4), (3, 4)], {}, lambda a, b: ref(a, b).astype(a.dtype),
             input_fn=small_ints)
    check_op(f"broadcast_{kind}", [(3, 1, 4), (2, 1)], {},
             lambda a, b: ref(a, b).astype(a.dtype), input_fn=small_ints)
    check_op(f"_{kind}_scalar", [(3, 4)], dict(scalar=1.0),
             lambda a, scalar, is_int=True: ref(a, scalar).astype(a.dtype), input_fn=small_ints)


def test_mod_and_hypot_gradients():
    def away_from_kinks(i, shape, rng):  # |b| >= 0.5 and a/b not near an integer
        x = rng.uniform(0.5, 2, size=shape) * rng.choice([-1, 1], size=shape)
        return x + 0.13 if i == 0 else x
    check_op("_mod", [(3, 4), (3, 4)], {}, mxmod, input_fn=away_from_kinks)
    check_op("broadcast_mod", [(3, 4), (4,)], {}, mxmod, input_fn=away_from_kinks)
    check_op("_mod_scalar", [(5,)], dict(scalar=-0.7), lambda a, scalar, is_int=True: mxmod(a, scalar),
             input_fn=away_from_kinks)
    check_op("_rmod_scalar", [(5,)], dict(scalar=1.7), lambda a, scalar, is_int=True: mxmod(scalar, a),
             input_fn=away_from_kinks)
    check_op("_hypot", [(3, 4), (3, 4)], {}, np.hypot)
    check_op("broadcast_hypot", [(2, 3, 1), (4,)], {}, np.hypot)
    check_op("_hypot_scalar", [(6,)], dict(scalar=0.5), lambda a, scalar, is_int=True: np.hypot(a, scalar))


def test_python_functions_and_operators():
    a = cn.nd.array([[1, -2, 3], [4, 5, -6]])
    b = cn.nd.array([2, 2, -4])
    assert (cn.nd.greater(a, b).asnumpy() == (a.asnumpy() > b.asnumpy())).all()
    assert (cn.nd.lesser(2, a).asnumpy() == (2 < a.asnumpy())).all()
    assert (cn.nd.modulo(7, a).asnumpy() == np.mod(7, a.asnumpy())).all()
    assert ((a % 4).asnumpy() == np.mod(a.asnumpy(), 4)).all()
    assert cn.nd.equal(a, a).dtype == np.float32
    assert cn.nd.divide(a, b).shape == (2, 3)
    assert cn.nd.equal(2, 2) == 1.0
    x = cn.sym.var("x")
    ex = cn.sym.greater_equal(x % 3, 1).simple_bind(x=(4,))
    out = ex.forward(x=np.array([0, 1, 2, 4], np.float32))[0].asnumpy()
    assert out.tolist() == [0, 1, 1, 1]
    expect_error(lambda: cn.nd.broadcast_equal(a, cn.nd.ones((4,))), "broadcast_equal",
                 "could not be broadcast")
    expect_error(lambda: cn.nd._equal(a, b), "_equal", "same shape")


def test_gradient_through_mod_in_autograd():
    a = cn.nd.array([5.5, -3.5])
    a.attach_grad()
    with cn.autograd.record():
        y = cn.nd.modulo(a, 2) + cn.nd.greater(a, 0)
    y.backward()
    assert a.grad.asnumpy().tolist() == [1, 1]
