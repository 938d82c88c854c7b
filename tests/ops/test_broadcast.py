import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import check_op, expect_error


def away_from_zero(i, shape, rng):
    if i == 1:
        return rng.uniform(0.5, 1.5, size=shape) * rng.choice([-1, 1], size=shape)
    return None


OPS = {"broadcast_add": np.add, "broadcast_sub": np.subtract, "broadcast_mul": np.multiply,
       "broadcast_div": np.divide}

SHAPES = [
    [(3, 4), (3, 4)],          # no broadcast
    [(2, 3, 4, 5), (1, 3, 1, 1)],  # bias over channels
    [(3, 1), (1, 4)],          # both operands stretch
    [(2, 3, 4), (4,)],         # numpy-style: fewer dims
    [(1,), (2, 3)],            # scalar-like lhs
    [(2, 1, 3), (2, 4, 1)],
]


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("shapes", SHAPES)
def test_broadcast_binary(name, shapes):
    check_op(name, shapes, {}, lambda a, b: OPS[name](a, b), input_fn=away_from_zero)


def test_broadcast_add_large_runs_in_parallel_and_matches_numpy():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((8, 64, 32, 32)).astype(np.float32)
    b = rng.standard_normal((1, 64, 1, 1)).astype(np.float32)
    y = cn.nd.broadcast_add(cn.nd.array(a), cn.nd.array(b)).asnumpy()
    np.testing.assert_allclose(y, a + b, rtol=1e-6)


def test_broadcast_needs():
    assert cn.ops.make("broadcast_add", {}).needs_inputs == [False, False]
    assert cn.ops.make("broadcast_mul", {}).needs_inputs == [True, True]


def test_broadcast_add_gradient_of_one_operand_only():
    op = cn.ops.make("broadcast_add", {})
    dy = np.random.default_rng(0).uniform(-1, 1, (2, 3, 4))
    grad = np.zeros((3, 1))
    op.backward([dy], [None, None], [None], [None, grad], [0, 1], [])
    np.testing.assert_allclose(grad, dy.sum(axis=(0, 2)).reshape(3, 1))


def test_broadcast_errors():
    expect_error(lambda: cn.nd.broadcast_add(cn.nd.ones((2, 3)), cn.nd.ones((4,))),
                 "broadcast_add", "(2, 3)", "(4,)")


@pytest.mark.parametrize("rhs_shape", [(1, 64, 1, 1), (8, 1, 1, 256), (1,)])
def test_large_broadcast_mul_gradients(rhs_shape):
    """Gradients of a stretched operand above the parallel threshold match NumPy."""
    rng = np.random.default_rng(0)
    a, b = rng.uniform(-1, 1, (8, 64, 1, 256)), rng.uniform(-1, 1, rhs_shape)
    dy = rng.uniform(-1, 1, (8, 64, 1, 256))
    op = cn.ops.make("broadcast_mul", {})
    ga, gb = np.zeros(a.shape), np.ones(b.shape)
    op.backward([dy], [a, b], [None], [ga, gb], [1, 3], [])
    axes = tuple(i for i in range(4) if (b.shape[i] if len(b.shape) == 4 else 1) == 1)
    np.testing.assert_allclose(ga, dy * b)
    np.testing.assert_allclose(gb, 1 + (dy * a).sum(axis=axes, keepdims=True).reshape(b.shape))


def test_zero_size_operands():
    y = cn.nd.broadcast_mul(cn.nd.ones((2, 0)), cn.nd.ones((1, 1))).asnumpy()
    assert y.shape == (2, 0)
    assert cn.nd.sum(cn.nd.ones((0, 3)), axis=0).asnumpy().tolist() == [0, 0, 0]
