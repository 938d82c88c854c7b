"""MXNet's `mx.io.ImageRecordIter`: batches of decoded, augmented images from a `.rec` file.

Per sample, in MXNet's order: decode (RGB) -> resize shorter side to `resize` -> random scale
and aspect ratio -> crop to data_shape (random or centre; an image smaller than the crop is
first scaled up so its short side fits) -> random mirror -> (x - mean) / std * scale, CHW.
Each sample draws from its own generator seeded by (seed, epoch, position in the epoch), so a
run is repeatable whatever the thread timing. num_parts / part_index give each worker a
contiguous share of the records (every record lands in exactly one part).
"""
from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .. import recordio
from ..base import CoarsenetError
from ..io_base import DataBatch, DataDesc, DataIter
from ..ndarray import NDArray
from . import _decode_array, _resize_np
from .pipeline import Prefetcher


def _augment(img, rng, p) -> np.ndarray:
    """One HxWx3 uint8 image -> CHW float array, following the module docstring."""
    c, oh, ow = p["data_shape"]
    interp = p["inter_method"]
    if p["resize"] > 0:
        h, w = img.shape[:2]
        s = p["resize"]
        nw, nh = (s, int(s * h / w)) if h > w else (int(s * w / h), s)
        img = _resize_np(img, nw, nh, interp)
    lo, hi = p["min_random_scale"], p["max_random_scale"]
    amax, amin = p["max_aspect_ratio"], p["min_aspect_ratio"]
    if lo != 1.0 or hi != 1.0 or amax > 0:
        scale = rng.uniform(lo, hi)
        ratio = rng.uniform(amin, amax) if amin is not None else rng.uniform(1 - amax, 1 + amax)
        h, w = img.shape[:2]
        nw = max(1, round(w * scale * np.sqrt(ratio)))
        nh = max(1, round(h * scale / np.sqrt(ratio)))
        img = _resize_np(img, nw, nh, interp)
    h, w = img.shape[:2]
    if h < oh or w < ow:  # scale up so the crop fits
        f = max(oh / h, ow / w)
        img = _resize_np(img, max(ow, int(np.ceil(w * f))), max(oh, int(np.ceil(h * f))), interp)
        h, w = img.shape[:2]
    if p["rand_crop"]:
        y0, x0 = int(rng.integers(0, h - oh + 1)), int(rng.integers(0, w - ow + 1))
    else:
        y0, x0 = (h - oh) // 2, (w - ow) // 2
    img = img[y0:y0 + oh, x0:x0 + ow]
    if p["rand_mirror"] and rng.random() < 0.5:
        img = img[:, ::-1]
    if c == 1 and img.shape[2] == 3:
        img = (img.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]
    out = np.moveaxis(img, 2, 0)
    if p["dtype"] != "float32":
        return out.astype(p["dtype"])
    out = out.astype(np.float32)
    if p["mean_img"] is not None:
        out = out - p["mean_img"]
    else:
        out = out - p["mean"][:c, None, None]
    out = out / p["std"][:c, None, None]
    return out * p["scale"] if p["scale"] != 1.0 else out


