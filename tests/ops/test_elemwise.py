import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import check_op, expect_error


def away_from_zero(i, shape, rng):
    """Divisors in +-[0.5, 1.5) so that 1/x and its numeric gradient stay tame."""
    if i == 1:
        return rng.uniform(0.5, 1.5, size=shape) * rng.choice([-1, 1], size=shape)
    return None


BINARY = {
    "elemwise_add": (np.add, [False, False]),
    "elemwise_sub": (np.subtract, [False, False]),
    "elemwise_mul": (np.multiply, [True, True]),
    "elemwise_div": (np.divide, [True, True]),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("shape", [(1,), (3, 4), (2, 3, 5)])
def test_elemwise_binary(name, shape):
    fn, _ = BINARY[name]
    check_op(name, [shape, shape], {}, lambda a, b: fn(a, b), input_fn=away_from_zero)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_elemwise_binary_needs_and_inplace(name):
    op = cn.ops.make(name, {})
    assert op.input_names == ["lhs", "rhs"]
    assert op.needs_inputs == BINARY[name][1]
    assert op.needs_outputs == [False]
    assert op.inplace == [(0, 0), (1, 0)] and op.backward_inplace == [(0, 0)]


@pytest.mark.parametrize("n", [1, 2, 4])
def test_add_n(n):
    check_op("add_n", [(3, 4)] * n, dict(num_args=n), lambda *xs, num_args: sum(xs))


def test_add_n_names_and_alias():
    op = cn.ops.make("ElementWiseSum", dict(num_args=3))
    assert op.input_names == ["arg0", "arg1", "arg2"]
    assert op.needs_inputs == [False] * 3
    a, b, c = (cn.nd.array(np.full((2, 2), v)) for v in (1.0, 2.0, 4.0))
    np.testing.assert_array_equal(cn.nd.add_n(a, b, c).asnumpy(), np.full((2, 2), 7.0))


@pytest.mark.parametrize("name", ["_copy", "identity"])
def test_copy(name):
    check_op(name, [(4, 5)], {}, lambda x: x)


@pytest.mark.parametrize("name", ["BlockGrad", "stop_gradient"])
def test_block_grad(name):
    check_op(name, [(3, 4)], {}, lambda x: x, grad=False)
    op = cn.ops.make(name, {})
    x = np.random.default_rng(0).uniform(-1, 1, (3, 4))
    grad = np.full((3, 4), 5.0)
    op.backward([np.ones((3, 4))], [None], [None], [grad], [1], [])
    assert np.all(grad == 0)
    grad = np.full((3, 4), 5.0)
    op.backward([np.ones((3, 4))], [None], [None], [grad], [3], [])
    assert np.all(grad == 5)
    assert op.needs_inputs == [False] and op.needs_outputs == [False]
    np.testing.assert_array_equal(op.invoke([x], [], False, 0)[0], x)


@pytest.mark.parametrize("a_min,a_max", [(-0.5, 0.5), (0.0, 2.0), (-0.3, -0.3)])
def test_clip(a_min, a_max):
    check_op("clip", [(4, 6)], dict(a_min=a_min, a_max=a_max),
             lambda x, a_min, a_max: np.clip(x, a_min, a_max))


def test_elemwise_errors():
    a, b = cn.nd.ones((2, 3)), cn.nd.ones((3, 2))
    expect_error(lambda: cn.nd.elemwise_add(a, b), "elemwise_add", "(2, 3)", "(3, 2)")
    expect_error(lambda: cn.nd.elemwise_mul(a, cn.nd.ones((2, 3), dtype=np.float64)),
                 "elemwise_mul", "dtype")
    expect_error(lambda: cn.nd.add_n(a, b), "add_n", "(2, 3)", "(3, 2)")
    expect_error(lambda: cn.ops.make("add_n", dict(num_args=0)), "add_n", "num_args")
    expect_error(lambda: cn.nd.clip(a, a_min=1.0, a_max=0.0), "clip", "a_min", "a_max")
    expect_error(lambda: cn.nd.clip(a, a_min=1.0), "clip", "a_max", "missing")


def test_large_elemwise_div_forward_and_backward():
    rng = np.random.default_rng(0)
    a, b = rng.uniform(-1, 1, 200000), rng.uniform(0.5, 1.5, 200000)
    op = cn.ops.make("elemwise_div", {})
    np.testing.assert_allclose(op.invoke([a, b], [], False, 0)[0], a / b)
    dy = rng.uniform(-1, 1, a.shape)
    ga, gb = np.zeros(a.shape), np.zeros(b.shape)
    op.backward([dy], [a, b], [None], [ga, gb], [1, 1], [])
    np.testing.assert_allclose(ga, dy / b)
    np.testing.assert_allclose(gb, -dy * a / b**2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clip_backward_passes_dy_inside_the_closed_range_only(dtype):
    # Long and mixed (in range, out of range, on both bounds, NaN) so the vectorised select of
    # the backward kernel is exercised with its scalar tail.
    rng = np.random.default_rng(3)
    x = rng.uniform(-3, 9, 10_007).astype(dtype)
    x[:4] = [0, 6, np.nan, -0.0]
    dy = rng.standard_normal(x.shape).astype(dtype)
    xa = cn.nd.array(x.copy(), dtype=dtype)
    xa.attach_grad()
    with cn.autograd.record():
        y = cn.nd.clip(xa, a_min=0, a_max=6)
    y.backward(cn.nd.array(dy, dtype=dtype))
    want = np.where((x >= 0) & (x <= 6), dy, 0)
    assert np.array_equal(xa.grad.asnumpy(), want)
