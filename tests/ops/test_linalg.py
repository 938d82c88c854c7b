import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import check_op, expect_error


def op_t(x, t):
    return np.swapaxes(x, -1, -2) if t else x


def gemm2_ref(a, b, transpose_a=False, transpose_b=False, alpha=1.0, **_):
    return alpha * op_t(a, transpose_a) @ op_t(b, transpose_b)


@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_gemm2_and_gemm(ta, tb):
    m, k, n = 3, 4, 2
    a = (k, m) if ta else (m, k)
    b = (n, k) if tb else (k, n)
    params = dict(transpose_a=ta, transpose_b=tb, alpha=0.7)
    check_op("_linalg_gemm2", [a, b], params, gemm2_ref)
    check_op("_linalg_gemm2", [(2,) + a, (2,) + b], params, gemm2_ref)
    check_op("_linalg_gemm", [(2, 1) + a, (2, 1) + b, (2, 1, m, n)], dict(params, beta=-1.5),
             lambda x, y, c, beta, **p: gemm2_ref(x, y, **p) + beta * c)


@pytest.mark.parametrize("transpose", [False, True])
def test_syrk(transpose):
    def ref(a, transpose=False, alpha=1.0):
        return alpha * (op_t(a, transpose) @ op_t(a, not transpose))
    check_op("_linalg_syrk", [(3, 4)], dict(transpose=transpose, alpha=0.5), ref)
    check_op("_linalg_syrk", [(2, 2, 3)], dict(transpose=transpose), ref)


def test_sumlogdiag():
    def pos_diag(i, shape, rng):
        return rng.uniform(0.5, 2, size=shape)
    check_op("_linalg_sumlogdiag", [(2, 3, 3)], {},
             lambda a: np.log(np.diagonal(a, axis1=-2, axis2=-1)).sum(-1), input_fn=pos_diag)
    check_op("_linalg_sumlogdiag", [(4, 4)], {},
             lambda a: np.log(np.diag(a)).sum(keepdims=True), input_fn=pos_diag)


def test_namespaces_and_errors():
    a, b = cn.nd.ones((2, 3)), cn.nd.ones((4, 2))
    expect_error(lambda: cn.nd.linalg.gemm2(a, b), "_linalg_gemm2", "inner dims")
    assert cn.nd.linalg.gemm2(a, b, transpose_a=True, transpose_b=True).shape == (3, 4)
    assert cn.nd.linalg_gemm2(a, b, transpose_a=True, transpose_b=True).shape == (3, 4)
    expect_error(lambda: cn.nd.linalg.sumlogdiag(a), "sumlogdiag", "square")
    expect_error(lambda: cn.nd.linalg.gemm2(a, a, axis=-3), "gemm2", "axis")
    x = cn.sym.var("x")
    y = cn.sym.linalg.syrk(x)
    ex = y.simple_bind(x=(2, 3))
    out = ex.forward(x=np.arange(6, dtype=np.float32).reshape(2, 3))[0].asnumpy()
    np.testing.assert_allclose(out, [[5, 14], [14, 50]])


def spd(i, shape, rng):
    m = rng.uniform(-1, 1, size=shape)
    return m @ np.swapaxes(m, -1, -2) + shape[-1] * np.eye(shape[-1])


@pytest.mark.parametrize("lower", [True, False])
def test_potrf(lower):
    def ref(a, lower=True):
        L = np.linalg.cholesky((a + np.swapaxes(a, -1, -2)) / 2)
        return L if lower else np.swapaxes(L, -1, -2)
    check_op("_linalg_potrf", [(3, 3)], dict(lower=lower), ref, input_fn=spd)
    check_op("_linalg_potrf", [(2, 4, 4)], dict(lower=lower), ref, input_fn=spd)


@pytest.mark.parametrize("transpose,rightside,lower", [(False, False, True), (True, False, True),
                                                       (False, True, False), (True, True, False),
                                                       (False, False, False)])
def test_trsm(transpose, rightside, lower):
    def tri(i, shape, rng):
        if i != 0:
            return None
        a = rng.uniform(-1, 1, size=shape) + 3 * np.eye(shape[-1])
        return a  # the other triangle is noise the op must ignore

    def ref(a, b, transpose=False, rightside=False, lower=True, alpha=1.0):
        t = np.tril(a) if lower else np.triu(a)
        m = np.swapaxes(t, -1, -2) if transpose else t
        if rightside:
            return alpha * b @ np.linalg.inv(m)
        return alpha * np.linalg.solve(m, b)
    b = (2, 3) if rightside else (3, 2)
    params = dict(transpose=transpose, rightside=rightside, lower=lower, alpha=0.5)
    check_op("_linalg_trsm", [(3, 3), b], params, ref, input_fn=tri)
    check_op("_linalg_trsm", [(2, 3, 3), (2,) + b], params, ref, input_fn=tri)


def test_potrf_not_positive_definite():
    expect_error(lambda: cn.nd.linalg.potrf(cn.nd.array([[1.0, 2.0], [2.0, 1.0]])), "potrf",
                 "positive definite")
