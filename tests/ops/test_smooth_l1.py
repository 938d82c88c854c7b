import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import check_op, expect_error


def smooth_l1_ref(x, scalar=1.0):
    s2 = scalar * scalar
    return np.where(np.abs(x) < 1 / s2, 0.5 * (scalar * x) ** 2, np.abs(x) - 0.5 / s2)


def _spread(i, shape, rng):
    return rng.uniform(-3, 3, size=shape)  # both zones for every sigma below


@pytest.mark.parametrize("scalar", [1.0, 2.0, 0.5, -1.5])
def test_smooth_l1(scalar):
    check_op("smooth_l1", [(4, 25)], dict(scalar=scalar), smooth_l1_ref, input_fn=_spread)


def test_mxnet_doc_example_and_default_scalar():
    x = cn.nd.array(np.array([1, 2, 3, 4], np.float32))
    np.testing.assert_allclose(cn.nd.smooth_l1(x).asnumpy(), [0.5, 1.5, 2.5, 3.5])
    np.testing.assert_allclose(cn.nd.smooth_l1(x, scalar=1).asnumpy(), [0.5, 1.5, 2.5, 3.5])


def test_bad_input_errors_name_the_op():
    x = cn.nd.ones((2, 3))
    expect_error(lambda: cn.nd.smooth_l1(x, sigma=1.0), "smooth_l1", "sigma")
    expect_error(lambda: cn.nd.smooth_l1(x, scalar="big"), "smooth_l1", "'big'")
    expect_error(lambda: cn.nd.smooth_l1(x.astype(np.int32)), "smooth_l1", "int32")
