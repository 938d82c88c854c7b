"""MXNet's `sym.image.*`: the image ops of nd_image.py on symbols (see src/ops/image_ops.cc).

The random flips and Pillow-only resize filters have no op, so they are not offered here.
"""
from __future__ import annotations

import numpy as np

__all__ = ["crop", "flip_left_right", "flip_top_bottom", "normalize", "resize", "to_tensor"]


def _sym():
    from .. import symbol
    return symbol


def to_tensor(data, **kw):
    return _sym()._image_to_tensor(data, **kw)


def normalize(data, mean=0.0, std=1.0, **kw):
    m = tuple(float(v) for v in np.ravel(mean))
    s = tuple(float(v) for v in np.ravel(std))
    return _sym()._image_normalize(data, mean=m, std=s, **kw)


def flip_left_right(data, **kw):
    return _sym()._image_flip_left_right(data, **kw)


def flip_top_bottom(data, **kw):
    return _sym()._image_flip_top_bottom(data, **kw)


def crop(data, x, y, width, height, **kw):
    return _sym()._image_crop(data, x=int(x), y=int(y), width=int(width), height=int(height),
                              **kw)


def resize(data, size, keep_ratio=False, interp=1, **kw):
    size = (int(size),) if isinstance(size, (int, np.integer)) else tuple(map(int, size))
    return _sym()._image_resize(data, size=size, keep_ratio=keep_ratio, interp=interp, **kw)
