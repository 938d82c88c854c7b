"""PReLU, ELU, SELU, GELU, Swish against the values real MXNet 1.9.1 printed for the same input
(fresh blocks, default arguments, x = [-2, -0.5, 0.5, 2])."""
import numpy as np
import pytest

import coarsenet as cn

X = [-2.0, -0.5, 0.5, 2.0]
MXNET = {
    "PReLU": [-0.5, -0.125, 0.5, 2.0],
    "ELU": [-0.8646647, -0.3934694, 0.5, 2.0],
    "SELU": [-1.520167, -0.6917582, 0.5253505, 2.101402],
    "GELU": [-0.0455001, -0.1542688, 0.3457312, 1.9545],
    "Swish": [-0.2384058, -0.1887703, 0.3112297, 1.761594],
}


@pytest.mark.parametrize("name", sorted(MXNET))
@pytest.mark.parametrize("hybridize", [False, True])
def test_matches_mxnet(name, hybridize):
    block = getattr(cn.gluon.nn, name)()
    block.initialize()
    if hybridize:
        block.hybridize()
    np.testing.assert_allclose(block(cn.nd.array(X)).asnumpy(), MXNET[name], rtol=1e-5,
                               atol=1e-6)


def test_prelu_learns_its_alpha_named_as_mxnet():
    block = cn.gluon.nn.PReLU(in_channels=1, prefix="prelu0_")
    block.initialize()
    assert list(block.collect_params().keys()) == ["prelu0_alpha"]
    x = cn.nd.array([[-2.0, 3.0]])
    with cn.autograd.record():
        y = block(x).sum()
    y.backward()
    np.testing.assert_allclose(block.alpha.grad().asnumpy(), [-2.0])  # sum of x where x <= 0
