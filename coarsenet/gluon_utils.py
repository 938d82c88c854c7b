"""MXNet's `gluon.utils`: batch splitting across contexts, global-norm clipping, downloads.

Semantics follow MXNet 1.9.1 (checked against it in tests/nn/test_gluon_utils.py): uneven
splits size their slices as numpy.array_split does; `clip_global_norm` scales the
arrays in place by min(1, max_norm / (norm + 1e-8)) and returns the norm before clipping.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import warnings

import numpy as np

from . import ndarray as nd
from .base import CoarsenetError

__all__ = ["split_data", "split_and_load", "clip_global_norm", "check_sha1", "download"]


def split_data(data, num_slice: int, batch_axis: int = 0, even_split: bool = True) -> list:
    """Splits `data` into `num_slice` slices along `batch_axis`."""
    size = data.shape[batch_axis]
    if even_split and size % num_slice != 0:
        raise ValueError(
            f"data with shape {data.shape} cannot be evenly split into {num_slice} slices "
            f"along axis {batch_axis}. Use a batch size that's multiple of {num_slice} or set "
            "even_split=False to allow uneven partitioning of data.")
    # As numpy.array_split (MXNet 1.9.1): the first size % num_slice slices get one extra
    # element; with fewer elements than slices the last slices are empty.
    each, extras = divmod(size, num_slice)
    points = np.cumsum([0] + [each + 1] * extras + [each] * (num_slice - extras))
    bounds = list(zip(points[:-1].tolist(), points[1:].tolist()))
    if batch_axis == 0:
        return [data[lo:hi] for lo, hi in bounds]
    return [nd.slice_axis(data, axis=batch_axis, begin=lo, end=hi) for lo, hi in bounds]


def split_and_load(data, ctx_list, batch_axis: int = 0, even_split: bool = True) -> list:
    """Splits `data` (NDArray or array-like) into one slice per context in `ctx_list`."""
    if not isinstance(data, nd.NDArray):
        data = nd.array(data, ctx=ctx_list[0])
    if len(ctx_list) == 1:
        return [data.as_in_context(ctx_list[0])]
    slices = split_data(data, len(ctx_list), batch_axis, even_split)
    return [s.as_in_context(ctx) for s, ctx in zip(slices, ctx_list)]


def clip_global_norm(arrays, max_norm: float, check_isfinite: bool = True):
    """Rescales `arrays` in place so that their joint 2-norm is at most `max_norm`.

    Returns the norm before clipping: a Python float, or a 1-element NDArray when
    `check_isfinite=False` (MXNet's way to avoid a synchronisation).
    """
    if not arrays:
        raise CoarsenetError("clip_global_norm: expected a non-empty list of NDArrays, got "
                             "an empty one")
    total = np.sqrt(sum(float(np.sum(np.square(a.asnumpy(), dtype=np.float64)))
                        for a in arrays))
    if check_isfinite and not np.isfinite(total):
        warnings.warn(UserWarning("nan or inf is detected. Clipping results will be "
                                  "undefined."), stacklevel=2)
    scale = min(max_norm / (total + 1e-8), 1.0)
    for arr in arrays:
        arr *= scale
    if check_isfinite:
        return float(np.float32(total))
    return nd.array([total], dtype=arrays[0].dtype)


def check_sha1(filename: str, sha1_hash: str) -> bool:
    """True when the file's SHA-1 hex digest equals `sha1_hash`."""
    sha1 = hashlib.sha1()
    with open(filename, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            sha1.update(chunk)
    return sha1.hexdigest() == sha1_hash


def _target_path(url: str, path: str | None) -> str:
    name = url.split("/")[-1]
    if path is None:
        return name
    path = os.path.expanduser(path)
    return os.path.join(path, name) if os.path.isdir(path) else path


def download(url: str, path: str | None = None, overwrite: bool = False,
             sha1_hash: str | None = None, retries: int = 5, verify_ssl: bool = True) -> str:
    """Downloads `url` to `path` (a directory or file name) and returns the file name.

    Returns at once, without any network access, when the file is already there (and matches
    `sha1_hash` when one is given). A failed download raises CoarsenetError naming the URL.
    """
    fname = _target_path(url, path)
    if retries < 0:
        raise CoarsenetError(f"download: retries must be at least 0, got {retries}")
    if os.path.exists(fname) and not overwrite and (sha1_hash is None
                                                    or check_sha1(fname, sha1_hash)):
        return fname
    folder = os.path.dirname(os.path.abspath(fname))
    os.makedirs(folder, exist_ok=True)
    last_error: Exception | None = None
    for _ in range(retries + 1):
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".download-")
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=30) as resp:
                shutil.copyfileobj(resp, out)
            if sha1_hash and not check_sha1(tmp, sha1_hash):
                raise CoarsenetError(
                    f"download: the file from {url} does not match the expected SHA-1 "
                    f"{sha1_hash}; it may be corrupt or changed on the server")
            os.replace(tmp, fname)  # never leave a half-written file under the final name
            return fname
        except (urllib.error.URLError, OSError, ValueError, CoarsenetError) as e:
            last_error = e
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    raise CoarsenetError(f"download: could not fetch {url} to {fname} after {retries + 1} "
                         f"attempt(s) ({last_error}); this machine may be offline: place the "
                         "file there by hand and call again")
