"""The per-sample augmentation of `ImageRecordIter`, in MXNet 1.9.1's default-augmenter order.

decode (RGB) -> resize shorter side to `resize` -> affine warp (rotate / max_rotate_angle /
max_shear_ratio / random scale / aspect ratio / max_img_size / min_img_size, borders filled with
fill_value) -> pad (fill_value) -> crop: either a square of random side in
[min_crop_size, max_crop_size] resized to data_shape, or a data_shape crop (random or centre; an
image smaller than data_shape is first scaled up, height then width, keeping its aspect ratio,
as MXNet does) -> colour: brightness, contrast, saturation (each a factor 1 + U(-v, v), in
that order) and pca_noise (AlexNet lighting with ImageNet's eigenvectors), each result rounded
and clipped to uint8 as OpenCV's saturate_cast does -> mirror / rand_mirror ->
(x - mean) / std * scale, CHW.

The warp follows MXNet's matrix formula and OpenCV's warpAffine sampling (checked against
MXNet's output for fixed `rotate`, min/max_img_size). Options MXNet has that we do not implement (colour jitter, HSL, PCA
noise, random_resized_crop, ...) are refused by name in check_params, never ignored.
"""
from __future__ import annotations

import math

import numpy as np

from ..base import CoarsenetError
from . import _resize_np

# MXNet ImageRecordIter parameters we accept but whose only valid value is the default: any
# other value raises an error naming the parameter (a silently ignored option is a wrong answer).
UNSUPPORTED = {
    "random_resized_crop": False, "max_random_area": 1.0, "min_random_area": 1.0,
    "random_h": 0, "random_s": 0, "random_l": 0, "max_random_contrast": 0.0,
    "max_random_illumination": 0.0, "mean_a": 0.0, "std_a": 1.0, "path_imglist": "",
    "aug_seq": "aug_default", "shuffle_chunk_size": 0, "shuffle_chunk_seed": 0,
}
# Accepted and meaningless here (logging, device placement: batches are host NDArrays).
NO_EFFECT = ("verbose", "device_id", "ctx")


def check_params(kwargs: dict) -> None:
    """Raises for unknown parameters and for unsupported ones set away from their default."""
    for k, v in kwargs.items():
        if k in NO_EFFECT:
            continue
        if k not in UNSUPPORTED:
            raise CoarsenetError(f"ImageRecordIter: unknown parameter {k!r}")
        if v != UNSUPPORTED[k] and not (v is None and k == "path_imglist"):
            raise CoarsenetError(f"ImageRecordIter: parameter {k}={v!r} is not supported by "
                                 f"coarsenet (only the default {UNSUPPORTED[k]!r}); use "
                                 "gluon.data.vision.transforms for this augmentation")


def _warp_needed(p) -> bool:
    return (p["max_rotate_angle"] > 0 or p["max_shear_ratio"] > 0 or p["rotate"] > 0
            or p["max_random_scale"] != 1.0 or p["min_random_scale"] != 1.0
            or p["max_aspect_ratio"] != 0.0 or p["max_img_size"] != 1e10
            or p["min_img_size"] != 0.0)


