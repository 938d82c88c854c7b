"""Columns of stride-1 convolutions whose outputs are as wide as the input (columns.h,
ShiftRows: one masked shifted copy per column row instead of per-output-row segments): LeNet's
5x5 pad 2, dilated and asymmetric kernels, column tiles starting mid-row. NumPy reference +
float64 numeric gradients, PyTorch, and the same bits for 1, 2 and 3 threads."""
import numpy as np
import pytest

from coarsenet.testing import check_op

from test_conv_kernels import _arrays, _params, _run, _shapes, _torch_results
from test_convolution import conv_ref

CASES = [
    ((3, 6, 9, 9), _params((5, 5), 4, pad=(2, 2))),  # small map: images side by side
    ((2, 3, 10, 10), _params((3, 3), 3, pad=(2, 2), dilate=(2, 2))),
    ((2, 3, 8, 9), _params((3, 5), 2, pad=(0, 2))),  # fewer output rows than input rows
    ((1, 3, 7, 7), _params((3, 7), 2, pad=(1, 3), no_bias=True)),  # kernel as wide as the map
    ((2, 8, 33, 33), _params((3, 3), 5, pad=(1, 1))),  # two column tiles, the second mid-row
    ((2, 2, 20, 17), _params((5, 5), 3, pad=(1, 2))),  # 17-wide rows, output rows cropped
]


@pytest.mark.parametrize("data,params", CASES)
def test_matches_reference(data, params):
    check_op("Convolution", _shapes(data, params), params, conv_ref, max_points=30,
             check_inplace=False)


@pytest.mark.parametrize("data,params", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_pytorch(data, params, dtype):
    arrays = _arrays(data, params)
    ours, head = _run(params, arrays, 2, dtype)
    theirs = _torch_results(data, params, arrays, head.astype(np.float64))
    tol = 1e-4 if dtype == np.float32 else 1e-10
    for a, b in zip(ours, theirs):
        scale = max(1.0, float(np.abs(b).max()))
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * scale)


@pytest.mark.parametrize("data,params", CASES)
def test_same_bits_for_1_2_3_threads(data, params):
    arrays = _arrays(data, params)
    one, _ = _run(params, arrays, 1, np.float32)
    for threads in (2, 3):
        other, _ = _run(params, arrays, threads, np.float32)
        for a, b in zip(one, other):
            assert np.array_equal(a, b), threads


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
