import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import check_op, expect_error


def _pair(v, default):
    return tuple(v) if v else (default, default)


def conv_ref(x, w, b=None, kernel=None, stride=None, dilate=None, pad=None, num_filter=None,
             num_group=1, no_bias=False, **_):
    """Direct 2-D convolution: one einsum per kernel tap over the padded input."""
    (sh, sw), (dh, dw), (ph, pw) = _pair(stride, 1), _pair(dilate, 1), _pair(pad, 0)
    n, c, h, wd = x.shape
    f, cg, kh, kw = w.shape
    fg = f // num_group
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    y = np.zeros((n, f, oh, ow))
    for g in range(num_group):
        for i in range(kh):
            for j in range(kw):
                patch = xp[:, g * cg:(g + 1) * cg, i * dh:i * dh + sh * (oh - 1) + 1:sh,
                           j * dw:j * dw + sw * (ow - 1) + 1:sw]
                y[:, g * fg:(g + 1) * fg] += np.einsum("nchw,fc->nfhw", patch,
                                                       w[g * fg:(g + 1) * fg, :, i, j])
    if b is not None:
        y += b[None, :, None, None]
    return y


CASES = [  # (data shape, params)
    ((2, 3, 6, 7), dict(kernel=(3, 3), pad=(1, 1), num_filter=4)),
    ((2, 3, 7, 7), dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1), num_filter=2)),
    ((1, 2, 8, 7), dict(kernel=(3, 3), pad=(2, 0), num_filter=3)),  # pad != kernel/2, batch 1
    ((2, 2, 8, 8), dict(kernel=(3, 3), dilate=(2, 2), pad=(1, 2), num_filter=2)),
    ((2, 4, 5, 6), dict(kernel=(3, 3), pad=(1, 1), num_filter=6, num_group=2)),
    ((2, 4, 6, 6), dict(kernel=(3, 3), pad=(1, 1), num_filter=4, num_group=4)),  # depthwise
    # depthwise (direct kernels): channel multiplier 2 with stride 2, dilation, non-square
    ((2, 3, 7, 6), dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1), num_filter=6, num_group=3)),
    ((2, 4, 9, 8), dict(kernel=(3, 3), dilate=(2, 2), pad=(2, 1), num_filter=4, num_group=4)),
    ((1, 3, 6, 7), dict(kernel=(2, 3), stride=(1, 2), num_filter=3, num_group=3, no_bias=True)),
    ((2, 3, 7, 6), dict(kernel=(2, 3), stride=(1, 2), pad=(1, 0), num_filter=2)),  # non-square
    ((2, 3, 5, 5), dict(kernel=(3, 3), num_filter=2, no_bias=True)),
    ((2, 5, 4, 3), dict(kernel=(1, 1), num_filter=3)),  # 1x1: GEMM on the data itself
    ((2, 4, 6, 6), dict(kernel=(1, 1), stride=(2, 2), num_filter=3)),  # strided 1x1: im2col
    # Small maps: Winograd blocks of tiles from several images (6x7, 4x4, 8x8 outputs) ...
    ((2, 16, 6, 7), dict(kernel=(3, 3), pad=(1, 1), num_filter=16)),
    ((1, 16, 7, 5), dict(kernel=(3, 3), pad=(0, 2), num_filter=17, no_bias=True)),
    ((5, 16, 4, 4), dict(kernel=(3, 3), pad=(1, 1), num_filter=18)),
    ((3, 17, 8, 8), dict(kernel=(3, 3), pad=(1, 1), num_filter=16)),
    # Winograd tile rows 4 and 8 tiles wide (the vector-shuffle input transform), uneven pads
    ((2, 16, 9, 14), dict(kernel=(3, 3), pad=(0, 2), num_filter=16, no_bias=True)),
    ((1, 16, 6, 34), dict(kernel=(3, 3), pad=(2, 0), num_filter=16)),
    # 1 and 2 tiles wide: lanes of 16 consecutive tiles across rows and images (gathered)
    ((20, 16, 4, 4), dict(kernel=(3, 3), pad=(1, 1), num_filter=16, no_bias=True)),
    ((3, 16, 7, 6), dict(kernel=(3, 3), pad=(1, 2), num_filter=16)),
    # ... or, too few outputs per tile (5x5), several images side by side in one column GEMM
    ((3, 16, 5, 5), dict(kernel=(3, 3), pad=(1, 1), num_filter=16)),
    # 5 images: groups of 2, 2 and 1 images, each a GEMM, in parallel slots
    ((5, 4, 5, 4), dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1), num_filter=6, num_group=2)),
]


