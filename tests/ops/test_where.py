import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import check_op, expect_error


def where_ref(cond, x, y):
    if cond.ndim == 1 and x.ndim > 1:
        cond = cond.reshape((-1,) + (1,) * (x.ndim - 1))
    return np.where(cond != 0, x, y)


def _mask(i, shape, rng):
    return rng.integers(0, 2, size=shape).astype(np.float64) if i == 0 else None


@pytest.mark.parametrize("cond_shape,shape", [
    ((3, 4), (3, 4)), ((2, 3, 2), (2, 3, 2)), ((5,), (5,)),
    ((3,), (3, 4)), ((2,), (2, 3, 2)),  # one condition per row
])
def test_where(cond_shape, shape):
    # The condition gets a zero gradient and is a step function: only x and y are checked.
    check_op("where", [cond_shape, shape, shape], {}, where_ref, input_fn=_mask,
             grad_inputs=[1, 2])


def test_integer_condition_and_zero_condition_gradient():
    op = cn.ops.make("where", {})
    cond = np.array([[1, 0], [0, 3]], np.int32)
    x, y = np.ones((2, 2), np.float32), np.zeros((2, 2), np.float32)
    out = op.invoke([cond, x, y], [], False, 0)[0]
    np.testing.assert_array_equal(out, [[1, 0], [0, 1]])
    cn_x, cn_y, cn_c = cn.nd.array(x), cn.nd.array(y), cn.nd.array(cond.astype(np.float32))
    for a in (cn_x, cn_y, cn_c):
        a.attach_grad()
    with cn.autograd.record():
        z = cn.nd.where(cn_c, cn_x, cn_y)
    z.backward()
    np.testing.assert_array_equal(cn_x.grad.asnumpy(), [[1, 0], [0, 1]])
    np.testing.assert_array_equal(cn_y.grad.asnumpy(), [[0, 1], [1, 0]])
    np.testing.assert_array_equal(cn_c.grad.asnumpy(), np.zeros((2, 2)))


def test_bad_input_errors_name_the_op():
    x = cn.nd.ones((3, 4))
    expect_error(lambda: cn.nd.where(cn.nd.ones((4,)), x, x), "where", "condition", "(3,)", "(4,)")
    expect_error(lambda: cn.nd.where(cn.nd.ones((3, 4)), x, cn.nd.ones((4, 3))), "where", "y")
    expect_error(lambda: cn.nd.where(cn.nd.ones((3, 4)), x, x.astype(np.float64)),
                 "where", "float64")
