"""Weight gradients over fixed parts of the batch (src/ops/conv/image_parts.h): convolutions with
at most 64 column rows whose per-image GEMMs are small (LeNet's 1 -> 20 5x5 layer, 3-channel
stems). NumPy reference + float64 numeric gradients, PyTorch, and the same bits for 1, 2 and 3
threads (the parts come from the shape, never from the thread count)."""
import numpy as np
import pytest

from coarsenet.testing import check_op

from test_conv_kernels import _arrays, _params, _run, _shapes, _torch_results
from test_convolution import conv_ref

CASES = [
    ((5, 1, 16, 16), _params((5, 5), 3, pad=(2, 2))),  # one image per part
    ((17, 3, 16, 17), _params((3, 3), 4, pad=(1, 1))),  # 2 images per part, the last 1
    ((3, 4, 16, 16), _params((3, 3), 4, pad=(1, 1), groups=2)),  # two groups of 18 rows
    ((4, 8, 16, 16), _params((1, 1), 5, no_bias=True)),  # 1x1: no columns
    ((2, 2, 33, 20), _params((3, 3), 3, stride=(2, 1), pad=(1, 0))),  # strided
    ((2, 4, 36, 36), _params((4, 4), 3)),  # 64 rows, 33x33 outputs in two column tiles
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
