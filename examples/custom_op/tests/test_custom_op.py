"""Gradient checks of the example ops, with the same checker coarsenet uses for its own ops."""
import coarsenet_custom_op  # noqa: F401  registers the ops
import numpy as np

import coarsenet as cn
from coarsenet.testing import check_op


def test_scaled_tanh():
    check_op("ScaledTanh", shapes=[(4, 5)], params=dict(scale=2.5),
             ref=lambda x, scale: scale * np.tanh(x))


def test_squared_distance():
    check_op("SquaredDistance", shapes=[(6, 3), (6, 3)], ref=lambda a, b: ((a - b) ** 2).sum(1))


def test_imperative_call():
    x = cn.nd.array([[0.0, 1.0]])
    np.testing.assert_allclose(cn.nd.ScaledTanh(x, scale=3).asnumpy(), 3 * np.tanh([[0.0, 1.0]]),
                               rtol=1e-6)
