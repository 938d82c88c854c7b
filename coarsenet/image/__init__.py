"""MXNet's `mx.image`: decode, resize, crop and normalize HxWxC images held in NDArrays.

Images are decoded and resized with Pillow (libjpeg-turbo inside its wheels, wheels for every
platform, HPND licence, and it releases the GIL while decoding and resizing, so worker threads
run in parallel). MXNet uses OpenCV: decoded JPEG pixels match MXNet's to within a few levels
(same libjpeg-turbo IDCT family), resized pixels differ more because Pillow's bilinear/area
filters antialias on downscaling where OpenCV's bilinear does not. Colour order is RGB as in
`mx.image.imdecode(to_rgb=1)`.
"""
from __future__ import annotations

from .. import ndarray as _ndarray
from .. import symbol as _symbol
from . import nd_image, sym_image
from .augment import *  # noqa: F403  the augmenters are mx.image.* names
from .augment import CreateAugmenter  # noqa: F401
from .core import *  # noqa: F403  imdecode, imread, imresize, crops, color_normalize, ...
from .core import _decode_array, _encode_array, _np, _resize_np  # noqa: F401  (im2rec, recordio)
from .iter import ImageDetIter, ImageIter  # noqa: F401

_ndarray.image = nd_image  # MXNet's nd.image namespace
_symbol.image = sym_image  # and sym.image