class ImageRecordIter(DataIter):
    """Batches (data NCHW, label) from an image RecordIO file, MXNet's parameter names."""

    def __init__(self, path_imgrec, data_shape, batch_size, path_imgidx=None, label_width=1,
                 shuffle=False, seed=0, rand_crop=False, rand_mirror=False, resize=-1,
                 max_random_scale=1.0, min_random_scale=1.0, max_aspect_ratio=0.0,
                 min_aspect_ratio=None, mean_r=0.0, mean_g=0.0, mean_b=0.0, std_r=1.0,
                 std_g=1.0, std_b=1.0, mean_img=None, scale=1.0, inter_method=1,
                 preprocess_threads=4, prefetch_buffer=4, round_batch=True, num_parts=1,
                 part_index=0, data_name="data", label_name="softmax_label", dtype="float32",
                 skip_corrupt=False, **kwargs):
        super().__init__(batch_size)
        if len(data_shape) != 3 or data_shape[0] not in (1, 3) or min(data_shape) < 1:
            raise CoarsenetError(f"ImageRecordIter: data_shape must be (C, H, W) with C 1 or 3, "
                                 f"got {data_shape}")
        if batch_size < 1 or label_width < 1 or preprocess_threads < 1:
            raise CoarsenetError("ImageRecordIter: batch_size, label_width and "
                                 "preprocess_threads must be >= 1")
        if not 0 <= part_index < num_parts:
            raise CoarsenetError(f"ImageRecordIter: part_index must lie in [0, {num_parts}), "
                                 f"got {part_index}")
        if dtype not in ("float32", "uint8", "int8"):
            raise CoarsenetError(f"ImageRecordIter: dtype must be float32, uint8 or int8, got "
                                 f"{dtype}")
        self.path_imgrec = str(path_imgrec)
        if path_imgidx and os.path.exists(path_imgidx):
            offsets = recordio.MXIndexedRecordIO(path_imgidx, path_imgrec, "r")
            offsets.close()
            offsets = sorted(offsets.idx.values())
        else:
            offsets = recordio.scan_offsets(self.path_imgrec)
        n = len(offsets)
        self._offsets = offsets[n * part_index // num_parts:n * (part_index + 1) // num_parts]
        if not self._offsets:
            raise CoarsenetError(f"ImageRecordIter: no records in {self.path_imgrec} "
                                 f"(part {part_index} of {num_parts})")
        self._f = open(self.path_imgrec, "rb")  # noqa: SIM115 - shared by workers via pread
        self._size = os.fstat(self._f.fileno()).st_size
        mimg = None
        if mean_img:
            from ..ndarray import load
            if not os.path.exists(mean_img):
                raise CoarsenetError(f"ImageRecordIter: mean_img {mean_img} not found (coarsenet "
                                     "does not compute it; save the mean CHW image with nd.save)")
            loaded = load(mean_img)
            arr = next(iter(loaded.values())) if isinstance(loaded, dict) else loaded[0]
            mimg = arr.asnumpy().astype(np.float32)
        self._p = {"data_shape": tuple(data_shape), "resize": resize, "rand_crop": rand_crop,
                   "rand_mirror": rand_mirror, "min_random_scale": min_random_scale,
                   "max_random_scale": max_random_scale, "max_aspect_ratio": max_aspect_ratio,
                   "min_aspect_ratio": min_aspect_ratio, "inter_method": inter_method,
                   "mean": np.array([mean_r, mean_g, mean_b], np.float32),
                   "std": np.array([std_r, std_g, std_b], np.float32), "mean_img": mimg,
                   "scale": scale, "dtype": dtype}
        if np.any(self._p["std"] == 0):
            raise CoarsenetError("ImageRecordIter: std_r/g/b must be non-zero")
        self.label_width, self.shuffle, self.seed = label_width, shuffle, seed
        self.round_batch, self.skip_corrupt = round_batch, skip_corrupt
        self.data_name, self.label_name = data_name, label_name
        self._depth = prefetch_buffer
        self._pool = ThreadPoolExecutor(preprocess_threads, thread_name_prefix="coarsenet-decode")
        self._epoch = -1
        self._pre = None
        self.reset()

    @property
    def provide_data(self):
        dt = np.float32 if self._p["dtype"] == "float32" else np.dtype(self._p["dtype"]).type
        return [DataDesc(self.data_name, (self.batch_size, *self._p["data_shape"]), dt)]

    @property
    def provide_label(self):
        shape = (self.batch_size,) if self.label_width == 1 else (self.batch_size,
                                                                  self.label_width)
        return [DataDesc(self.label_name, shape, np.float32)]

    def _sample(self, pos: int, offset: int):
        rng = np.random.default_rng([self.seed, self._epoch_seed, pos])
        got = recordio.read_record_at(self._f.fileno(), self._size, offset, self.path_imgrec)
        if got is None:
            raise CoarsenetError(f"ImageRecordIter {self.path_imgrec}: no record at offset "
                                 f"{offset}")
        header, payload = recordio.unpack(got[0])
        img = _decode_array(payload, 1, True, what=f"ImageRecordIter {self.path_imgrec} "
                            f"record at offset {offset}")
        label = np.zeros(self.label_width, np.float32)
        lab = np.atleast_1d(np.asarray(header.label, np.float32))
        label[:min(lab.size, self.label_width)] = lab[:self.label_width]
        return _augment(img, rng, self._p), label

    def _safe_sample(self, pos: int, offset: int):
        try:
            return self._sample(pos, offset)
        except CoarsenetError as e:
            if not self.skip_corrupt:
                raise
            return str(e)  # warned about by next(), in the consumer's thread

    def _make_batch(self, b: int):
        idx = self._order[b * self.batch_size:(b + 1) * self.batch_size]
        pad = self.batch_size - len(idx)
        if pad and self.round_batch:  # fill from the start of the epoch's order, as MXNet
            idx = np.concatenate([idx, np.resize(self._order, pad)])
        results = list(self._pool.map(self._safe_sample, range(b * self.batch_size,
                                                                 b * self.batch_size + len(idx)),
                                      [self._offsets[i] for i in idx]))
        kept = [r for r in results if not isinstance(r, str)]
        skipped = [r for r in results if isinstance(r, str)]
        if not kept:
            raise CoarsenetError(f"ImageRecordIter {self.path_imgrec}: every record of batch {b} "
                                 "is corrupt")
        pad += len(idx) - len(kept)  # skipped records
        data = np.stack([d for d, _ in kept])
        label = np.stack([lab for _, lab in kept])
        if len(kept) < self.batch_size:  # filler after the real samples: zeros
            fill = self.batch_size - len(kept)
            data = np.concatenate([data, np.zeros((fill, *data.shape[1:]), data.dtype)])
            label = np.concatenate([label, np.zeros((fill, *label.shape[1:]), label.dtype)])
        if self.label_width == 1:
            label = label[:, 0]
        batch = DataBatch([NDArray(data)], [NDArray(label)], pad=pad, index=idx,
                          provide_data=self.provide_data, provide_label=self.provide_label)
        return batch, skipped

    def reset(self) -> None:
        if self._pre is not None:
            self._pre.close()
        self._epoch += 1
        self._epoch_seed = self._epoch
        n = len(self._offsets)
        order = np.arange(n)
        if self.shuffle:
            np.random.default_rng([self.seed, self._epoch]).shuffle(order)
        self._order = order
        n_batches = -(-n // self.batch_size)
        self._pre = Prefetcher(self._make_batch, n_batches, self._depth)

    def next(self) -> DataBatch:
        batch, skipped = self._pre.get()
        for msg in skipped:
            warnings.warn(f"ImageRecordIter: skipping a bad record: {msg}", stacklevel=2)
        return batch

    def close(self) -> None:
        if self._pre is not None:
            self._pre.close()
        self._pool.shutdown(wait=True)
        self._f.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001,S110 - interpreter shutdown
            pass
