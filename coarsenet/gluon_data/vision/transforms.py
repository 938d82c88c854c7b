"""MXNet's gluon.data.vision.transforms: callables on HxWxC images (before ToTensor) and CxHxW
tensors (Normalize). Random ones draw from Python's `random` / NumPy's global generator, which
DataLoader workers seed per worker."""
from __future__ import annotations

import random

import numpy as np

from ...base import CoarsenetError
from ...image import _np, center_crop, imresize, nd_image, random_size_crop, resize_short
from ...image import augment as _aug
from ...ndarray import NDArray


class Transform:
    def __call__(self, x, *args):
        out = self.forward(x)
        return (out, *args) if args else out

    def forward(self, x):
        raise NotImplementedError


class Compose(Transform):
    def __init__(self, transforms):
        self._transforms = list(transforms)

    def forward(self, x):
        for t in self._transforms:
            x = t(x)
        return x


class Cast(Transform):
    def __init__(self, dtype="float32"):
        self._dtype = dtype

    def forward(self, x):
        return NDArray(_np(x).astype(self._dtype))


class ToTensor(Transform):
    def forward(self, x):
        return nd_image.to_tensor(x)


class Normalize(Transform):
    def __init__(self, mean=0.0, std=1.0):
        self._mean, self._std = mean, std

    def forward(self, x):
        return nd_image.normalize(x, self._mean, self._std)


def _wh(size):
    return (size, size) if isinstance(size, int) else tuple(size)


class Resize(Transform):
    def __init__(self, size, keep_ratio=False, interpolation=1):
        self._size, self._keep, self._interp = size, keep_ratio, interpolation

    def forward(self, x):
        if isinstance(self._size, int) and self._keep:
            return resize_short(x, self._size, self._interp)
        return imresize(x, *_wh(self._size), interp=self._interp)


class CenterCrop(Transform):
    def __init__(self, size, interpolation=1):
        self._size, self._interp = _wh(size), interpolation

    def forward(self, x):
        return center_crop(x, self._size, self._interp)[0]


class RandomResizedCrop(Transform):
    def __init__(self, size, scale=(0.08, 1.0), ratio=(3.0 / 4.0, 4.0 / 3.0), interpolation=1):
        self._size, self._scale, self._ratio = _wh(size), scale, ratio
        self._interp = interpolation

    def forward(self, x):
        return random_size_crop(x, self._size, self._scale, self._ratio, self._interp)[0]


class RandomCrop(Transform):
    """Random crop of `size` (w, h) after optional zero/pad_value padding of `pad` pixels."""

    def __init__(self, size, pad=None, pad_value=0, interpolation=1):
        self._size, self._pad, self._value = _wh(size), pad, pad_value

    def forward(self, x):
        img = _np(x)
        if self._pad:
            p = self._pad
            img = np.pad(img, ((p, p), (p, p), (0, 0)), constant_values=self._value)
        h, w = img.shape[:2]
        cw, ch = self._size
        if cw > w or ch > h:
            raise CoarsenetError(f"RandomCrop: crop {cw}x{ch} larger than image {w}x{h}")
        x0, y0 = random.randint(0, w - cw), random.randint(0, h - ch)
        return NDArray(np.ascontiguousarray(img[y0:y0 + ch, x0:x0 + cw]))


class RandomFlipLeftRight(Transform):
    def forward(self, x):
        return nd_image.random_flip_left_right(x)


class RandomFlipTopBottom(Transform):
    def forward(self, x):
        return nd_image.random_flip_top_bottom(x)


class _Keep(Transform):
    """Runs a float augmenter and casts back to the input dtype (uint8 clipped to 0..255)."""

    aug = None

    def forward(self, x):
        src = _np(x)
        out = _np(self.aug(NDArray(src.astype(np.float32))))
        if src.dtype == np.uint8:
            out = np.clip(np.rint(out), 0, 255)
        return NDArray(out.astype(src.dtype))


class RandomBrightness(_Keep):
    def __init__(self, brightness):
        self.aug = _aug.BrightnessJitterAug(brightness)


class RandomContrast(_Keep):
    def __init__(self, contrast):
        self.aug = _aug.ContrastJitterAug(contrast)


class RandomSaturation(_Keep):
    def __init__(self, saturation):
        self.aug = _aug.SaturationJitterAug(saturation)


class RandomHue(_Keep):
    def __init__(self, hue):
        self.aug = _aug.HueJitterAug(hue)


class RandomColorJitter(_Keep):
    def __init__(self, brightness=0, contrast=0, saturation=0, hue=0):
        ts = [_aug.ColorJitterAug(brightness, contrast, saturation)]
        if hue:
            ts.append(_aug.HueJitterAug(hue))
        self.aug = _aug.SequentialAug(ts)


class RandomLighting(_Keep):
    def __init__(self, alpha):
        eigval = np.array([55.46, 4.794, 1.148])
        eigvec = np.array([[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140],
                           [-0.5836, -0.6948, 0.4203]])
        self.aug = _aug.LightingAug(alpha, eigval, eigvec)
