import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import check_op, expect_error


def _pair(v, default):
    return tuple(v) if v else (default, default)


def deconv_ref(x, w, b=None, kernel=None, stride=None, dilate=None, pad=None, adj=None,
               target_shape=None, num_filter=None, num_group=1, no_bias=True, **_):
    """Transposed convolution by scattering each kernel tap onto a canvas, then cropping pad."""
    (sh, sw), (dh, dw) = _pair(stride, 1), _pair(dilate, 1)
    (ph, pw), (ah, aw) = _pair(pad, 0), _pair(adj, 0)
    n, c, h, wd = x.shape
    _, fg, kh, kw = w.shape
    cg = c // num_group
    full_h, full_w = (h - 1) * sh + dh * (kh - 1) + 1, (wd - 1) * sw + dw * (kw - 1) + 1
    if target_shape:  # MXNet: crop the excess, the odd pixel going to adj
        ph, ah = (full_h - target_shape[0] + 1) // 2, (full_h - target_shape[0]) % 2
        pw, aw = (full_w - target_shape[1] + 1) // 2, (full_w - target_shape[1]) % 2
    canvas = np.zeros((n, fg * num_group, full_h + ah, full_w + aw))
    for g in range(num_group):
        for i in range(kh):
            for j in range(kw):
                canvas[:, g * fg:(g + 1) * fg, i * dh:i * dh + sh * (h - 1) + 1:sh,
                       j * dw:j * dw + sw * (wd - 1) + 1:sw] += np.einsum(
                    "nchw,cf->nfhw", x[:, g * cg:(g + 1) * cg], w[g * cg:(g + 1) * cg, :, i, j])
    y = canvas[:, :, ph:ph + full_h - 2 * ph + ah, pw:pw + full_w - 2 * pw + aw]
    if b is not None:
        y = y + b[None, :, None, None]
    return y


CASES = [  # (data shape, params)
    ((2, 3, 4, 5), dict(kernel=(3, 3), num_filter=4)),
    ((2, 3, 4, 4), dict(kernel=(4, 4), stride=(2, 2), pad=(1, 1), num_filter=2, no_bias=False)),
    ((1, 2, 4, 3), dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1), adj=(1, 1), num_filter=3)),
    ((2, 2, 4, 4), dict(kernel=(3, 3), dilate=(2, 2), pad=(2, 1), num_filter=2, no_bias=False)),
    ((2, 4, 4, 5), dict(kernel=(3, 3), stride=(2, 1), num_filter=6, num_group=2)),
    ((2, 4, 5, 5), dict(kernel=(3, 3), pad=(1, 1), num_filter=4, num_group=4)),  # depthwise
    ((2, 6, 4, 5), dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1), num_filter=3, num_group=3,
                        no_bias=False)),  # depthwise, 2 inputs per output channel
    ((2, 3, 4, 3), dict(kernel=(2, 3), stride=(2, 3), adj=(1, 2), num_filter=2)),  # non-square
    ((2, 5, 3, 4), dict(kernel=(1, 1), num_filter=3, no_bias=False)),  # 1x1: a plain GEMM
    ((2, 3, 4, 4), dict(kernel=(4, 4), stride=(2, 2), target_shape=(7, 8), num_filter=2)),
    # 3x3 stride 1 with >= 16 channels on small maps: Winograd blocks spanning images
    ((2, 16, 5, 4), dict(kernel=(3, 3), pad=(1, 1), num_filter=16, no_bias=False)),
    ((1, 17, 3, 4), dict(kernel=(3, 3), num_filter=16)),
    # 5 images: groups of 2, 2 and 1 images, each a GEMM, in parallel slots
    ((5, 4, 3, 3), dict(kernel=(3, 3), stride=(2, 2), num_filter=4, num_group=2, no_bias=False)),
]


