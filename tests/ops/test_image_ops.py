"""nd.image / sym.image ops (src/ops/image_ops.cc): NumPy references with numeric gradients, and
MXNet 1.9.1's output and gradients on the same inputs (tests/fixtures/mxnet/make_image_ops.py)."""
import os

import numpy as np
import pytest

import coarsenet as cn
from coarsenet import autograd
from coarsenet.base import CoarsenetError
from coarsenet.testing import check_op, expect_error

with np.load(os.path.join(os.path.dirname(__file__), "..", "fixtures", "mxnet",
                          "image_ops.npz")) as _z:
    FIX = dict(_z)  # read once: no open file held for the whole session
# name -> (nd.image function, params): the fixture's cases
CASES = {
    "to_tensor_u8": ("to_tensor", {}),
    "to_tensor_f32_batch": ("to_tensor", {}),
    "normalize": ("normalize", {"mean": (1.0, 2.0, 3.0), "std": (2.0, 3.0, 4.0)}),
    "normalize_scalar_batch": ("normalize", {"mean": 0.5, "std": 0.25}),
    "flip_lr_u8": ("flip_left_right", {}),
    "flip_lr_batch": ("flip_left_right", {}),
    "flip_tb": ("flip_top_bottom", {}),
    "flip_tb_batch": ("flip_top_bottom", {}),
    "crop": ("crop", {"x": 1, "y": 2, "width": 3, "height": 2}),
    "crop_u8_batch": ("crop", {"x": 0, "y": 1, "width": 4, "height": 3}),
    "resize_up_u8": ("resize", {"size": (9, 7)}),
    "resize_down_u8": ("resize", {"size": (4, 3)}),
    "resize_f32": ("resize", {"size": (8, 4)}),
    "resize_keep_ratio": ("resize", {"size": 4, "keep_ratio": True}),
    "resize_square": ("resize", {"size": 5}),
    "resize_nearest": ("resize", {"size": (9, 4), "interp": 0}),
    "resize_batch": ("resize", {"size": (3, 4)}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_mxnet(name):
    fn, params = CASES[name]
    x = FIX[name + "_in"]
    f = getattr(cn.nd.image, fn)
    if name + "_rejected" in FIX:  # MXNet only flips single images; we flip batches too
        ref = np.stack([getattr(cn.nd.image, fn)(cn.nd.array(im, dtype=x.dtype)).asnumpy()
                        for im in x])
        np.testing.assert_array_equal(f(cn.nd.array(x, dtype=x.dtype), **params).asnumpy(), ref)
        return
    want = FIX[name + "_out"]
    a = cn.nd.array(x, dtype=x.dtype)
    grad = name + "_grad" in FIX
    if grad:
        a.attach_grad()
        with autograd.record():
            y = f(a, **params)
        y.backward(cn.nd.array(FIX[name + "_head"]))
        np.testing.assert_allclose(a.grad.asnumpy(), FIX[name + "_grad"], rtol=1e-6, atol=1e-6)
    else:
        y = f(a, **params)
    got = y.asnumpy()
    if fn == "flip_top_bottom" and x.shape[-3] % 2:
        # MXNet 1.9.1 swaps row pairs and never writes the middle row of an odd height (it
        # holds stale memory); ours is the input's middle row
        mid = x.shape[-3] // 2
        np.testing.assert_array_equal(got[..., mid, :, :], x[..., mid, :, :])
        assert not np.array_equal(want[..., mid, :, :], x[..., mid, :, :])
        want = want.copy()
        want[..., mid, :, :] = got[..., mid, :, :]
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, got.dtype)
    # resize: OpenCV's fixed-point bilinear rounds a little differently from our float weights
    tol = 1 if fn == "resize" and want.dtype == np.uint8 else 1e-4 if fn == "resize" else 1e-6
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), atol=tol,
                               rtol=1e-6)


# ------------------------------------------------------------ NumPy references, numeric gradients

