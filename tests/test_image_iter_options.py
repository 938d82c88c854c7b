"""ImageRecordIter options against MXNet 1.9.1's own output on the same tiny .rec.

The fixture (tests/fixtures/mxnet/recordio/make_imgrec_options.py) ran MXNet's ImageRecordIter
with each deterministic option; here coarsenet reads the same file with the same options.
Tolerances: 1 grey level where an image is resized (OpenCV's fixed-point bilinear against
Pillow's), 5 for a 30-degree rotation (OpenCV quantises source coordinates to 1/32 pixel).
"""
import os
import warnings

import numpy as np
import pytest

import coarsenet as cn
from coarsenet.base import CoarsenetError

FIX = os.path.join(os.path.dirname(__file__), "fixtures", "mxnet", "recordio")
REC = os.path.join(FIX, "opts.rec")
with np.load(os.path.join(FIX, "mx_imgrec_opts.npz")) as _z:
    MX = dict(_z)  # read once: no open file held for the whole session

# the cases of make_imgrec_options.CASES (copied: that module imports mxnet)
CASES = {
    "plain": ({}, 1),
    "small_7x9": ({"data_shape": (3, 7, 9)}, 1),
    "pad_fill": ({"pad": 2, "fill_value": 7}, 0),
    "mirror": ({"mirror": True}, 1),
    "rotate90": ({"rotate": 90}, 1),
    "rotate30": ({"rotate": 30, "fill_value": 0}, 5),
    "min_img_size": ({"min_img_size": 14, "fill_value": 50}, 1),
    "max_img_size": ({"max_img_size": 7, "data_shape": (3, 6, 6)}, 1),
    "crop_size": ({"max_crop_size": 6, "min_crop_size": 6}, 1),
    "norm": ({"mean_r": 10, "mean_g": 20, "mean_b": 30, "std_r": 2, "std_g": 4, "std_b": 8,
              "scale": 0.5}, 0.25),
}


def _run(epochs=1, **kw):
    args = {"data_shape": (3, 8, 8), "batch_size": 3, "preprocess_threads": 2, **kw}
    it = cn.io.ImageRecordIter(REC, **args)
    data, labels, pads = [], [], []
    for _ in range(epochs):
        for b in it:
            data.append(b.data[0].asnumpy().copy())
            labels.append(b.label[0].asnumpy().copy())
            pads.append(b.pad)
        it.reset()
    it.close()
    return np.stack(data), np.stack(labels), np.array(pads)


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_mxnet(name):
    kw, tol = CASES[name]
    data, labels, pads = _run(**kw)
    assert data.shape == MX[name + "_data"].shape
    np.testing.assert_allclose(data, MX[name + "_data"], atol=tol, rtol=0)
    np.testing.assert_array_equal(labels, MX[name + "_label"])
    np.testing.assert_array_equal(pads, MX[name + "_pad"])


def test_small_image_is_scaled_up_height_then_width():
    """Slow reference for the 6x7 record with a 7x9 crop: height to 7 (width int(7*7/6)=8),
    then width to 9 (height int(7*9/8)=7), centre crop; each step keeps the aspect ratio."""
    from coarsenet.image.record_aug import _fit_up
    img = np.arange(6 * 7 * 3, dtype=np.uint8).reshape(6, 7, 3)
    assert _fit_up(img, 7, 9, 1).shape == (7, 9, 3)
    assert _fit_up(img, 8, 8, 1).shape == (8, 9, 3)
    assert _fit_up(img, 3, 3, 1) is img


def test_round_batch_carries_over_epochs_as_mxnet():
    """Epoch 0 wraps records 0, 1 into its last batch; epoch 1 then starts at record 2, ..."""
    _, labels, pads = _run(epochs=3)
    np.testing.assert_array_equal(labels, MX["epochs_label"])
    np.testing.assert_array_equal(pads, MX["epochs_pad"])


def test_round_batch_false_pads_with_zeros():
    # MXNet reports pad=0 and leaves stale memory in the filler; we count the filler as pad
    data, labels, pads = _run(round_batch=False)
    np.testing.assert_allclose(data[:2], MX["no_round_data"][:2], atol=1)
    np.testing.assert_allclose(data[2, 0], MX["no_round_data"][2, 0], atol=1)
    assert list(pads) == [0, 0, 2] and (data[2, 1:] == 0).all() and list(labels[2]) == [6, 0, 0]


