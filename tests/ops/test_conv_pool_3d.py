"""The 3-D paths of Convolution and Pooling (5-D NCDHW data): NumPy references, numeric
gradients in float64, float32 runs (check_op). MXNet's own results for the Gluon layers on top
are compared in tests/nn/test_layers_nd.py."""
import itertools

import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import check_op


def conv3d_ref(x, w, b=None, *, kernel, stride=(1, 1, 1), pad=(0, 0, 0), dilate=(1, 1, 1),
               num_filter, num_group=1, no_bias=False, **_):
    n, c = x.shape[:2]
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in pad])
    out = [(xp.shape[2 + i] - dilate[i] * (kernel[i] - 1) - 1) // stride[i] + 1
           for i in range(3)]
    y = np.zeros((n, num_filter, *out))
    cg, fg = c // num_group, num_filter // num_group
    for f in range(num_filter):
        grp = f // fg
        for kd, kh, kw in itertools.product(*[range(k) for k in kernel]):
            d0, h0, w0 = kd * dilate[0], kh * dilate[1], kw * dilate[2]
            patch = xp[:, grp * cg:(grp + 1) * cg,
                       d0:d0 + stride[0] * out[0]:stride[0],
                       h0:h0 + stride[1] * out[1]:stride[1],
                       w0:w0 + stride[2] * out[2]:stride[2]]
            y[:, f] += np.einsum("ncdhw,c->ndhw", patch, w[f, :, kd, kh, kw])
        if b is not None and not no_bias:
            y[:, f] += b[f]
    return y


@pytest.mark.parametrize("params", [
    dict(kernel=(2, 3, 2), num_filter=3),
    dict(kernel=(3, 2, 2), stride=(2, 1, 2), pad=(1, 0, 1), num_filter=2),
    dict(kernel=(2, 2, 2), dilate=(2, 1, 2), num_filter=4, num_group=2, no_bias=True),
])
def test_convolution_3d(params):
    c, f, g = (4 if params.get("num_group") else 2), params["num_filter"], \
        params.get("num_group", 1)
    shapes = [(2, c, 5, 4, 5), (f, c // g, *params["kernel"])]
    if not params.get("no_bias"):
        shapes.append((f,))
    check_op("Convolution", shapes, params, conv3d_ref)


def pool3d_ref(x, *, kernel=(1, 1, 1), stride=None, pad=(0, 0, 0), pool_type="max",
               pooling_convention="valid", count_include_pad=True, global_pool=False, **_):
    if global_pool:
        kernel, stride, pad = x.shape[2:], (1, 1, 1), (0, 0, 0)
    stride = stride or (1, 1, 1)
    size = x.shape[2:]
    out = []
    for i in range(3):
        span = size[i] + 2 * pad[i] - kernel[i]
        out.append((-(-span // stride[i]) if pooling_convention == "full" else
                    span // stride[i]) + 1)
    y = np.zeros(x.shape[:2] + tuple(out))
    for o in itertools.product(*[range(v) for v in out]):
        lo = [o[i] * stride[i] - pad[i] for i in range(3)]
        hi = [min(lo[i] + kernel[i], size[i] + pad[i]) for i in range(3)]
        clo = [max(v, 0) for v in lo]
        chi = [min(hi[i], size[i]) for i in range(3)]
        win = x[:, :, clo[0]:chi[0], clo[1]:chi[1], clo[2]:chi[2]]
        if pool_type == "max":
            y[(slice(None), slice(None), *o)] = win.max(axis=(2, 3, 4))
        else:
            count = (np.prod([hi[i] - lo[i] for i in range(3)]) if count_include_pad
                     else win[0, 0].size)
            total = win.sum(axis=(2, 3, 4))
            y[(slice(None), slice(None), *o)] = total / count if pool_type == "avg" else total
    return y


@pytest.mark.parametrize("params", [
    dict(kernel=(2, 2, 2), stride=(2, 2, 2), pool_type="max"),
    dict(kernel=(2, 3, 2), stride=(1, 2, 2), pad=(1, 1, 0), pool_type="max",
         pooling_convention="full"),
    dict(kernel=(3, 2, 2), stride=(2, 2, 2), pad=(1, 1, 1), pool_type="avg"),
    dict(kernel=(3, 2, 2), stride=(2, 2, 2), pad=(1, 1, 1), pool_type="avg",
         count_include_pad=False),
    dict(kernel=(2, 2, 2), pool_type="sum"),
    dict(global_pool=True, pool_type="avg"),
    dict(global_pool=True, pool_type="max"),
])
def test_pooling_3d(params):
    check_op("Pooling", [(2, 2, 4, 5, 5)], params, pool3d_ref)


def test_3d_errors_name_the_problem():
    x = cn.nd.zeros((1, 2, 3, 3, 3))
    w = cn.nd.zeros((2, 2, 2, 2))
    with pytest.raises(cn.base.CoarsenetError, match="5 dims"):
        cn.nd.Convolution(cn.nd.zeros((1, 2, 3, 3)), cn.nd.zeros((2, 2, 2, 2, 2)),
                          kernel=(2, 2, 2), num_filter=2, no_bias=True)
    with pytest.raises(cn.base.CoarsenetError, match="3 values"):
        cn.nd.Convolution(x, w, kernel=(2, 2, 2), stride=(1, 1), num_filter=2, no_bias=True)
    with pytest.raises(cn.base.CoarsenetError, match="larger than the padded input"):
        cn.nd.Pooling(x, kernel=(4, 2, 2), pool_type="max")
    with pytest.raises(cn.base.CoarsenetError, match="3 values"):
        cn.nd.Pooling(x, kernel=(2, 2), pool_type="max")