def normalize_ref(x, mean, std):
    c = x.shape[-3]
    m = np.resize(np.asarray(mean, np.float64), c).reshape(-1, 1, 1)
    s = np.resize(np.asarray(std, np.float64), c).reshape(-1, 1, 1)
    return (x - m) / s


@pytest.mark.parametrize("shape, mean, std", [
    ((3, 4, 5), (0.1, 0.2, 0.3), (0.5, 2.0, 1.5)),
    ((2, 3, 2, 3), 0.25, 0.75),
    ((1, 4, 4), (0.5,), (2.0,)),
    ((4, 2, 3), (0.1, 0.2, 0.3, 0.4), (1.0, 2.0, 3.0, 4.0)),
])
def test_normalize(shape, mean, std):
    check_op("_image_normalize", [shape], {"mean": mean, "std": std}, normalize_ref)


@pytest.mark.parametrize("shape", [(4, 5, 3), (2, 3, 4, 1)])
def test_flips(shape):
    check_op("_image_flip_left_right", [shape], {}, lambda x: np.flip(x, -2))
    check_op("_image_flip_top_bottom", [shape], {}, lambda x: np.flip(x, -3))


@pytest.mark.parametrize("shape, box", [((5, 6, 3), (1, 2, 3, 2)), ((2, 4, 4, 1), (0, 0, 4, 4)),
                                        ((3, 7, 2), (6, 0, 1, 3))])
def test_crop(shape, box):
    x, y, w, h = box

    def ref(a, **_):
        return a[..., y:y + h, x:x + w, :]
    check_op("_image_crop", [shape], {"x": x, "y": y, "width": w, "height": h}, ref)


def test_to_tensor_and_resize_forward_float64_and_no_gradient():
    rng = np.random.default_rng(1)
    x = rng.random((4, 5, 3)) * 255
    for dt in (np.float32, np.float64):
        got = cn.nd.image.to_tensor(cn.nd.array(x.astype(dt), dtype=dt)).asnumpy()
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, np.moveaxis(x, -1, 0) / 255, rtol=1e-6)
    # slow bilinear reference (half-pixel centres, clamped edges)
    h, w, nh, nw = 4, 5, 7, 3
    ref = np.zeros((nh, nw, 3))
    for i in range(nh):
        for j in range(nw):
            fy, fx = (i + 0.5) * h / nh - 0.5, (j + 0.5) * w / nw - 0.5
            y0, x0 = int(np.floor(fy)), int(np.floor(fx))
            dy, dx = fy - y0, fx - x0

            def px(a, b):
                return x[min(max(a, 0), h - 1), min(max(b, 0), w - 1)]
            ref[i, j] = ((1 - dy) * ((1 - dx) * px(y0, x0) + dx * px(y0, x0 + 1))
                         + dy * ((1 - dx) * px(y0 + 1, x0) + dx * px(y0 + 1, x0 + 1)))
    got = cn.nd.image.resize(cn.nd.array(x, dtype=np.float64), (nw, nh)).asnumpy()
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    a = cn.nd.array(x.astype(np.float32))
    a.attach_grad()
    with autograd.record():
        y = cn.nd.image.resize(a, (3, 3)).sum() + cn.nd.image.to_tensor(a).sum()
    y.backward()
    assert (a.grad.asnumpy() == 0).all()  # MXNet defines no gradient for these two