@pytest.mark.parametrize("shape,params", CASES)
def test_convolution(shape, params):
    g, f = params.get("num_group", 1), params["num_filter"]
    shapes = [shape, (f, shape[1] // g) + params["kernel"]]
    if not params.get("no_bias"):
        shapes.append((f,))
    check_op("Convolution", shapes, params, conv_ref)


def test_convolution_across_tiles_and_threads():
    # 45x50 outputs span three column tiles of 912 (72 column rows), not aligned to rows;
    # 3 images run in parallel.
    params = dict(kernel=(3, 3), pad=(1, 1), num_filter=3)
    check_op("Convolution", [(3, 8, 45, 50), (3, 8, 3, 3), (3,)], params, conv_ref,
             max_points=40, check_inplace=False)


@pytest.mark.parametrize("data,f", [
    ((3, 192, 4, 4), 200),  # Winograd "wide": one block of every tile, U in slabs of filters
    ((40, 192, 8, 8), 176),  # wide with several blocks of tiles, U whole
])
def test_winograd_wide_plans(data, f):
    # float32 Winograd over 1728-term sums is good to ~1e-5 of the output scale (~40 here)
    params = dict(kernel=(3, 3), pad=(1, 1), num_filter=f)
    check_op("Convolution", [data, (f, data[1], 3, 3), (f,)], params, conv_ref, max_points=12,
             check_inplace=False, atol=2e-3)


def test_infers_weight_and_output_shapes():
    op = cn.ops.make("Convolution", dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1), num_filter=8,
                                         num_group=2))
    ins, outs, _ = op.infer_shape([(4, 6, 9, 10), None, None])
    assert ins == [(4, 6, 9, 10), (8, 3, 3, 3), (8,)] and outs == [(4, 8, 5, 5)]


def test_mxnet_string_params_and_ignored_tuning_params():
    op = cn.ops.make("Convolution", {"kernel": "(3, 3)", "num_filter": "4", "no_bias": "True",
                                     "stride": "()", "layout": "NCHW", "workspace": "1024",
                                     "cudnn_tune": "fastest", "cudnn_off": "False"})
    assert op.input_names == ["data", "weight"]
    _, outs, _ = op.infer_shape([(1, 2, 5, 5), None])
    assert outs == [(1, 4, 3, 3)]


@pytest.mark.parametrize("data,f,stride,pad,dilate,groups", [
    ((4, 6, 20, 21), 8, (2, 1), (1, 2), (1, 2), 2),
    ((3, 16, 40, 39), 24, (1, 1), (1, 1), (1, 1), 1),  # Winograd, several blocks of tile rows
    ((2, 6, 36, 34), 8, (2, 1), (1, 2), (1, 2), 2),  # 18x34 outputs: one image per GEMM
    ((6, 16, 16, 16), 16, (1, 1), (1, 1), (1, 1), 1),  # 16x16 outputs: Winograd
    ((6, 16, 15, 17), 16, (1, 1), (1, 1), (1, 1), 1),  # 15x17: Winograd, blocks span images
    ((7, 16, 8, 8), 20, (1, 1), (1, 1), (1, 1), 1),  # 8x8: 4 tiles per image, blocks span images
    ((5, 24, 4, 4), 16, (1, 1), (1, 1), (1, 1), 1),  # 4x4: one tile per image
    ((3, 16, 9, 7), 16, (1, 1), (0, 2), (1, 1), 1),  # 7x9 outputs: tiles overhang the edges
    ((4, 16, 5, 5), 16, (1, 1), (1, 1), (1, 1), 1),  # 5x5: too few outputs, direct columns
    ((9, 8, 4, 4), 12, (2, 2), (1, 1), (1, 1), 4),  # 2x2 outputs: groups of 3 images
    ((3, 8, 13, 11), 16, (2, 2), (1, 1), (1, 1), 8),  # depthwise, multiplier 2
])
def test_matches_pytorch(data, f, stride, pad, dilate, groups):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal(data)
    w, b = rng.standard_normal((f, data[1] // groups, 3, 3)), rng.standard_normal(f)
    params = dict(kernel=(3, 3), stride=stride, pad=pad, dilate=dilate, num_filter=f,
                  num_group=groups)
    op = cn.ops.make("Convolution", params)
    y = op.invoke([x, w, b], [])[0]
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    yt = torch.nn.functional.conv2d(xt, wt, bt, stride=stride, padding=pad, dilation=dilate,
                                    groups=groups)
    head = rng.standard_normal(yt.shape)
    yt.backward(torch.tensor(head))
    grads = [np.zeros_like(a) for a in (x, w, b)]
    op.backward([head], [x, w, b], [y], grads, [1, 1, 1], [])
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-10, atol=1e-10)
    for g, t in zip(grads, (xt, wt, bt)):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-10, atol=1e-10)


