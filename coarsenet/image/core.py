"""The image functions of `mx.image` (decode, resize, crop, normalize), below the augmenters,
nd.image and the iterators of this package, which import them from here; coarsenet.image
re-exports them. See the package docstring."""
from __future__ import annotations

import io as _io
import random as _pyrandom

import numpy as np

from ..base import CoarsenetError
from ..ndarray import NDArray

try:
    from PIL import Image as _PILImage
except ImportError:  # pragma: no cover - Pillow is a declared dependency
    _PILImage = None

# MXNet/OpenCV interpolation codes -> Pillow filters (2 = area: Pillow's BOX is area averaging).
_INTERP = {0: 0, 1: 2, 2: 4, 3: 3, 4: 1}  # PIL: NEAREST=0 LANCZOS=1 BILINEAR=2 BICUBIC=3 BOX=4


def _pil():
    if _PILImage is None:
        raise CoarsenetError("coarsenet.image needs Pillow: pip install pillow")
    return _PILImage


def _np(src) -> np.ndarray:
    return src.asnumpy() if isinstance(src, NDArray) else np.asarray(src)


def _interp(interp: int, sizes=None) -> int:
    """Pillow filter for an MXNet interp code (9 = auto by scale, 10 = random, as MXNet)."""
    if interp == 9:
        if sizes is not None:
            oh, ow, nh, nw = sizes
            interp = 3 if nh > oh and nw > ow else (2 if nh < oh and nw < ow else 1)
        else:
            interp = 2
    elif interp == 10:
        interp = _pyrandom.randint(0, 4)
    if interp not in _INTERP:
        raise CoarsenetError(f"image: interp must be 0..4, 9 or 10, got {interp}")
    return _INTERP[interp]


def _decode_array(buf, flag: int = 1, to_rgb: bool = True, keep_gray: bool = False,
                  what: str = "imdecode") -> np.ndarray:
    """HxWx3 (or HxWx1 / HxW) uint8 array from encoded image bytes."""
    data = bytes(buf) if not isinstance(buf, bytes) else buf
    try:
        img = _pil().open(_io.BytesIO(data))
        img.load()
    except Exception as e:  # noqa: BLE001 - Pillow raises many types for bad bytes
        raise CoarsenetError(f"{what}: cannot decode image ({len(data)} bytes): {e}") from None
    if keep_gray and img.mode in ("L", "I;16", "1"):
        return np.asarray(img.convert("L"))
    if flag == 0:
        return np.asarray(img.convert("L"))[:, :, None]
    arr = np.asarray(img if img.mode == "RGB" else img.convert("RGB"))  # convert() would copy
    return arr if to_rgb else arr[:, :, ::-1].copy()


def _encode_array(img: np.ndarray, quality: int, img_fmt: str, from_bgr: bool) -> bytes:
    if img.dtype != np.uint8 or img.ndim not in (2, 3):
        raise CoarsenetError(f"pack_img: expected an HxW or HxWxC uint8 image, got "
                             f"{img.dtype} shape {img.shape}")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 3 and from_bgr:
        img = img[:, :, ::-1]
    out = _io.BytesIO()
    fmt = img_fmt.lower()
    if fmt in (".jpg", ".jpeg"):
        _pil().fromarray(np.ascontiguousarray(img)).save(out, "JPEG", quality=quality)
    elif fmt == ".png":
        _pil().fromarray(np.ascontiguousarray(img)).save(out, "PNG", compress_level=quality
                                                          if 0 <= quality <= 9 else 3)
    else:
        raise CoarsenetError(f"pack_img: img_fmt must be .jpg or .png, got {img_fmt!r}")
    return out.getvalue()


def imdecode(buf, flag: int = 1, to_rgb: int = 1, out=None) -> NDArray:
    """Decodes JPEG/PNG bytes to an HxWxC uint8 NDArray (C = 3, or 1 when flag=0)."""
    if isinstance(buf, NDArray):
        buf = buf.asnumpy().tobytes()
    elif isinstance(buf, np.ndarray):
        buf = buf.tobytes()
    return NDArray(_decode_array(buf, flag, bool(to_rgb)))


def imread(filename, flag: int = 1, to_rgb: int = 1) -> NDArray:
    """Reads and decodes an image file."""
    try:
        with open(filename, "rb") as f:
            data = f.read()
    except OSError as e:
        raise CoarsenetError(f"imread {filename}: cannot open ({e.strerror})") from None
    return NDArray(_decode_array(data, flag, bool(to_rgb), what=f"imread {filename}"))


def _resize_np(img: np.ndarray, w: int, h: int, interp: int = 1) -> np.ndarray:
    if w <= 0 or h <= 0:
        raise CoarsenetError(f"imresize: target size must be positive, got {w}x{h}")
    squeeze = img.ndim == 3 and img.shape[2] == 1
    arr = img[:, :, 0] if squeeze else img
    if arr.dtype == np.uint8:
        pil = _pil().fromarray(np.ascontiguousarray(arr))
        res = np.asarray(pil.resize((w, h), _interp(interp, (*img.shape[:2], h, w))))
    else:  # float images: per channel in float32 mode ("F")
        chans = [arr] if arr.ndim == 2 else [arr[:, :, c] for c in range(arr.shape[2])]
        f = _interp(interp, (*img.shape[:2], h, w))
        outs = [np.asarray(_pil().fromarray(np.ascontiguousarray(c, np.float32), "F")
                           .resize((w, h), f)) for c in chans]
        res = (outs[0] if arr.ndim == 2 else np.stack(outs, 2)).astype(arr.dtype)
    return res[:, :, None] if squeeze else res