def _warp(img, rng, p):
    """MXNet's affine augmentation: output canvas scale*size (clipped to min/max_img_size)."""
    u = rng.random
    shear = u() * p["max_shear_ratio"] * 2 - p["max_shear_ratio"]
    angle = int(rng.integers(-p["max_rotate_angle"], p["max_rotate_angle"] + 1))
    if p["rotate"] > 0:
        angle = p["rotate"]
    a, b = math.cos(angle / 180.0 * math.pi), math.sin(angle / 180.0 * math.pi)
    lo, hi = p["min_random_scale"], p["max_random_scale"]
    scale = u() * (hi - lo) + lo
    amax, amin = p["max_aspect_ratio"], p["min_aspect_ratio"]
    ratio = u() * (amax - amin) + amin if amin is not None else u() * amax * 2 - amax + 1
    hs = 2 * scale / (1 + ratio)
    ws = ratio * hs
    h, w = img.shape[:2]
    # float sizes truncated by the canvas (as cv::Size(float, float) does)
    nw = int(max(p["min_img_size"], min(p["max_img_size"], scale * w)))
    nh = int(max(p["min_img_size"], min(p["max_img_size"], scale * h)))
    if nw < 1 or nh < 1:
        raise CoarsenetError(f"ImageRecordIter: the affine augmentation made an empty image "
                             f"({nw}x{nh}) from {w}x{h}")
    m = np.array([[hs * a - shear * b * ws, hs * b + shear * a * ws, 0.0],
                  [-b * ws, a * ws, 0.0]])
    m[0, 2] = (nw - (m[0, 0] * w + m[0, 1] * h)) / 2
    m[1, 2] = (nh - (m[1, 0] * w + m[1, 1] * h)) / 2
    return _warp_affine(img, np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2], nw, nh,
                        p["fill_value"], p["inter_method"] == 0)


def _warp_affine(img, inv, nw: int, nh: int, fill: int, nearest: bool):
    """cv::warpAffine with BORDER_CONSTANT: output pixel centre (x, y) samples the input at
    inv @ (x, y, 1); bilinear neighbours outside the image read `fill` (so edges blend with
    the fill colour as in OpenCV). Interpolation codes other than 0 (nearest) run bilinear."""
    h, w, c = img.shape
    ys, xs = np.mgrid[0:nh, 0:nw].astype(np.float64)
    sx = inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]
    sy = inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]
    src = np.full((h + 2, w + 2, c), fill, np.float64)  # one ring of fill around the image
    src[1:-1, 1:-1] = img

    def at(yi, xi):  # neighbours more than one pixel outside also read the fill ring
        ok = (yi >= -1) & (yi <= h) & (xi >= -1) & (xi <= w)
        v = src[np.clip(yi + 1, 0, h + 1), np.clip(xi + 1, 0, w + 1)]
        return np.where(ok[..., None], v, float(fill))

    if nearest:
        out = at(np.floor(sy + 0.5).astype(int), np.floor(sx + 0.5).astype(int))
    else:
        x0, y0 = np.floor(sx).astype(int), np.floor(sy).astype(int)
        fx, fy = (sx - x0)[..., None], (sy - y0)[..., None]
        out = ((1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1))
               + fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1)))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


_GRAY = np.array([0.299, 0.587, 0.114], np.float32)
# MXNet's colour jitter runs on OpenCV's BGR pixels with the R, G, B luma weights in that
# order, so its "gray" weighs R by 0.114 and B by 0.299; kept, so results match MXNet's
# (tests/test_image_iter_options.py fits MXNet's own output with these weights).
_GRAY_MX = np.array([0.114, 0.587, 0.299], np.float32)
_EIGVAL = np.array([55.46, 4.794, 1.148], np.float32)
_EIGVEC = np.array([[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140],
                    [-0.5836, -0.6948, 0.4203]], np.float32)


def _color(img, rng, p):
    """Brightness, contrast, saturation jitter and PCA lighting noise on an RGB uint8 image."""
    def u8(x):
        return np.clip(np.rint(x), 0, 255).astype(np.uint8)
    if p["brightness"] > 0:
        img = u8(img * np.float32(1 + rng.uniform(-p["brightness"], p["brightness"])))
    if p["contrast"] > 0:
        a = np.float32(1 + rng.uniform(-p["contrast"], p["contrast"]))
        gray = float((img.astype(np.float32) @ _GRAY_MX).mean())
        img = u8(img * a + np.float32(gray * (1 - a)))
    if p["saturation"] > 0:
        a = np.float32(1 + rng.uniform(-p["saturation"], p["saturation"]))
        x = img.astype(np.float32)
        img = u8(x * a + (x @ _GRAY_MX)[..., None] * (1 - a))
    if p["pca_noise"] > 0:
        alpha = rng.normal(0, p["pca_noise"], 3).astype(np.float32)
        img = u8(img + _EIGVEC @ (alpha * _EIGVAL))
    return img


