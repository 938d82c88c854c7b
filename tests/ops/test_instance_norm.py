import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import check_op, expect_error


def instance_norm_ref(x, gamma, beta, eps=1e-3):
    axes = tuple(range(2, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return (x - mean) / np.sqrt(var + eps) * gamma.reshape(shape) + beta.reshape(shape)


@pytest.mark.parametrize("shape", [(2, 3, 5), (2, 3, 4, 4), (1, 2, 2, 3, 2), (3, 1, 7)])
def test_instance_norm(shape):
    c = shape[1]
    check_op("InstanceNorm", [shape, (c,), (c,)], {}, instance_norm_ref)


def test_instance_norm_eps():
    check_op("InstanceNorm", [(2, 2, 6), (2,), (2,)], dict(eps=0.5), instance_norm_ref)


def test_mxnet_doc_example():
    x = cn.nd.array(np.array([[[1.1, 2.2]], [[3.3, 4.4]]], np.float32))
    out = cn.nd.InstanceNorm(x, cn.nd.array(np.array([1.5], np.float32)),
                             cn.nd.array(np.array([0.5], np.float32))).asnumpy()
    np.testing.assert_allclose(out, [[[-0.997527, 1.99752665]], [[-0.99752653, 1.99752724]]],
                               rtol=1e-5)


def test_float32_planes_with_a_large_offset_keep_their_variance():
    rng = np.random.default_rng(2)
    x = (1e4 + rng.standard_normal((2, 3, 32, 32))).astype(np.float32)
    g, b = np.ones(3, np.float32), np.zeros(3, np.float32)
    out = cn.nd.InstanceNorm(cn.nd.array(x), cn.nd.array(g), cn.nd.array(b)).asnumpy()
    expected = instance_norm_ref(x.astype(np.float64), g, b)
    np.testing.assert_allclose(out, expected, rtol=0, atol=2e-3)


def test_matches_torch_instance_norm():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x, g, b = (rng.standard_normal(s).astype(np.float32) for s in ((4, 8, 16, 16), 8, 8))
    out = cn.nd.InstanceNorm(cn.nd.array(x), cn.nd.array(g), cn.nd.array(b)).asnumpy()
    expected = torch.nn.functional.instance_norm(torch.from_numpy(x), weight=torch.from_numpy(g),
                                                 bias=torch.from_numpy(b), eps=1e-3)
    np.testing.assert_allclose(out, expected.numpy(), rtol=1e-4, atol=1e-4)


def test_infer_shape():
    ins, outs, _ = cn.ops.make("InstanceNorm", {}).infer_shape([(4, 3, 8, 8), None, None])
    assert ins == [(4, 3, 8, 8), (3,), (3,)] and outs == [(4, 3, 8, 8), (4, 3), (4, 3)]


def test_bad_input_errors_name_the_op():
    g = cn.nd.ones(3)
    expect_error(lambda: cn.nd.InstanceNorm(cn.nd.ones((2, 3)), g, g),
                 "InstanceNorm", "at least 3 dims", "(2, 3)")
    expect_error(lambda: cn.nd.InstanceNorm(cn.nd.ones((2, 4, 5)), g, g),
                 "InstanceNorm", "gamma", "(4,)", "(3,)")
    expect_error(lambda: cn.nd.InstanceNorm(cn.nd.ones((2, 3, 5)), g, g, momentum=0.9),
                 "InstanceNorm", "momentum")
    expect_error(lambda: cn.nd.InstanceNorm(cn.nd.ones((2, 3, 0)), g, g),
                 "InstanceNorm", "no spatial positions")
