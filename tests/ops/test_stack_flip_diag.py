import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import check_op, expect_error


@pytest.mark.parametrize("axis,n", [(0, 3), (2, 2), (-1, 1), (-2, 4)])
def test_stack(axis, n):
    check_op("stack", [(3, 4)] * n, dict(axis=axis, num_args=n),
             lambda *xs, axis, num_args: np.stack(xs, axis=axis))


def test_stack_function_and_errors():
    a = cn.nd.ones((2, 3))
    assert cn.nd.stack(a, a, a, axis=1).shape == (2, 3, 3)
    expect_error(lambda: cn.nd.stack(a, cn.nd.ones((3, 2))), "stack", "arg1")
    expect_error(lambda: cn.nd.stack(a, a, axis=3), "stack", "axis 3")


@pytest.mark.parametrize("axis", [(0,), (1, 2), (-1,), (0, 1, 2)])
def test_flip(axis):
    check_op("reverse", [(3, 4, 2)], dict(axis=axis), lambda x, axis: np.flip(x, axis))
    check_op("flip", [(2, 5)], dict(axis=axis[:1] if max(axis) < 2 else (0,)),
             lambda x, axis: np.flip(x, axis))


def diag_ref(x, k=0, axis1=0, axis2=1):
    if x.ndim == 1:
        return np.diag(x, k)
    return np.diagonal(x, k, axis1, axis2)


@pytest.mark.parametrize("shape,params", [((4,), dict()), ((3,), dict(k=2)), ((2,), dict(k=-1)),
                                          ((3, 4), dict()), ((3, 4), dict(k=1)),
                                          ((3, 4), dict(k=-2)), ((2, 3, 4), dict(axis1=2, axis2=0)),
                                          ((2, 3, 4), dict(k=1, axis1=-1, axis2=1)),
                                          ((3, 4), dict(k=5))])
def test_diag(shape, params):
    check_op("diag", [shape], params, diag_ref)


def test_diag_errors():
    expect_error(lambda: cn.nd.diag(cn.nd.ones((2, 2)), axis1=1, axis2=1), "diag", "differ")
    expect_error(lambda: cn.nd.diag(cn.nd.ones((2, 2)), axis1=2), "diag", "axis1")
