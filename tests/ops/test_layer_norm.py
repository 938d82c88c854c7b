import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import check_op, expect_error


def layer_norm_ref(x, gamma, beta, axis=-1, eps=1e-5, output_mean_var=False):
    mean = x.mean(axis=axis, keepdims=True)
    std = np.sqrt(x.var(axis=axis, keepdims=True) + eps)
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]
    out = (x - mean) / std * gamma.reshape(shape) + beta.reshape(shape)
    return (out, mean, std) if output_mean_var else out


@pytest.mark.parametrize("shape,axis", [
    ((4, 6), -1), ((2, 3, 5), -1), ((1, 1), -1), ((7,), 0),
    ((2, 5, 3), 1), ((3, 4, 2, 2), 1), ((4, 3), 0), ((2, 3, 70), 1),
])
def test_layer_norm(shape, axis):
    c = shape[axis]
    check_op("LayerNorm", [shape, (c,), (c,)], dict(axis=axis), layer_norm_ref)


def test_layer_norm_eps_and_mean_std_outputs():
    check_op("LayerNorm", [(3, 8), (8,), (8,)], dict(eps=0.1), layer_norm_ref)
    # No gradient flows through mean and std (as in MXNet), so only the forward is checked.
    check_op("LayerNorm", [(3, 4, 5), (4,), (4,)], dict(axis=1, output_mean_var=True),
             layer_norm_ref, grad=False)


def test_float32_rows_with_a_large_offset_keep_their_variance():
    # E[x^2] - E[x]^2 in float32 would lose every digit here; the two passes in double do not.
    rng = np.random.default_rng(0)
    x = (1e4 + rng.standard_normal((4, 4096))).astype(np.float32)
    out = cn.nd.LayerNorm(cn.nd.array(x), cn.nd.ones(4096), cn.nd.zeros(4096)).asnumpy()
    expected = layer_norm_ref(x.astype(np.float64), np.ones(4096), np.zeros(4096))
    np.testing.assert_allclose(out, expected, rtol=0, atol=2e-3)


def test_matches_torch_layer_norm():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x, g, b = (rng.standard_normal(s).astype(np.float32) for s in ((64, 384), 384, 384))
    out = cn.nd.LayerNorm(cn.nd.array(x), cn.nd.array(g), cn.nd.array(b)).asnumpy()
    expected = torch.nn.functional.layer_norm(torch.from_numpy(x), (384,), torch.from_numpy(g),
                                              torch.from_numpy(b), eps=1e-5)
    np.testing.assert_allclose(out, expected.numpy(), rtol=1e-4, atol=1e-4)


def test_infer_shape():
    op = cn.ops.make("LayerNorm", dict(axis=1, output_mean_var=True))
    ins, outs, _ = op.infer_shape([(2, 5, 3), None, None])
    assert ins == [(2, 5, 3), (5,), (5,)] and outs == [(2, 5, 3), (2, 1, 3), (2, 1, 3)]


def test_bad_input_errors_name_the_op():
    x = cn.nd.ones((2, 5))
    expect_error(lambda: cn.nd.LayerNorm(x, cn.nd.ones(4), cn.nd.ones(5)),
                 "LayerNorm", "gamma", "(5,)", "(4,)")
    expect_error(lambda: cn.nd.LayerNorm(x, cn.nd.ones(5), cn.nd.ones(5), axis=2),
                 "LayerNorm", "axis 2", "(2, 5)")
    expect_error(lambda: cn.nd.LayerNorm(x, cn.nd.ones(5), cn.nd.ones(5), eps=-1),
                 "LayerNorm", "eps")
    expect_error(lambda: cn.nd.LayerNorm(x, cn.nd.ones(5), cn.nd.ones(5), epsilon=1),
                 "LayerNorm", "epsilon")
    expect_error(lambda: cn.nd.LayerNorm(x, cn.nd.ones(5).astype(np.float64), cn.nd.ones(5)),
                 "LayerNorm", "gamma", "float64")
    expect_error(lambda: cn.nd.LayerNorm(cn.nd.ones((2, 0)), cn.nd.ones(0), cn.nd.ones(0)),
                 "LayerNorm", "empty")


@pytest.mark.parametrize("shape,axis", [((8, 300), -1), ((3, 50, 130), 1)])
def test_float32_backward_matches_float64(shape, axis):
    # check_op checks gradients in float64; the float32 kernels must agree to float precision.
    rng = np.random.default_rng(3)
    op = cn.ops.make("LayerNorm", dict(axis=axis))
    xs = [rng.standard_normal(s) for s in (shape, shape[axis], shape[axis])]
    head = rng.standard_normal(shape)
    grads = {}
    for dt in (np.float32, np.float64):
        ins = [x.astype(dt) for x in xs]
        outs = op.invoke(ins, [], True, 0)
        grads[dt] = [np.zeros_like(x) for x in ins]
        heads = [head.astype(dt)] + [np.zeros_like(o) for o in outs[1:]]
        op.backward(heads, ins, outs, grads[dt], [1, 1, 1], [], is_train=True)
    for g32, g64 in zip(grads[np.float32], grads[np.float64]):
        np.testing.assert_allclose(g32, g64, rtol=1e-4, atol=1e-4 * np.abs(g64).max())