def imresize(src, w: int, h: int, interp: int = 1) -> NDArray:
    """Resizes an HxWxC image to h x w."""
    return NDArray(_resize_np(_np(src), int(w), int(h), interp))


def scale_down(src_size, size):
    """Shrinks crop `size` (w, h) to fit in `src_size` (w, h), keeping its aspect ratio."""
    w, h = size
    sw, sh = src_size
    if sh < h:
        w, h = float(w * sh) / h, sh
    if sw < w:
        w, h = sw, float(h * sw) / w
    return int(w), int(h)


def _short_size(h: int, w: int, size: int) -> tuple[int, int]:
    if h > w:
        return size, int(size * h / w)  # (new_w, new_h), integer truncation as MXNet
    return int(size * w / h), size


def resize_short(src, size: int, interp: int = 2) -> NDArray:
    """Resizes so the shorter edge is `size`."""
    img = _np(src)
    nw, nh = _short_size(img.shape[0], img.shape[1], size)
    return NDArray(_resize_np(img, nw, nh, interp))


def fixed_crop(src, x0: int, y0: int, w: int, h: int, size=None, interp: int = 2) -> NDArray:
    """Crops [y0:y0+h, x0:x0+w], then resizes to `size` (w, h) when given."""
    img = _np(src)
    if x0 < 0 or y0 < 0 or w <= 0 or h <= 0 or x0 + w > img.shape[1] or y0 + h > img.shape[0]:
        raise CoarsenetError(f"fixed_crop: box x0={x0} y0={y0} w={w} h={h} outside image "
                             f"{img.shape[1]}x{img.shape[0]}")
    out = img[y0:y0 + h, x0:x0 + w]
    if size is not None and (w, h) != tuple(size):
        out = _resize_np(out, size[0], size[1], interp)
    return NDArray(np.ascontiguousarray(out))


def random_crop(src, size, interp: int = 2):
    """Random crop of `size` (w, h) (scaled down if larger than the image): (out, (x0,y0,w,h))."""
    img = _np(src)
    h, w = img.shape[:2]
    nw, nh = scale_down((w, h), size)
    x0 = _pyrandom.randint(0, w - nw)
    y0 = _pyrandom.randint(0, h - nh)
    return fixed_crop(img, x0, y0, nw, nh, size, interp), (x0, y0, nw, nh)


def center_crop(src, size, interp: int = 2):
    """Centre crop of `size` (w, h): (out, (x0, y0, w, h))."""
    img = _np(src)
    h, w = img.shape[:2]
    nw, nh = scale_down((w, h), size)
    x0 = int((w - nw) / 2)
    y0 = int((h - nh) / 2)
    return fixed_crop(img, x0, y0, nw, nh, size, interp), (x0, y0, nw, nh)


def random_size_crop(src, size, area, ratio, interp: int = 2, **kwargs):
    """Random crop with area fraction in `area` and aspect ratio in `ratio`, resized to `size`;
    falls back to center_crop after 10 tries, as MXNet."""
    img = _np(src)
    h, w = img.shape[:2]
    src_area = h * w
    if isinstance(area, (int, float)):
        area = (area, 1.0)
    for _ in range(10):
        target_area = _pyrandom.uniform(area[0], area[1]) * src_area
        log_ratio = (np.log(ratio[0]), np.log(ratio[1]))
        new_ratio = np.exp(_pyrandom.uniform(*log_ratio))
        new_w = round(np.sqrt(target_area * new_ratio))
        new_h = round(np.sqrt(target_area / new_ratio))
        if 0 < new_w <= w and 0 < new_h <= h:
            x0 = _pyrandom.randint(0, w - new_w)
            y0 = _pyrandom.randint(0, h - new_h)
            return fixed_crop(img, x0, y0, new_w, new_h, size, interp), (x0, y0, new_w, new_h)
    return center_crop(img, size, interp)


def color_normalize(src, mean, std=None) -> NDArray:
    """(src - mean) / std, broadcast over the channel axis."""
    img = _np(src).astype(np.float32)
    if mean is not None:
        img = img - _np(mean).astype(np.float32)
    if std is not None:
        img = img / _np(std).astype(np.float32)
    return NDArray(img)


def copyMakeBorder(src, top: int, bot: int, left: int, right: int, type: int = 0,
                   value=0, values=None) -> NDArray:
    """Pads an HxWxC image (type 0 constant, 1 replicate, 2 reflect, 3 wrap, 4 reflect_101)."""
    img = _np(src)
    modes = {0: "constant", 1: "edge", 2: "symmetric", 3: "wrap", 4: "reflect"}
    if type not in modes:
        raise CoarsenetError(f"copyMakeBorder: type must be 0..4, got {type}")
    pad = [(top, bot), (left, right)] + [(0, 0)] * (img.ndim - 2)
    if type == 0:
        out = np.pad(img, pad, mode="constant", constant_values=0)
        fill = values if values is not None else value
        fill = np.asarray(fill, img.dtype)
        mask = np.ones(out.shape[:2], bool)
        mask[top:top + img.shape[0], left:left + img.shape[1]] = False
        out[mask] = fill
        return NDArray(out)
    return NDArray(np.pad(img, pad, mode=modes[type]))
