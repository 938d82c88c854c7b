import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import check_op, expect_error


def dot_ref(a, b, transpose_a=False, transpose_b=False):
    # MXNet: contract lhs's last axis (first when transposed) with rhs's first (last when
    # transposed); vector . vector has shape (1,).
    out = np.tensordot(a, b, axes=([0 if transpose_a else a.ndim - 1],
                                   [b.ndim - 1 if transpose_b else 0]))
    return out.reshape(1) if out.ndim == 0 else out


def batch_dot_ref(a, b, transpose_a=False, transpose_b=False):
    if transpose_a:
        a = np.swapaxes(a, -1, -2)
    if transpose_b:
        b = np.swapaxes(b, -1, -2)
    return np.matmul(a, b)


@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
def test_dot_matrices(ta, tb):
    a = (4, 3) if ta else (3, 4)
    b = (5, 4) if tb else (4, 5)
    check_op("dot", [a, b], dict(transpose_a=ta, transpose_b=tb), dot_ref)


@pytest.mark.parametrize("shapes,params", [
    ([(2, 3, 4), (4, 2, 3)], {}),                              # (n,m,k) x (k,r,s) -> (n,m,r,s)
    ([(4, 2, 3), (4, 5)], dict(transpose_a=True)),             # contracts lhs's first axis
    ([(2, 3, 4), (5, 2, 4)], dict(transpose_b=True)),          # contracts rhs's last axis
    ([(3, 2, 2), (2, 3, 3)], dict(transpose_a=True, transpose_b=True)),
    ([(4,), (4, 3)], {}),                                      # vector x matrix
    ([(2, 4), (4,)], {}),                                      # matrix x vector
    ([(4,), (3, 4)], dict(transpose_b=True)),
    ([(4, 2), (4,)], dict(transpose_a=True)),
    ([(5,), (5,)], {}),                                        # inner product -> (1,)
    ([(1, 1), (1, 1)], {}),
])
def test_dot_nd_and_vectors(shapes, params):
    check_op("dot", shapes, params, dot_ref)


def test_dot_large_threaded_gemm_matches_numpy():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((300, 200)), rng.standard_normal((200, 250))
    out = cn.nd.dot(cn.nd.array(a.astype(np.float32)), cn.nd.array(b.astype(np.float32)),
                    transpose_b=False).asnumpy()
    np.testing.assert_allclose(out, a @ b, rtol=1e-4, atol=1e-3)


def test_dot_zero_length_contraction_gives_zeros():
    op = cn.ops.make("dot", {})
    out = op.invoke([np.ones((3, 0)), np.ones((0, 2))], [], False, 0)[0]
    assert out.shape == (3, 2) and not out.any()


@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
def test_batch_dot(ta, tb):
    a = (3, 4, 2) if ta else (3, 2, 4)
    b = (3, 5, 4) if tb else (3, 4, 5)
    check_op("batch_dot", [a, b], dict(transpose_a=ta, transpose_b=tb), batch_dot_ref)


def test_batch_dot_more_batch_dims_and_many_items():
    check_op("batch_dot", [(2, 3, 2, 4), (2, 3, 4, 3)], {}, batch_dot_ref)
    check_op("batch_dot", [(17, 1, 3), (17, 3, 1)], {}, batch_dot_ref, max_points=60)


def _out_shape(name, lhs, rhs, **params):
    return cn.ops.make(name, params).infer_shape([lhs, rhs])[1][0]


def test_infer_shape():
    out = _out_shape
    assert out("dot", (2, 3, 4), (4, 5, 6)) == (2, 3, 5, 6)
    assert out("dot", (4, 2, 3), (4, 5), transpose_a=True) == (2, 3, 5)
    assert out("dot", (7,), (7,)) == (1,)
    assert out("batch_dot", (8, 3, 4), (8, 5, 4), transpose_b=True) == (8, 3, 5)


def test_bad_input_errors_name_the_op():
    a, b = cn.nd.ones((2, 3)), cn.nd.ones((4, 5))
    expect_error(lambda: cn.nd.dot(a, b), "dot", "shape error", "(2, 3)", "(4, 5)")
    v = cn.nd.ones(3)
    expect_error(lambda: cn.nd.dot(v, v, transpose_a=True), "dot", "cannot transpose vectors")
    expect_error(lambda: cn.nd.dot(a, a, forward_stype="csr"), "dot", "csr")
    expect_error(lambda: cn.nd.dot(a, a, transpose_c=True), "dot", "transpose_c")
    expect_error(lambda: cn.nd.dot(a, cn.nd.ones((3, 2)).astype(np.float64)), "dot", "float64")
    expect_error(lambda: cn.nd.dot(a.astype(np.int32), cn.nd.ones((3, 2)).astype(np.int32)),
                 "dot", "expected dtype float32 or float64, found int32")
    expect_error(lambda: cn.nd.batch_dot(a, a), "batch_dot", ">= 3", "(2, 3)")
    x, y = cn.nd.ones((2, 3, 4)), cn.nd.ones((3, 4, 5))
    expect_error(lambda: cn.nd.batch_dot(x, y), "batch_dot", "batch dims")
    expect_error(lambda: cn.nd.batch_dot(x, cn.nd.ones((2, 3, 5))), "batch_dot", "4 and 3")