def test_symbolic_graph_matches_imperative():
    rng = np.random.default_rng(2)
    x = (rng.random((6, 8, 3)) * 255).astype(np.float32)
    d = cn.sym.var("data")
    s = cn.sym.image.normalize(
        cn.sym.image.to_tensor(cn.sym.image.flip_left_right(
            cn.sym.image.crop(cn.sym.image.resize(d, (10, 7)), 1, 1, 6, 5))),
        mean=(0.5, 0.4, 0.3), std=(0.2, 0.2, 0.2))
    assert s.infer_shape(data=x.shape)[1] == [(3, 5, 6)]
    ex = s.bind(cn.cpu(), {"data": cn.nd.array(x)})
    got = ex.forward()[0].asnumpy()
    n = cn.nd.image
    want = n.normalize(n.to_tensor(n.flip_left_right(n.crop(n.resize(cn.nd.array(x), (10, 7)),
                                                            1, 1, 6, 5))),
                       mean=(0.5, 0.4, 0.3), std=(0.2, 0.2, 0.2)).asnumpy()
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_integer_images_pass_through_and_other_interps_use_pillow():
    x = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    a = cn.nd.array(x, dtype=np.uint8)
    assert cn.nd.image.flip_top_bottom(a).dtype == np.uint8
    np.testing.assert_array_equal(cn.nd.image.crop(a, 1, 1, 2, 2, size=(4, 4)).shape, (4, 4, 3))
    r = cn.nd.image.resize(a, (3, 2), interp=2)  # bicubic: Pillow, not the op
    assert r.shape == (2, 3, 3) and r.dtype == np.uint8


def test_bad_input_errors_name_the_op():
    expect_error(lambda: cn.nd.image.crop(cn.nd.ones((5, 6, 3)), 4, 0, 3, 2), "_image_crop",
                 "outside the 6x5 image")
    with pytest.raises(CoarsenetError, match="_image_normalize.*std has a zero"):
        cn.nd.image.normalize(cn.nd.ones((3, 2, 2)), mean=0, std=(1, 0, 1))
    with pytest.raises(CoarsenetError, match="mean has 2 values"):
        cn.nd.image.normalize(cn.nd.ones((3, 2, 2)), mean=(1, 2), std=1)
    with pytest.raises(CoarsenetError, match="_image_to_tensor.*3-D"):
        cn.nd.image.to_tensor(cn.nd.ones((2, 2)))
    with pytest.raises(CoarsenetError, match="interp=2 is not supported"):
        cn.nd._image_resize(cn.nd.ones((2, 2, 3)), size=(3, 3), interp=2)
    with pytest.raises(CoarsenetError, match="size"):
        cn.nd.image.resize(cn.nd.ones((2, 2, 3)), (0, 3))
    # An empty source image has nothing to sample: it used to read memory outside the input.
    for empty in ((2, 3, 0, 4), (0, 4, 3), (4, 0, 3)):
        with pytest.raises(CoarsenetError, match="_image_resize.*height and width >= 1"):
            cn.nd.image.resize(cn.nd.zeros(empty), size=(3, 3))


def _bilinear_ref(x, size):
    """Slow OpenCV-style bilinear resize of HWC / NHWC x to size (w, h)."""
    nw, nh = size
    h, w = x.shape[-3], x.shape[-2]
    out = np.zeros(x.shape[:-3] + (nh, nw, x.shape[-1]))
    for i in range(nh):
        for j in range(nw):
            fy, fx = (i + 0.5) * h / nh - 0.5, (j + 0.5) * w / nw - 0.5
            y0, x0 = int(np.floor(fy)), int(np.floor(fx))
            dy, dx = fy - y0, fx - x0

            def px(a, b):
                return x[..., min(max(a, 0), h - 1), min(max(b, 0), w - 1), :]
            out[..., i, j, :] = ((1 - dy) * ((1 - dx) * px(y0, x0) + dx * px(y0, x0 + 1))
                                 + dy * ((1 - dx) * px(y0 + 1, x0) + dx * px(y0 + 1, x0 + 1)))
    return out


@pytest.mark.parametrize("shape", [(4, 5, 3), (2, 3, 4, 1)])
def test_to_tensor_and_resize_check_op(shape):
    check_op("_image_to_tensor", [shape], {}, lambda x: np.moveaxis(x, -1, -3) / 255, grad=False)
    check_op("_image_resize", [shape], {"size": (7, 2)}, lambda x, size: _bilinear_ref(x, size),
             grad=False)
