"""Whole small image datasets as arrays, for `python -m coarsenet train --data DIR_or_REC`.

The CLI's training loop holds its data in memory (it splits off a validation part), so images
are decoded once here: shorter side resized to the crop, centre-cropped to --data-shape and
scaled to [0, 1]. Large datasets belong in an ImageRecordIter loop (Module.fit takes it).
"""
from __future__ import annotations

import os

import numpy as np

from ..base import CoarsenetError
from .core import _np, center_crop, resize_short


def parse_shape(text: str) -> tuple[int, int, int]:
    try:
        shape = tuple(int(s) for s in text.split(","))
    except ValueError:
        shape = ()
    if len(shape) != 3 or shape[0] not in (1, 3) or min(shape) < 1:
        raise CoarsenetError(f"--data-shape must be C,H,W with C 1 or 3, found {text!r}")
    return shape


def load_images(path: str, data_shape) -> tuple[np.ndarray, np.ndarray]:
    """(x (N, C, H, W) float32 in [0, 1], y (N,) float32) from an image folder or a .rec file."""
    c, h, w = data_shape
    if path.endswith(".rec"):
        from .record_iter import ImageRecordIter
        it = ImageRecordIter(path, data_shape, 64, resize=min(h, w), scale=1 / 255.0,
                             round_batch=True)
        xs, ys = [], []
        for b in it:
            n = 64 - b.pad
            xs.append(b.data[0].asnumpy()[:n])
            ys.append(b.label[0].asnumpy()[:n])
        it.close()
        return np.concatenate(xs), np.concatenate(ys)
    if not os.path.isdir(path):
        raise CoarsenetError(f"--data {path}: expected a .npz, a .rec or an image folder")
    from ..gluon_data.dataset import ImageFolderDataset
    ds = ImageFolderDataset(path, flag=0 if c == 1 else 1)
    if len(ds) == 0:
        raise CoarsenetError(f"--data {path}: no images in its class sub-folders")
    x = np.empty((len(ds), c, h, w), np.float32)
    y = np.empty(len(ds), np.float32)
    for i in range(len(ds)):
        img, label = ds[i]
        img = center_crop(resize_short(img, min(h, w), 1), (w, h), 1)[0]
        x[i] = np.moveaxis(_np(img), 2, 0) / 255.0
        y[i] = label
    return x, y
