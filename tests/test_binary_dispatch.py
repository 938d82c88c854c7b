"""cn.nd / cn.sym maximum, minimum, power and ** pick the op that fits their operands."""
import numpy as np
import pytest

import coarsenet as cn
from coarsenet import autograd
from coarsenet.testing import assert_close

A = np.array([[1.0, -2.0, 0.5], [3.0, 4.0, -0.25]])
B = np.array([0.5, 5.0, -1.0])


@pytest.mark.parametrize("kind,ref", [("maximum", np.maximum), ("minimum", np.minimum),
                                      ("power", np.power)])
def test_nd_arrays_broadcast_and_scalars(kind, ref):
    fn = getattr(cn.nd, kind)
    a, b = cn.nd.array(A), cn.nd.array(B)
    base = np.abs(A) if kind == "power" else A  # real powers need a positive base
    pa = cn.nd.array(base)
    assert_close(fn(pa, pa).asnumpy(), ref(base, base), 1e-6, 1e-6, "same shape")
    assert_close(fn(pa, b).asnumpy(), ref(base, B), 1e-6, 1e-6, "broadcast")
    assert_close(fn(a, 2).asnumpy(), ref(A, 2), 1e-6, 1e-6, "array, scalar")
    assert_close(fn(2, pa).asnumpy(), ref(2, base), 1e-6, 1e-6, "scalar, array")
    assert fn(2.0, 3.0) == ref(2.0, 3.0)
    with pytest.raises(TypeError, match=kind):
        fn(a, "2")


def test_pow_operators_and_gradients():
    x = cn.nd.array(np.abs(A) + 0.5)
    x.attach_grad()
    with autograd.record():
        y = (x ** 2 + 2 ** x + cn.nd.maximum(x, 1.0)).sum()
    y.backward()
    xs = np.abs(A) + 0.5
    want = 2 * xs + np.log(2) * 2 ** xs + (xs >= 1.0)  # a tie goes to x, as in MXNet
    assert_close(x.grad.asnumpy(), want, 1e-5, 1e-5, "d/dx")


def test_transpose_property_is_the_op_so_autograd_sees_it():
    x = cn.nd.array(A)
    x.attach_grad()
    with autograd.record():
        y = (x.T * cn.nd.array(np.arange(6.0).reshape(3, 2))).sum()
    y.backward()
    assert_close(x.grad.asnumpy(), np.arange(6.0).reshape(3, 2).T, 0, 0, "transpose grad")


def test_symbols():
    x, y = cn.sym.Variable("x"), cn.sym.Variable("y")
    out = cn.sym.maximum(x, y) + cn.sym.minimum(x, 0.0) + x ** 2 + cn.sym.power(2.0, y)
    ops = {n["op"] for n in __import__("json").loads(out.tojson())["nodes"]}
    assert {"_maximum", "_minimum_scalar", "_power_scalar", "_rpower_scalar"} <= ops
    exe = out.simple_bind(grad_req="null", x=A.shape, y=A.shape)
    exe.forward(x=A, y=A[::-1].copy())
    ya = A[::-1]
    want = np.maximum(A, ya) + np.minimum(A, 0) + A ** 2 + 2.0 ** ya
    assert_close(exe.outputs[0].asnumpy(), want, 1e-5, 1e-5, "symbol graph")
