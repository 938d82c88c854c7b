"""Convolution paths chosen by shape (src/ops/conv/): polyphase strided convs, stride-2 Winograd,
3x3 stride-2 batch columns, depthwise on small maps, 1x1 convs. Each path: NumPy reference +
float64 numeric gradients (check_op), PyTorch in float32 and float64, and the same bits for 1, 2
and 3 threads."""
import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import check_op

from test_convolution import conv_ref


def _shapes(data, params):
    g, f = params.get("num_group", 1), params["num_filter"]
    shapes = [data, (f, data[1] // g) + tuple(params["kernel"])]
    return shapes if params.get("no_bias") else shapes + [(f,)]


def _params(kernel, f, stride=(1, 1), pad=(0, 0), groups=1, **extra):
    return dict(kernel=kernel, stride=stride, pad=pad, num_filter=f, num_group=groups, **extra)


# Polyphase (Geom::polyphase): stride > 1, no dilation, dense, >= 16 input channels, outputs of
# at least 16x16 positions. Odd sizes, pads 0-2, 3x3/2, 1x1/2, 5x5/2, 4x4/2, stride 3, mixed.
POLYPHASE = [
    ((2, 16, 33, 35), _params((3, 3), 5, (2, 2), (1, 1))),
    ((2, 16, 36, 37), _params((3, 3), 5, (2, 2), (0, 0), no_bias=True)),
    ((3, 17, 39, 33), _params((1, 1), 6, (2, 2))),
    ((1, 16, 40, 61), _params((3, 2), 4, (2, 3), (1, 0))),
    ((2, 16, 38, 38), _params((5, 5), 3, (2, 2), (2, 2))),
    ((2, 20, 32, 32), _params((4, 4), 3, (2, 2), (1, 1))),
    ((2, 16, 50, 51), _params((3, 3), 3, (3, 3), (1, 1))),
]


# Depthwise stride 1 beyond MobileNet's 3x3 pad 1 (depthwise_flat.h): a pad larger than the
# kernel reach (the data gradient is then scattered, not gathered), a 5x3 dilated kernel with
# multiplier 2 (not 9 taps), and 1x1 kernels with a pad.
DEPTHWISE_FLAT = [
    ((2, 8, 9, 8), _params((3, 3), 8, (1, 1), (3, 2), groups=8)),
    ((2, 6, 11, 10), _params((5, 3), 12, (1, 1), (2, 1), groups=6, dilate=(2, 1))),
    ((3, 5, 6, 7), _params((1, 1), 5, (1, 1), (1, 0), groups=5, no_bias=True)),
]


# Stride-2 Winograd forward (Geom::winograd_s2: 3x3/2, >= 16 channels each way, tiles mostly
# full); its gradients take the batch-column / polyphase paths. Partial tiles, odd sizes, pads 0-2.
WINOGRAD_S2 = [
    ((2, 16, 16, 16), _params((3, 3), 16, (2, 2), (1, 1))),
    ((2, 17, 31, 29), _params((3, 3), 18, (2, 2), (1, 1))),
    ((3, 16, 9, 9), _params((3, 3), 16, (2, 2), (0, 0), no_bias=True)),
    ((1, 16, 12, 13), _params((3, 3), 20, (2, 2), (2, 2))),
    # winograd_s2.h's input transform takes 16 (float) or 8 (double) consecutive tiles of a
    # block per vector, across tile rows and images: maps 1 tile wide (20 images: a full chunk
    # and a short one; 2 tile rows), 2 wide, 7 wide (ResNet's 56x56), 9 wide with odd sizes
    ((20, 16, 8, 8), _params((3, 3), 16, (2, 2), (1, 1))),
    ((3, 16, 17, 9), _params((3, 3), 17, (2, 2), (0, 0))),
    ((5, 16, 16, 15), _params((3, 3), 16, (2, 2), (1, 1), no_bias=True)),
    ((1, 16, 55, 56), _params((3, 3), 16, (2, 2), (1, 1))),
    ((1, 17, 70, 67), _params((3, 3), 16, (2, 2), (0, 0))),
]


# 3x3 stride-2 by batch columns (conv/strided_columns.h, Geom::strided_columns): every such
# weight gradient, and the data gradient on small maps. Odd sizes, pads 0-2, batch 1, channels
# not multiples of 16, and chunks of several images with a shorter last chunk (7 images of
# 64 channels on 17x17 outputs: chunks of 4 and 3).
STRIDED_COLUMNS = [
    ((1, 16, 9, 9), _params((3, 3), 5, (2, 2), (1, 1))),  # batch 1, 5x5 outputs
    ((3, 17, 10, 11), _params((3, 3), 6, (2, 2), (0, 0), no_bias=True)),  # 4x5 outputs
    ((2, 18, 7, 8), _params((3, 3), 20, (2, 2), (2, 2))),  # pad 2
    ((2, 24, 5, 5), _params((3, 3), 16, (2, 2), (1, 1))),  # 3x3 outputs from 5x5
    ((7, 64, 33, 33), _params((3, 3), 3, (2, 2), (1, 1))),  # 17x17: polyphase data gradient
    ((5, 16, 32, 31), _params((3, 3), 4, (2, 2), (0, 1), no_bias=True)),
]

# 1x1 stride-2 shortcuts with pad 0 on maps that are not small take their weight gradient by
# batch columns (Geom::strided_pointwise: the subsampled input as the column matrix); a padded
# one stays polyphase. Even and odd sizes, channels not multiples of 16.
STRIDED_POINTWISE = [
    ((2, 16, 32, 32), _params((1, 1), 8, (2, 2))),
    ((3, 24, 35, 38), _params((1, 1), 5, (2, 2), no_bias=True)),
    ((2, 16, 33, 33), _params((1, 1), 4, (2, 2), (1, 1))),  # padded: polyphase
]

# Weight gradients over fixed parts of the batch (conv/image_parts.h): convolutions with at most
# 64 column rows whose per-image GEMMs are small (LeNet's 1 -> 20 5x5 layer, 3-channel stems);
# the parts come from the shape, never from the thread count.
IMAGE_PARTS = [
    ((5, 1, 16, 16), _params((5, 5), 3, pad=(2, 2))),  # one image per part
    ((17, 3, 16, 17), _params((3, 3), 4, pad=(1, 1))),  # 2 images per part, the last 1
    ((3, 4, 16, 16), _params((3, 3), 4, pad=(1, 1), groups=2)),  # two groups of 18 rows
    ((4, 8, 16, 16), _params((1, 1), 5, no_bias=True)),  # 1x1: no columns
    ((2, 2, 33, 20), _params((3, 3), 3, stride=(2, 1), pad=(1, 0))),  # strided
    ((2, 4, 36, 36), _params((4, 4), 3)),  # 64 rows, 33x33 outputs in two column tiles
]

# Columns of stride-1 convolutions whose outputs are as wide as the input (columns.h ShiftRows:
# one masked shifted copy per column row): LeNet's 5x5 pad 2, dilated and asymmetric kernels,
# column tiles starting mid-row.
SAME_WIDTH = [
    ((3, 6, 9, 9), _params((5, 5), 4, pad=(2, 2))),  # small map: images side by side
    ((2, 3, 10, 10), _params((3, 3), 3, pad=(2, 2), dilate=(2, 2))),
    ((2, 3, 8, 9), _params((3, 5), 2, pad=(0, 2))),  # fewer output rows than input rows
    ((1, 3, 7, 7), _params((3, 7), 2, pad=(1, 3), no_bias=True)),  # kernel as wide as the map
    ((2, 8, 33, 33), _params((3, 3), 5, pad=(1, 1))),  # two column tiles, the second mid-row
    ((2, 2, 20, 17), _params((5, 5), 3, pad=(1, 2))),  # 17-wide rows, output rows cropped
]


@pytest.mark.parametrize("data,params", POLYPHASE + DEPTHWISE_FLAT + WINOGRAD_S2 + IMAGE_PARTS
                         + SAME_WIDTH + STRIDED_COLUMNS + STRIDED_POINTWISE)
def test_matches_reference(data, params):
    check_op("Convolution", _shapes(data, params), params, conv_ref, max_points=30,
             check_inplace=False)


def _run(params, arrays, threads, dtype):
    """Forward and every gradient of one Convolution call at a thread count."""
    before = cn.get_num_threads()
    cn.set_num_threads(threads)
    try:
        op = cn.ops.make("Convolution", params)
        ins = [a.astype(dtype) for a in arrays]
        y = op.invoke(ins, [])[0]
        head = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
        grads = [np.zeros_like(a) for a in ins]
        op.backward([head], ins, [y], grads, [1] * len(ins), [])
        return [y] + grads, head
    finally:
        cn.set_num_threads(before)


def _arrays(data, params, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in _shapes(data, params)]


def _torch_results(data, params, arrays, head):
    torch = pytest.importorskip("torch")
    ts = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    y = torch.nn.functional.conv2d(ts[0], ts[1], ts[2] if len(ts) > 2 else None,
                                   stride=params["stride"], padding=params["pad"],
                                   dilation=params.get("dilate", (1, 1)),
                                   groups=params["num_group"])
    y.backward(torch.tensor(head, dtype=torch.float64))
    return [y.detach().numpy()] + [t.grad.numpy() for t in ts]


# Shapes for PyTorch and thread checks: every path of this file (polyphase, depthwise small
# maps, 1x1 on small and large maps).
TORCH_CASES = POLYPHASE[:5] + [
    ((4, 24, 7, 7), _params((3, 3), 24, (1, 1), (1, 1), groups=24)),  # depthwise 7x7
    ((3, 16, 14, 13), _params((3, 3), 32, (1, 1), (1, 1), groups=16)),  # multiplier 2
    ((3, 16, 15, 14), _params((3, 3), 16, (2, 2), (1, 1), groups=16)),  # depthwise stride 2
] + DEPTHWISE_FLAT + WINOGRAD_S2 + IMAGE_PARTS + SAME_WIDTH + STRIDED_COLUMNS + STRIDED_POINTWISE + [
    ((5, 40, 7, 7), _params((1, 1), 24)),  # 1x1, small map
    ((3, 24, 14, 15), _params((1, 1), 40)),
    ((2, 24, 17, 19), _params((1, 1), 8)),
    ((2, 3, 40, 40), _params((3, 3), 8, (2, 2), (1, 1))),  # 3 channels: im2col, not polyphase
]


@pytest.mark.parametrize("data,params", TORCH_CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_pytorch(data, params, dtype):
    arrays = _arrays(data, params)
    ours, head = _run(params, arrays, 2, dtype)
    theirs = _torch_results(data, params, arrays, head.astype(np.float64))
    tol = 1e-4 if dtype == np.float32 else 1e-10
    for a, b in zip(ours, theirs):
        scale = max(1.0, float(np.abs(b).max()))
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * scale)


@pytest.mark.parametrize("data,params", TORCH_CASES)
def test_same_bits_for_1_2_3_threads(data, params):
    arrays = _arrays(data, params)
    one, _ = _run(params, arrays, 1, np.float32)
    for threads in (2, 3):
        other, _ = _run(params, arrays, threads, np.float32)
        for a, b in zip(one, other):
            assert np.array_equal(a, b), threads


def test_polyphase_deconvolution():
    # Deconvolution's forward is the convolution's data gradient: a 3x3/2 transposed conv with
    # output padding (adj) takes the polyphase path; compare with PyTorch.
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 8, 17, 18)), rng.standard_normal((8, 16, 3, 3))
    params = dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1), adj=(1, 0), num_filter=16,
                  no_bias=True)
    op = cn.ops.make("Deconvolution", params)
    y = op.invoke([x, w], [])[0]
    ref = torch.nn.functional.conv_transpose2d(torch.tensor(x), torch.tensor(w), stride=2,
                                               padding=1, output_padding=(1, 0))
    np.testing.assert_allclose(y, ref.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("adj", [(0, 0), (1, 0), (1, 1)])
def test_strided_columns_deconvolution(adj):
    # Deconvolution's forward on a small map (7x6 inputs, 16 output channels) runs the 3x3/2
    # batch-column data gradient, its weight gradient the batch-column one; the output padding
    # leaves dx rows and columns that no tap reaches. Compare all three with PyTorch.
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((3, 8, 7, 6)), rng.standard_normal((8, 16, 3, 3))
    b = rng.standard_normal(16)
    params = dict(kernel=(3, 3), stride=(2, 2), pad=(1, 1), adj=adj, num_filter=16,
                  no_bias=False)
    op = cn.ops.make("Deconvolution", params)
    y = op.invoke([x, w, b], [])[0]
    head = rng.standard_normal(y.shape)
    grads = [np.zeros_like(a) for a in (x, w, b)]
    op.backward([head], [x, w, b], [y], grads, [1, 1, 1], [])
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.conv_transpose2d(tx, tw, tb, stride=2, padding=1,
                                              output_padding=adj)
    ty.backward(torch.tensor(head))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-10, atol=1e-10)
    for ours, t in zip(grads, (tx, tw, tb)):
        np.testing.assert_allclose(ours, t.grad.numpy(), rtol=1e-10, atol=1e-10)


def test_deconvolution_same_width():
    torch = pytest.importorskip("torch")
    import coarsenet as cn

    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 4, 9, 9)), rng.standard_normal((4, 3, 5, 5))
    op = cn.ops.make("Deconvolution", dict(kernel=(5, 5), pad=(2, 2), num_filter=3,
                                          no_bias=True))
    y = op.invoke([x, w], [])[0]
    head = rng.standard_normal(y.shape)
    grads = [np.zeros_like(x), np.zeros_like(w)]
    op.backward([head], [x, w], [y], grads, [1, 1], [])
    tx, tw = (torch.tensor(a, requires_grad=True) for a in (x, w))
    ty = torch.nn.functional.conv_transpose2d(tx, tw, padding=2)
    ty.backward(torch.tensor(head))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(grads[0], tx.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(grads[1], tw.grad.numpy(), rtol=1e-10, atol=1e-10)
