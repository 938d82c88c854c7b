"""linalg.potri and linalg.trmm: check_op (NumPy reference + numeric gradient) and a replay of
linalg_tri.npz, made with real MXNet 1.9.1 by tests/fixtures/mxnet/make_linalg_tri.py (outputs
and input gradients, every transpose/rightside/lower combination, float32 and float64)."""
import itertools
import json
from pathlib import Path

import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import check_op, expect_error

HERE = Path(__file__).resolve().parent.parent / "fixtures" / "mxnet"
META = json.loads((HERE / "linalg_tri.json").read_text())
ARRAYS = np.load(HERE / "linalg_tri.npz")


def tri_storage(i, shape, rng):
    """Input 0: a well-conditioned factor on its triangle, noise on the other (must be ignored)."""
    if i != 0:
        return None
    return rng.uniform(-0.5, 0.5, size=shape) + 1.5 * np.eye(shape[-1])


def triangle(a, lower):
    return np.tril(a) if lower else np.triu(a)


def potri_ref(a, lower=True):
    t = triangle(a, lower)
    tt = np.swapaxes(t, -1, -2)
    return np.linalg.inv(t @ tt if lower else tt @ t)


def trmm_ref(a, b, transpose=False, rightside=False, lower=True, alpha=1.0):
    m = triangle(a, lower)
    m = np.swapaxes(m, -1, -2) if transpose else m
    return alpha * (b @ m if rightside else m @ b)


@pytest.mark.parametrize("lower", [True, False])
def test_potri(lower):
    check_op("_linalg_potri", [(3, 3)], dict(lower=lower), potri_ref, input_fn=tri_storage)
    check_op("_linalg_potri", [(2, 1, 4, 4)], dict(lower=lower), potri_ref, input_fn=tri_storage)


@pytest.mark.parametrize("transpose,rightside,lower", list(itertools.product([False, True],
                                                                             repeat=3)))
def test_trmm(transpose, rightside, lower):
    b = (2, 3) if rightside else (3, 2)
    params = dict(transpose=transpose, rightside=rightside, lower=lower, alpha=0.5)
    check_op("_linalg_trmm", [(3, 3), b], params, trmm_ref, input_fn=tri_storage)
    check_op("_linalg_trmm", [(2, 3, 3), (2,) + b], params, trmm_ref, input_fn=tri_storage)


@pytest.mark.parametrize("case", META["cases"], ids=lambda c: c["key"] + "_" + c["fn"])
def test_matches_mxnet(case):
    key, dtype = case["key"], case["dtype"]
    xs = [cn.nd.array(ARRAYS[f"{key}_in{j}"], dtype=dtype) for j in range(case["n_inputs"])]
    for x in xs:
        x.attach_grad()
    with cn.autograd.record():
        y = getattr(cn.nd.linalg, case["fn"])(*xs, **case["params"])
    y.backward(cn.nd.array(ARRAYS[f"{key}_head"], dtype=dtype))
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == "float32" else dict(rtol=1e-10, atol=1e-12)
    assert y.dtype == np.dtype(dtype)
    np.testing.assert_allclose(y.asnumpy(), ARRAYS[f"{key}_out"], **tol)
    for j, x in enumerate(xs):
        np.testing.assert_allclose(x.grad.asnumpy(), ARRAYS[f"{key}_grad{j}"], **tol,
                                   err_msg=f"gradient of input {j}")


def test_symbol_and_errors():
    a = cn.sym.var("a")
    ex = cn.sym.linalg.potri(a).simple_bind(a=(2, 2))
    out = ex.forward(a=np.array([[2.0, 9.0], [1.0, 1.0]], np.float32))[0].asnumpy()
    np.testing.assert_allclose(out, np.linalg.inv(np.array([[4.0, 2.0], [2.0, 2.0]])), rtol=1e-6)
    b = cn.sym.var("b")
    ex = cn.sym.linalg.trmm(a, b, rightside=True, alpha=2.0).simple_bind(a=(2, 2), b=(1, 2))
    out = ex.forward(a=np.array([[1.0, 5.0], [2.0, 3.0]], np.float32),
                     b=np.array([[1.0, 1.0]], np.float32))[0].asnumpy()
    np.testing.assert_allclose(out, [[6.0, 6.0]])
    expect_error(lambda: cn.nd.linalg.potri(cn.nd.ones((2, 3))), "potri", "square")
    expect_error(lambda: cn.nd.linalg.potri(cn.nd.array([[1.0, 0.0], [1.0, 0.0]])), "potri",
                 "singular", "diagonal entry 1")
    expect_error(lambda: cn.nd.linalg.trmm(cn.nd.ones((3, 3)), cn.nd.ones((2, 3))), "trmm",
                 "rows must equal")
    expect_error(lambda: cn.nd.linalg.trmm(cn.nd.ones((2, 3, 3)), cn.nd.ones((3, 3, 2))), "trmm",
                 "does not match")