@pytest.mark.parametrize("shape,params", CASES)
def test_deconvolution(shape, params):
    g, f = params.get("num_group", 1), params["num_filter"]
    shapes = [shape, (shape[1], f // g) + params["kernel"]]
    if not params.get("no_bias", True):
        shapes.append((f,))
    check_op("Deconvolution", shapes, params, deconv_ref)


def test_deconvolution_across_tiles_and_threads():
    # 40x45 inputs span two column tiles of 912 (72 column rows); 3 images run in parallel.
    params = dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1), num_filter=8, no_bias=False)
    check_op("Deconvolution", [(3, 3, 40, 45), (3, 8, 3, 3), (8,)], params, deconv_ref,
             max_points=40, check_inplace=False)


def test_no_bias_defaults_to_true_and_shapes_are_inferred():
    op = cn.ops.make("Deconvolution", dict(kernel=(4, 4), stride=(2, 2), pad=(1, 1), num_filter=6,
                                           num_group=3))
    assert op.input_names == ["data", "weight"]
    ins, outs, _ = op.infer_shape([(2, 9, 5, 7), None])
    assert ins == [(2, 9, 5, 7), (9, 2, 4, 4)] and outs == [(2, 6, 10, 14)]
    op = cn.ops.make("Deconvolution", dict(kernel=(3, 3), stride=(2, 2), target_shape=(10, 9),
                                           num_filter=1))
    assert op.infer_shape([(1, 1, 5, 5), None])[1] == [(1, 1, 10, 9)]


def test_matches_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((4, 6, 9, 8)), rng.standard_normal((6, 4, 3, 3))
    b = rng.standard_normal(8)
    params = dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1), adj=(1, 0), dilate=(1, 2),
                  num_filter=8, num_group=2, no_bias=False)
    op = cn.ops.make("Deconvolution", params)
    y = op.invoke([x, w, b], [])[0]
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    yt = torch.nn.functional.conv_transpose2d(xt, wt, bt, stride=2, padding=1,
                                              output_padding=(1, 0), groups=2, dilation=(1, 2))
    head = rng.standard_normal(yt.shape)
    yt.backward(torch.tensor(head))
    grads = [np.zeros_like(a) for a in (x, w, b)]
    op.backward([head], [x, w, b], [y], grads, [1, 1, 1], [])
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-10, atol=1e-10)
    for g, t in zip(grads, (xt, wt, bt)):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-10, atol=1e-10)


def test_bad_input_errors_name_the_op():
    x = cn.nd.ones((1, 2, 3, 3))
    deconv = cn.nd.Deconvolution
    expect_error(lambda: deconv(cn.nd.ones((1, 3, 3, 3)), cn.nd.ones((3, 2, 3, 3)), kernel=(3, 3),
                                num_filter=4, num_group=2), "Deconvolution", "channels (3",
                 "num_group (2)")
    expect_error(lambda: deconv(x, cn.nd.ones((2, 4, 3)), kernel=(3,), num_filter=4),
                 "Deconvolution", "only 2-D", "(3,)")
    expect_error(lambda: deconv(x, cn.nd.ones((2, 4, 1, 1)), kernel=(1, 1), num_filter=4,
                                layout="NHWC"), "Deconvolution", "NCHW")
    expect_error(lambda: deconv(x, cn.nd.ones((2, 4, 3, 3)), kernel=(3, 3), num_filter=4,
                                pad=(3, 3)), "Deconvolution", "output height would be -1")
    expect_error(lambda: deconv(x, cn.nd.ones((2, 4, 3, 3)), kernel=(3, 3), num_filter=4,
                                target_shape=(9, 5)), "Deconvolution", "target_shape", "(9)",
                 "(5)")
    expect_error(lambda: deconv(x, cn.nd.ones((2, 4, 2, 3)), kernel=(3, 3), num_filter=4),
                 "Deconvolution", "weight", "(2, 4, 3, 3)", "(2, 4, 2, 3)")
    expect_error(lambda: deconv(x, cn.nd.ones((2, 4, 1, 1)), cn.nd.ones(4), kernel=(1, 1),
                                num_filter=4, no_bias=False, num_group=3),
                 "Deconvolution", "num_filter (4)", "num_group (3)")