def test_mean_img_is_computed_saved_and_loaded(tmp_path):
    path = str(tmp_path / "mean.nd")
    with pytest.warns(UserWarning, match="computing the mean image"):
        data, _, _ = _run(mean_img=path)
    assert os.path.exists(path)
    saved = cn.nd.load(path)
    assert list(saved) == ["mean_img"] and saved["mean_img"].shape == (3, 8, 8)
    mean = saved["mean_img"].asnumpy()
    # slow reference: the mean of the plain (centre-cropped, unnormalised) images, pixel by pixel
    plain = np.concatenate(_run()[0])[:7]
    ref = np.zeros((3, 8, 8))
    for c in range(3):
        for y in range(8):
            for x in range(8):
                ref[c, y, x] = sum(float(plain[i, c, y, x]) for i in range(7)) / 7
    np.testing.assert_allclose(mean, ref, atol=1e-4)
    # MXNet computed the same mean (within its own rounding of the one resized record)
    mx_mean = cn.nd.load(os.path.join(FIX, "mx_imgrec_mean.nd"))["mean_img"].asnumpy()
    np.testing.assert_allclose(mean, mx_mean, atol=1 / 7 + 1e-4)
    np.testing.assert_allclose(data, MX["mean_data"], atol=1.2)
    # an existing file is loaded, not recomputed: ours, and the one MXNet wrote
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again, _, _ = _run(mean_img=path)
        from_mx, _, _ = _run(mean_img=os.path.join(FIX, "mx_imgrec_mean.nd"))
    np.testing.assert_array_equal(again, data)
    np.testing.assert_allclose(from_mx, MX["mean_data"], atol=1)
    cn.nd.save(path, {"mean_img": cn.nd.zeros((3, 4, 4))})
    with pytest.raises(CoarsenetError, match="mean_img .* shape"):
        _run(mean_img=path)


def test_random_warp_is_seeded_and_keeps_shape():
    kw = {"max_rotate_angle": 20, "max_shear_ratio": 0.1, "min_random_scale": 0.8,
          "max_random_scale": 1.3, "max_aspect_ratio": 0.2, "rand_crop": True, "seed": 4}
    a, _, _ = _run(**kw)
    b, _, _ = _run(**kw)
    c, _, _ = _run(**kw, seed_aug=9)
    assert a.shape == (3, 3, 3, 8, 8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("kw", [{"random_resized_crop": True}, {"random_s": 5}, {"random_h": 10},
                                {"max_random_contrast": 0.3}, {"path_imglist": "x.lst"},
                                {"aug_seq": "det_aug_default"}, {"shuffle_chunk_size": 64}])
def test_unsupported_options_are_refused_by_name(kw):
    name = next(iter(kw))
    with pytest.raises(CoarsenetError, match=name):
        _run(**kw)


def test_unknown_and_no_effect_options():
    with pytest.raises(CoarsenetError, match="unknown parameter 'rand_mirrror'"):
        _run(rand_mirrror=True)
    with pytest.raises(CoarsenetError, match="fill_value"):
        _run(fill_value=300)
    with pytest.raises(CoarsenetError, match="min_crop_size"):
        _run(max_crop_size=20, min_crop_size=4)  # larger than the 6x7 record
    # defaults of unsupported options and device/logging options are accepted
    data, _, _ = _run(verbose=False, ctx="gpu", device_id=0, random_l=0, mean_a=0.0)
    np.testing.assert_allclose(data, MX["plain_data"], atol=1)


def _u8(x):
    return np.clip(np.rint(x), 0, 255)


def _fits_color_formula(opt, plain, got, weights=(0.114, 0.587, 0.299)):
    """Whether every image of `got` is its `plain` crop through the option's formula for one
    draw, solved for from the output (pixels that clipped at 0 or 255 are left out of the
    solve); returns the number of images the option changed."""
    gray_w = np.array(weights)[:, None, None]  # default: MXNet's luma weights in BGR order
    changed = 0
    for x, y in zip(plain, got):
        ok = (y > 0) & (y < 255)
        if opt == "brightness":
            a = (x * y)[ok].sum() / (x * x)[ok].sum()  # least squares for y = a * x
            ref = _u8(x * a)
        elif opt in ("contrast", "saturation"):
            g = (x * gray_w).sum(0, keepdims=True)
            g = g.mean() if opt == "contrast" else g
            a = ((x - g) * (y - g))[ok].sum() / ((x - g) ** 2)[ok].sum()
            ref = _u8(x * a + g * (1 - a))
        else:  # one RGB offset per image
            a = 1.0
            shift = np.array([np.median((y - x)[c][ok[c]]) for c in range(3)])
            ref = _u8(x + shift[:, None, None])
        assert 0.7 - 0.01 <= a <= 1.3 + 0.01, (opt, a)
        # the draw is solved for from rounded pixels: one grey level of slack
        assert np.abs(ref - y).max() <= 1, opt
        changed += not np.array_equal(x, y)
    return changed


@pytest.mark.parametrize("opt", ["brightness", "contrast", "saturation", "pca_noise"])
def test_color_jitter_follows_mxnet_formula(opt):
    """Each option alone, at 0.3: our output and MXNet's both fit the formula (the draws
    differ: different generators), and a seed repeats ours."""
    plain = np.concatenate(_run()[0])[:7].astype(np.float64)
    got = np.concatenate(_run(**{opt: 0.3}, seed=2)[0])[:7].astype(np.float64)
    again = np.concatenate(_run(**{opt: 0.3}, seed=2)[0])[:7]
    np.testing.assert_array_equal(got, again)
    assert _fits_color_formula(opt, plain, got) >= 5  # it did something to nearly every image
    mx_plain = MX["plain_data"].reshape(-1, 3, 8, 8)[:7].astype(np.float64)
    assert _fits_color_formula(opt, mx_plain, MX[f"color_{opt}_data"][0].astype(np.float64)) >= 5
    if opt == "saturation":  # the usual RGB-order weights do not fit MXNet's output
        with pytest.raises(AssertionError):
            _fits_color_formula(opt, mx_plain, MX["color_saturation_data"][0].astype(np.float64),
                                weights=(0.299, 0.587, 0.114))