def test_bad_input_errors_name_the_op():
    x = cn.nd.ones((1, 2, 3, 3))
    conv = cn.nd.Convolution
    expect_error(lambda: conv(x, cn.nd.ones((4, 2, 5, 5)), cn.nd.ones(4), kernel=(5, 5),
                              num_filter=4), "Convolution", "(5, 5)", "(3, 3)")
    expect_error(lambda: conv(cn.nd.ones((1, 3, 5, 5)), cn.nd.ones((4, 1, 3, 3)), cn.nd.ones(4),
                              kernel=(3, 3), num_filter=4, num_group=2),
                 "Convolution", "channels (3", "num_group (2)")
    expect_error(lambda: conv(x, cn.nd.ones((4, 2, 3)), cn.nd.ones(4), kernel=(3,), num_filter=4),
                 "Convolution", "(h, w) for 2-D or (d, h, w) for 3-D", "(3,)")
    expect_error(lambda: conv(x, cn.nd.ones((4, 2, 1, 1, 1)), cn.nd.ones(4), kernel=(1, 1, 1),
                              num_filter=4), "Convolution", "5 dims")  # 3-D kernel
    expect_error(lambda: conv(x, cn.nd.ones((4, 2, 1, 1)), cn.nd.ones(4), kernel=(1, 1),
                              num_filter=4, layout="NHWC"), "Convolution", "NCHW")
    expect_error(lambda: conv(x, cn.nd.ones((4, 2, 1, 1)), cn.nd.ones(4), kernel=(1, 1),
                              num_filter=0), "Convolution", "num_filter", "0")
    expect_error(lambda: conv(x, cn.nd.ones((4, 2, 1, 1)), cn.nd.ones(4), kernel=(1, 1),
                              stride=(0, 1), num_filter=4), "Convolution", "stride", "(0, 1)")
    expect_error(lambda: conv(x, cn.nd.ones((4, 2, 1, 1)), cn.nd.ones(4), kernel=(0, 1),
                              num_filter=4), "Convolution", "kernel", "(0, 1)")
    expect_error(lambda: conv(cn.nd.ones((2, 3, 3)), cn.nd.ones((4, 2, 1, 1)), cn.nd.ones(4),
                              kernel=(1, 1), num_filter=4), "Convolution", "4 dims", "(2, 3, 3)")
    expect_error(lambda: conv(cn.nd.ones((1, 0, 3, 3)), cn.nd.ones((4, 0, 1, 1)), cn.nd.ones(4),
                              kernel=(1, 1), num_filter=4), "Convolution", "positive")
    expect_error(lambda: conv(x, cn.nd.ones((4, 2, 3, 2)), cn.nd.ones(4), kernel=(3, 3),
                              num_filter=4),
                 "Convolution", "weight", "(4, 2, 3, 3)", "(4, 2, 3, 2)")
    expect_error(lambda: conv(x, cn.nd.ones((4, 2, 3, 3)), kernel=(3, 3), num_filter=4),
                 "Convolution", "bias")


def test_workspace_is_sized_in_the_calls_dtype():
    # Scratch is stated in elements (ABI 1.1 workspace_elems): float32 calls get half the
    # bytes of float64 calls; an unknown dtype gets the widest.
    op = cn.ops.make("Convolution", dict(kernel=(3, 3), pad=(1, 1), num_filter=32))
    ins, outs = [(4, 32, 16, 16), (32, 32, 3, 3), (32,)], [(4, 32, 16, 16)]
    for backward in (False, True):
        b32 = op.workspace_bytes(ins, outs, backward, 0)
        b64 = op.workspace_bytes(ins, outs, backward, 1)
        assert b32 > 0 and b64 == 2 * b32
        assert op.workspace_bytes(ins, outs, backward) == b64
    conv = cn.sym.Convolution(cn.sym.Variable("data"), kernel=(3, 3), pad=(1, 1), num_filter=32)
    for code, dtype in ((0, "float32"), (1, "float64")):  # the planner asks in the graph's dtype
        exe = conv.simple_bind(data=(4, 32, 16, 16), type_dict={"data": dtype})
        assert exe.memory_stats()["workspace_bytes"] == (  # forward's and backward's
            op.workspace_bytes(ins, outs, False, code) + op.workspace_bytes(ins, outs, True, code))
