"""mx.test_utils helpers (coarsenet/test_utils.py) and mx.util."""
import numpy as np
import pytest

import coarsenet as cn
from coarsenet import test_utils as tu


def test_comparisons():
    assert tu.same(cn.nd.ones((2,)), np.ones(2)) and not tu.same(cn.nd.ones((2,)), np.zeros(2))
    assert tu.almost_equal(cn.nd.array([1.0]), [1.0 + 1e-7])
    tu.assert_almost_equal(cn.nd.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-6]))
    with pytest.raises(AssertionError, match="out and ref differ"):
        tu.assert_almost_equal([1.0], [1.1], names=("out", "ref"))


def test_random_helpers_and_context():
    shape = tu.rand_shape_nd(3, dim=4)
    assert len(shape) == 3 and all(1 <= d <= 4 for d in shape)
    a = tu.rand_ndarray((2, 3))
    assert a.shape == (2, 3) and a.dtype == np.float32
    with pytest.raises(cn.CoarsenetError, match="storage type 'csr'"):
        tu.rand_ndarray((2, 3), stype="csr")
    assert tu.default_context() == cn.cpu() and cn.util.get_gpu_count() == 0


def test_check_symbolic_forward_compares_every_output():
    y = cn.sym.Activation(cn.sym.Variable("x"), act_type="relu")
    out = tu.check_symbolic_forward(y, [np.array([-1.0, 2.0])], [np.array([0.0, 2.0])])
    np.testing.assert_array_equal(out[0], [0, 2])
    with pytest.raises(AssertionError):
        tu.check_symbolic_forward(y, {"x": np.array([-1.0, 2.0])}, [np.array([1.0, 2.0])])
