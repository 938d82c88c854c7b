"""MXNet's `nd.image.*` and `sym.image.*`: to_tensor, normalize, flips, resize, crop.

They are C++ ops under MXNet's names (src/ops/image_ops.cc: _image_to_tensor, _image_normalize,
_image_flip_left_right, _image_flip_top_bottom, _image_crop, _image_resize), so they run in a
graph, record autograd history and have gradients where MXNet has them (normalize, flips, crop;
to_tensor and resize have none, as in MXNet). Layouts as MXNet's: HWC / NHWC images, except
normalize, which takes CHW / NCHW tensors. Beyond MXNet: flips take NHWC batches too, crop takes
`size=` (a resize after the crop), and resize with interp other than 0 / 1 (area, bicubic,
lanczos) runs on NDArrays through Pillow (no op, no graph). The random flips draw from
Python's `random` and exist on NDArrays only.
"""
from __future__ import annotations

import random

import numpy as np

from ..base import CoarsenetError
from ..ndarray import NDArray
from . import _np, _resize_np

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


def _ops():
    from .. import ndarray
    return ndarray


def _nd(data) -> NDArray:
    return data if isinstance(data, NDArray) else NDArray(np.asarray(data))


def _tuple(v):
    v = np.asarray(v, np.float64).ravel()
    return tuple(float(x) for x in v)


def to_tensor(data) -> NDArray:
    """HWC/NHWC in [0, 255] -> CHW/NCHW float32 in [0, 1] (every dtype is divided by 255)."""
    return _ops()._image_to_tensor(_nd(data))


def normalize(data, mean=0.0, std=1.0) -> NDArray:
    """(x - mean[c]) / std[c] on CHW/NCHW tensors; mean and std are scalars or per channel."""
    return _ops()._image_normalize(_nd(data), mean=_tuple(mean), std=_tuple(std))


def flip_left_right(data) -> NDArray:
    return _ops()._image_flip_left_right(_nd(data))


def flip_top_bottom(data) -> NDArray:
    return _ops()._image_flip_top_bottom(_nd(data))


def _copy(data) -> NDArray:
    """A copy that keeps autograd history for float arrays (the _copy op is float-only)."""
    x = _nd(data)
    if np.dtype(x.dtype).kind == "f":
        return _ops()._copy(x)
    return NDArray(x.asnumpy().copy())


def random_flip_left_right(data, p: float = 0.5) -> NDArray:
    return flip_left_right(data) if random.random() < p else _copy(data)


def random_flip_top_bottom(data, p: float = 0.5) -> NDArray:
    return flip_top_bottom(data) if random.random() < p else _copy(data)


def resize(data, size, keep_ratio: bool = False, interp: int = 1) -> NDArray:
    """Resizes HWC/NHWC images to size (w, h) (an int: square, or the short side with
    keep_ratio). interp 0 / 1 run the op (OpenCV's nearest / bilinear, as MXNet); the other
    codes run Pillow's filters on the array."""
    if interp in (0, 1):
        size = (int(size),) if isinstance(size, (int, np.integer)) else tuple(map(int, size))
        return _ops()._image_resize(_nd(data), size=size, keep_ratio=keep_ratio, interp=interp)
    x = _np(data)
    if x.ndim not in (3, 4):
        raise CoarsenetError(f"image.resize: expected a 3-D or 4-D image (HWC or NHWC), got "
                             f"shape {x.shape}")
    h, w = x.shape[-3], x.shape[-2]
    if isinstance(size, (int, np.integer)):
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
    out = _ops()._image_crop(_nd(data), x=int(x), y=int(y), width=int(width),
                             height=int(height))
    return resize(out, size, interp=interp) if size is not None else out