def _pad(img, pad: int, fill: int):
    h, w, c = img.shape
    out = np.full((h + 2 * pad, w + 2 * pad, c), fill, img.dtype)
    out[pad:pad + h, pad:pad + w] = img
    return out


def _fit_up(img, oh: int, ow: int, interp: int):
    """MXNet's handling of an image smaller than data_shape: scale up to the height, then (if
    still too narrow) to the width, each step keeping the aspect ratio (truncated sizes)."""
    h, w = img.shape[:2]
    if h < oh:
        img = _resize_np(img, int(w * oh / h), oh, interp)
        h, w = img.shape[:2]
    if w < ow:
        img = _resize_np(img, ow, int(h * ow / w), interp)
    return img


def augment(img, rng, p, normalize: bool = True, out=None) -> np.ndarray:
    """One HxWx3 uint8 image -> CHW array, in the order of the module docstring. `out`: a
    float32 CHW array (a row of the batch) that the normalised float32 result is written into,
    saving three temporaries and the batch's stacking copy; the values are the same."""
    c, oh, ow = p["data_shape"]
    interp = p["inter_method"]
    if p["resize"] > 0:
        h, w = img.shape[:2]
        s = p["resize"]
        nw, nh = (s, int(s * h / w)) if h > w else (int(s * w / h), s)
        img = _resize_np(img, nw, nh, interp)
    if _warp_needed(p):
        img = _warp(img, rng, p)
    if p["pad"] > 0:
        img = _pad(img, p["pad"], p["fill_value"])
    h, w = img.shape[:2]
    if p["max_crop_size"] != -1 or p["min_crop_size"] != -1:
        lo, hi = p["min_crop_size"], p["max_crop_size"]
        if not (w >= hi and h >= hi and hi >= lo >= 1):
            raise CoarsenetError(f"ImageRecordIter: need 1 <= min_crop_size <= max_crop_size <= "
                                 f"image size, got {lo}, {hi} for a {w}x{h} image")
        s = int(rng.integers(lo, hi + 1))
        y0, x0 = h - s, w - s
        if p["rand_crop"]:
            y0, x0 = int(rng.integers(0, y0 + 1)), int(rng.integers(0, x0 + 1))
        else:
            y0, x0 = y0 // 2, x0 // 2
        img = _resize_np(img[y0:y0 + s, x0:x0 + s], ow, oh, interp)
    else:
        if h < oh or w < ow:
            img = _fit_up(img, oh, ow, interp)
            h, w = img.shape[:2]
        if p["rand_crop"]:
            y0, x0 = int(rng.integers(0, h - oh + 1)), int(rng.integers(0, w - ow + 1))
        else:
            y0, x0 = (h - oh) // 2, (w - ow) // 2
        img = img[y0:y0 + oh, x0:x0 + ow]
    if p["brightness"] > 0 or p["contrast"] > 0 or p["saturation"] > 0 or p["pca_noise"] > 0:
        if img.shape[2] != 3:
            raise CoarsenetError("ImageRecordIter: brightness/contrast/saturation/pca_noise need "
                                 "3-channel images")
        img = _color(img, rng, p)
    if p["mirror"] or (p["rand_mirror"] and rng.random() < 0.5):
        img = img[:, ::-1]
    if c == 1 and img.shape[2] == 3:
        img = (img.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]
    out_buf, out = out, np.moveaxis(img, 2, 0)
    if not normalize:
        return out.astype(np.float64)
    if p["dtype"] != "float32":
        return out.astype(p["dtype"])
    mean = p["mean_img"] if p["mean_img"] is not None else p["mean"][:c, None, None]
    # uint8 - float32 computes in float32, as astype(float32) then subtracting would
    res = np.subtract(out, mean, out=out_buf, dtype=np.float32)
    np.divide(res, p["std"][:c, None, None], out=res)
    if p["scale"] != 1.0:
        np.multiply(res, np.float32(p["scale"]), out=res)
    return res
