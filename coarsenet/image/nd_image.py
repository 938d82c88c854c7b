"""MXNet's `nd.image.*` functions for data pipelines: to_tensor, normalize, flips, resize, crop.

These are NumPy functions on NDArrays, not registered C++ ops: they run in data loaders (no
gradient is needed there) and NumPy's vectorised code is as fast as a C++ loop for these
element-wise shuffles. They take HWC (or NHWC) images like MXNet's, except normalize, which
takes CHW / NCHW tensors as MXNet's does. They do not record autograd history.
"""
from __future__ import annotations

import random

import numpy as np

from ..base import CoarsenetError
from ..ndarray import NDArray
from .core import _np, _resize_np

__all__ = [
    "crop",
    "flip_left_right",
    "flip_top_bottom",
    "normalize",
    "random_flip_left_right",
    "random_flip_top_bottom",
    "resize",
    "to_tensor",
]


def _check_ndim(name: str, x: np.ndarray, ndims=(3, 4)) -> None:
    if x.ndim not in ndims:
        raise CoarsenetError(f"image.{name}: expected a {' or '.join(map(str, ndims))}-D image "
                             f"({'HWC or NHWC' if name != 'normalize' else 'CHW or NCHW'}), "
                             f"got shape {x.shape}")


def to_tensor(data) -> NDArray:
    """HWC/NHWC uint8 in [0, 255] -> CHW/NCHW float32 in [0, 1]."""
    x = _np(data)
    _check_ndim("to_tensor", x)
    out = np.moveaxis(x, -1, -3).astype(np.float32)
    if x.dtype == np.uint8:
        out /= 255.0
    return NDArray(np.ascontiguousarray(out))


def normalize(data, mean=0.0, std=1.0) -> NDArray:
    """(x - mean[c]) / std[c] on CHW/NCHW tensors; mean and std are scalars or per channel."""
    x = _np(data)
    _check_ndim("normalize", x)
    c = x.shape[-3]
    m = np.asarray(mean, np.float32).ravel()
    s = np.asarray(std, np.float32).ravel()
    for name, v in (("mean", m), ("std", s)):
        if v.size not in (1, c):
            raise CoarsenetError(f"image.normalize: {name} has {v.size} values, expected 1 or "
                                 f"{c} (channels)")
    if np.any(s == 0):
        raise CoarsenetError("image.normalize: std has a zero")
    shape = (-1, 1, 1)
    return NDArray(((x - m.reshape(shape)) / s.reshape(shape)).astype(x.dtype, copy=False))


def flip_left_right(data) -> NDArray:
    x = _np(data)
    _check_ndim("flip_left_right", x)
    return NDArray(np.ascontiguousarray(np.flip(x, axis=-2)))


def flip_top_bottom(data) -> NDArray:
    x = _np(data)
    _check_ndim("flip_top_bottom", x)
    return NDArray(np.ascontiguousarray(np.flip(x, axis=-3)))


def random_flip_left_right(data, p: float = 0.5) -> NDArray:
    return flip_left_right(data) if random.random() < p else NDArray(_np(data).copy())


def random_flip_top_bottom(data, p: float = 0.5) -> NDArray:
    return flip_top_bottom(data) if random.random() < p else NDArray(_np(data).copy())


def resize(data, size, keep_ratio: bool = False, interp: int = 1) -> NDArray:
    """Resizes HWC/NHWC images to size (w, h) (an int: square, or the short side with
    keep_ratio)."""
    x = _np(data)
    _check_ndim("resize", x)
    h, w = x.shape[-3], x.shape[-2]
    if isinstance(size, int):
        if keep_ratio:
            nw, nh = (size, int(size * h / w)) if h > w else (int(size * w / h), size)
        else:
            nw, nh = size, size
    else:
        nw, nh = size
    if x.ndim == 3:
        return NDArray(_resize_np(x, nw, nh, interp))
    return NDArray(np.stack([_resize_np(im, nw, nh, interp) for im in x]))


def crop(data, x: int, y: int, width: int, height: int, size=None, interp: int = 1) -> NDArray:
    """Crops [y:y+height, x:x+width] of HWC/NHWC images, then resizes to size (w, h) if given."""
    a = _np(data)
    _check_ndim("crop", a)
    h, w = a.shape[-3], a.shape[-2]
    if x < 0 or y < 0 or width <= 0 or height <= 0 or x + width > w or y + height > h:
        raise CoarsenetError(f"image.crop: box x={x} y={y} width={width} height={height} "
                             f"outside image {w}x{h}")
    out = np.ascontiguousarray(a[..., y:y + height, x:x + width, :])
    if size is not None:
        return resize(out, size, interp=interp)
    return NDArray(out)
