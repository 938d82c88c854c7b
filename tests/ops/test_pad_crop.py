import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import check_op, expect_error


def pad_ref(x, mode, pad_width, constant_value=0.0):
    pairs = list(zip(pad_width[::2], pad_width[1::2]))
    if mode == "constant":
        return np.pad(x, pairs, mode="constant", constant_values=constant_value)
    return np.pad(x, pairs, mode=mode)


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect"])
@pytest.mark.parametrize("shape, pad_width", [
    ((2, 3, 4, 5), (0, 0, 0, 0, 1, 2, 2, 1)),
    ((1, 2, 3, 3), (0, 0, 0, 0, 2, 2, 0, 0)),
])
def test_pad(mode, shape, pad_width):
    params = dict(mode=mode, pad_width=pad_width)
    if mode == "constant":
        params["constant_value"] = 0.5
    check_op("Pad", [shape], params, pad_ref)


def test_pad_mxnet_doc_example():
    x = np.arange(1, 13, dtype=np.float32).reshape(1, 2, 2, 3)
    y = cn.nd.pad(cn.nd.array(x), mode="edge", pad_width=(0, 0, 0, 0, 1, 1, 1, 1)).asnumpy()
    np.testing.assert_array_equal(y[0, 0, :2], [[1, 1, 2, 3, 3], [1, 1, 2, 3, 3]])


def test_pad_errors():
    x = cn.nd.ones((1, 2, 3, 3))
    expect_error(lambda: cn.nd.Pad(x, mode="constant", pad_width=(1, 1, 0, 0, 1, 1, 1, 1)),
                 "Pad", "N and C")
    expect_error(lambda: cn.nd.Pad(x, mode="edge", pad_width=(0, 0, 1, 1)), "Pad", "8 entries")
    expect_error(lambda: cn.nd.Pad(x, mode="reflect", pad_width=(0, 0, 0, 0, 3, 0, 0, 0)),
                 "Pad", "reflect", "size 3")
    expect_error(lambda: cn.nd.Pad(x, mode="wrap", pad_width=(0,) * 8), "Pad", "'wrap'")
    expect_error(lambda: cn.nd.Pad(cn.nd.ones((2, 3)), mode="edge", pad_width=(0, 0, 0, 0)),
                 "Pad", "4-D")
    expect_error(lambda: cn.nd.Pad(cn.nd.ones((1, 1, 2, 2, 2)), mode="edge", pad_width=(0,) * 8),
                 "Pad", "4-D", "5-D padding is not supported")


@pytest.mark.parametrize("params", [
    dict(num_args=1, h_w=(2, 3)),
    dict(num_args=1, h_w=(3, 2), offset=(1, 2)),
    dict(num_args=1, h_w=(2, 2), center_crop=True),
])
def test_crop_one_input(params):
    def ref(x, h_w, offset=(0, 0), center_crop=False, **_):
        h, w = h_w
        y0, x0 = ((x.shape[2] - h) // 2, (x.shape[3] - w) // 2) if center_crop else offset
        return x[:, :, y0:y0 + h, x0:x0 + w]
    check_op("Crop", [(2, 3, 5, 6)], params, ref)


def test_crop_like_second_input():
    def ref(x, like, center_crop=False, **_):
        h, w = like.shape[2:]
        y0, x0 = ((x.shape[2] - h) // 2, (x.shape[3] - w) // 2) if center_crop else (0, 0)
        return x[:, :, y0:y0 + h, x0:x0 + w]
    case = check_op("Crop", [(2, 3, 7, 6), (2, 1, 4, 3)], dict(num_args=2, center_crop=True),
                    ref)
    assert case.op.input_names == ["data", "crop_like"]
    assert case.op.needs_inputs == [False, False]
    y = cn.sym.Crop(cn.sym.Variable("a"), cn.sym.Variable("b"), num_args=2)
    assert y.infer_shape(a=(1, 2, 9, 9), b=(1, 5, 4, 4))[1] == [(1, 2, 4, 4)]


def test_crop_errors():
    x = cn.nd.ones((1, 2, 4, 4))
    expect_error(lambda: cn.nd.Crop(x, num_args=1, h_w=(5, 2)), "Crop", "does not fit",
                 "(1, 2, 4, 4)")
    expect_error(lambda: cn.nd.Crop(x, num_args=1), "Crop", "positive")
    expect_error(lambda: cn.nd.Crop(x, num_args=3, h_w=(1, 1)), "Crop", "num_args", "3")


def upsample_ref(*xs, scale, num_args, sample_type="nearest", multi_input_mode="concat"):
    oh = xs[0].shape[2] * scale
    ups = [x.repeat(oh // x.shape[2], axis=2).repeat(oh // x.shape[2], axis=3) for x in xs]
    return sum(ups) if multi_input_mode == "sum" else np.concatenate(ups, axis=1)


@pytest.mark.parametrize("shapes, params", [
    ([(2, 3, 4, 5)], dict(scale=2)),
    ([(1, 2, 3, 3)], dict(scale=3)),
    ([(2, 2, 4, 4), (2, 3, 2, 2)], dict(scale=2)),
    ([(2, 2, 4, 4), (2, 2, 8, 8)], dict(scale=2, multi_input_mode="sum")),
])
def test_upsampling_nearest(shapes, params):
    params = dict(params, sample_type="nearest", num_args=len(shapes))
    check_op("UpSampling", shapes, params, upsample_ref)


def test_upsampling_errors():
    x = cn.nd.ones((1, 2, 3, 3))
    expect_error(lambda: cn.nd.UpSampling(x, scale=2, sample_type="bilinear", num_filter=2),
                 "UpSampling", "bilinear", "not supported")
    expect_error(lambda: cn.nd.UpSampling(x, scale=2), "UpSampling", "sample_type", "missing")
    expect_error(lambda: cn.nd.UpSampling(x, cn.nd.ones((1, 2, 4, 4)), scale=2,
                                          sample_type="nearest"),
                 "UpSampling", "arg1", "(1, 2, 4, 4)", "(6, 6)")
    expect_error(lambda: cn.nd.UpSampling(cn.nd.ones((2, 3)), scale=2, sample_type="nearest"),
                 "UpSampling", "4-D")
    y = cn.sym.UpSampling(cn.sym.Variable("x"), scale=2, sample_type="nearest", num_args=1)
    assert y.infer_shape(x=(1, 2, 3, 3))[1] == [(1, 2, 6, 6)]


def test_edge_padding_of_an_empty_axis_is_an_error():
    """Found by the fuzzer under AddressSanitizer: edge padding read and wrote outside the arrays
    when the padded axis had no values to copy."""
    for shape in [(1, 1, 0, 3), (1, 1, 3, 0)]:
        x = cn.nd.array(np.zeros(shape, np.float32))
        expect_error(lambda x=x: cn.nd.pad(x, mode="edge", pad_width=(0, 0, 0, 0, 1, 1, 1, 1)),
                     "pad", "edge padding of axis", "non-empty axis")
    x = cn.nd.array(np.zeros((1, 1, 0, 3), np.float32))  # constant padding is defined
    y = cn.nd.pad(x, mode="constant", pad_width=(0, 0, 0, 0, 1, 1, 1, 1), constant_value=2.0)
    np.testing.assert_array_equal(y.asnumpy(), np.full((1, 1, 2, 5), 2.0, np.float32))
