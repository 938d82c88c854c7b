"""MXNet's `mx.io.ImageRecordIter`: batches of decoded, augmented images from a `.rec` file.

The per-sample augmentation (MXNet's order and formulas) is in record_aug.py.
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
from . import _decode_array
from .record_aug import augment, check_params
from .pipeline import Prefetcher


class ImageRecordIter(DataIter):
    """Batches (data NCHW, label) from an image RecordIO file, MXNet's parameter names."""

    def __init__(self, path_imgrec, data_shape, batch_size, path_imgidx=None, label_width=1,
                 shuffle=False, seed=0, rand_crop=False, rand_mirror=False, resize=-1,
                 max_random_scale=1.0, min_random_scale=1.0, max_aspect_ratio=0.0,
                 min_aspect_ratio=None, mean_r=0.0, mean_g=0.0, mean_b=0.0, std_r=1.0,
                 std_g=1.0, std_b=1.0, mean_img=None, scale=1.0, inter_method=1,
                 preprocess_threads=4, prefetch_buffer=4, round_batch=True, num_parts=1,
                 part_index=0, data_name="data", label_name="softmax_label", dtype="float32",
                 skip_corrupt=False, mirror=False, pad=0, fill_value=255, rotate=-1,
                 max_rotate_angle=0, max_shear_ratio=0.0, max_img_size=1e10, min_img_size=0.0,
                 max_crop_size=-1, min_crop_size=-1, seed_aug=None, brightness=0.0,
                 contrast=0.0, saturation=0.0, pca_noise=0.0, **kwargs):
        super().__init__(batch_size)
        check_params(kwargs)
        if min(brightness, contrast, saturation, pca_noise) < 0:
            raise CoarsenetError("ImageRecordIter: brightness, contrast, saturation and "
                                 "pca_noise must be >= 0")
        if pad < 0 or not 0 <= fill_value <= 255 or max_rotate_angle < 0 or max_shear_ratio < 0:
            raise CoarsenetError(f"ImageRecordIter: need pad >= 0, 0 <= fill_value <= 255, "
                                 f"max_rotate_angle >= 0, max_shear_ratio >= 0; got pad={pad}, "
                                 f"fill_value={fill_value}, max_rotate_angle={max_rotate_angle}, "
                                 f"max_shear_ratio={max_shear_ratio}")
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
        self._p = {"data_shape": tuple(data_shape), "resize": resize, "rand_crop": rand_crop,
                   "rand_mirror": rand_mirror, "min_random_scale": min_random_scale,
                   "max_random_scale": max_random_scale, "max_aspect_ratio": max_aspect_ratio,
                   "min_aspect_ratio": min_aspect_ratio, "inter_method": inter_method,
                   "mean": np.array([mean_r, mean_g, mean_b], np.float32),
                   "std": np.array([std_r, std_g, std_b], np.float32), "mean_img": None,
                   "scale": scale, "dtype": dtype, "mirror": mirror, "pad": pad,
                   "fill_value": fill_value, "rotate": rotate,
                   "max_rotate_angle": max_rotate_angle, "max_shear_ratio": max_shear_ratio,
                   "max_img_size": max_img_size, "min_img_size": min_img_size,
                   "max_crop_size": max_crop_size, "min_crop_size": min_crop_size,
                   "brightness": brightness, "contrast": contrast, "saturation": saturation,
                   "pca_noise": pca_noise}
        if np.any(self._p["std"] == 0):
            raise CoarsenetError("ImageRecordIter: std_r/g/b must be non-zero")
        self.label_width, self.shuffle, self.seed = label_width, shuffle, seed
        self.seed_aug = seed if seed_aug is None else seed_aug
        self.round_batch, self.skip_corrupt = round_batch, skip_corrupt
        self.data_name, self.label_name = data_name, label_name
        self._depth = prefetch_buffer
        self._pool = ThreadPoolExecutor(preprocess_threads, thread_name_prefix="coarsenet-decode")
        self._epoch = -1
        self._pre = None
        self._overflow = 0  # records of this epoch already served by last epoch's wrapped batch
        if mean_img:
            self._p["mean_img"] = self._mean_image(str(mean_img))
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

    def _sample(self, pos: int, offset: int, normalize: bool = True, out=None):
        rng = np.random.default_rng([self.seed_aug, self._epoch_seed, pos])
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
        return augment(img, rng, self._p, normalize, out), label

    def _safe_sample(self, pos: int, offset: int, out=None):
        try:
            return self._sample(pos, offset, out=out)
        except CoarsenetError as e:
            if not self.skip_corrupt:
                raise
            return str(e)  # warned about by next(), in the consumer's thread

    def _make_batch(self, b: int):
        idx = self._order[b * self.batch_size:(b + 1) * self.batch_size]
        pad = self.batch_size - len(idx)
        wrapped = 0
        if pad and self.round_batch:  # fill from the start of the order; next epoch skips them
            idx = np.concatenate([idx, np.resize(self._full_order, pad)])
            wrapped = pad
        # float32 samples are normalised straight into their row of the batch
        buf = (np.empty((self.batch_size, *self._p["data_shape"]), np.float32)
               if self._p["dtype"] == "float32" else None)
        rows = [None] * len(idx) if buf is None else list(buf[:len(idx)])
        results = list(self._pool.map(self._safe_sample, range(b * self.batch_size,
                                                                 b * self.batch_size + len(idx)),
                                      [self._offsets[i] for i in idx], rows))
        kept = [r for r in results if not isinstance(r, str)]
        skipped = [r for r in results if isinstance(r, str)]
        if not kept:
            raise CoarsenetError(f"ImageRecordIter {self.path_imgrec}: every record of batch {b} "
                                 "is corrupt")
        pad += len(idx) - len(kept)  # skipped records
        fill = self.batch_size - len(kept)  # filler after the real samples: zeros
        if buf is not None and not skipped:
            buf[len(kept):] = 0
            data = buf
        else:
            data = np.stack([d for d, _ in kept])
            data = np.concatenate([data, np.zeros((fill, *data.shape[1:]), data.dtype)])
        label = np.stack([lab for _, lab in kept])
        label = np.concatenate([label, np.zeros((fill, *label.shape[1:]), label.dtype)])
        if self.label_width == 1:
            label = label[:, 0]
        batch = DataBatch([NDArray(data)], [NDArray(label)], pad=pad, index=idx,
                          provide_data=self.provide_data, provide_label=self.provide_label)
        return batch, skipped, wrapped

    def _mean_image(self, path: str) -> np.ndarray:
        """MXNet's mean_img: loaded if the file exists, else the mean of every augmented (not
        normalised) CHW image of this part, saved there as {"mean_img": float32 array}."""
        from ..ndarray import array, load, save
        c, h, w = self._p["data_shape"]
        if os.path.exists(path):
            loaded = load(path)
            arr = next(iter(loaded.values())) if isinstance(loaded, dict) else loaded[0]
            arr = arr.asnumpy().astype(np.float32)
            if arr.shape != (c, h, w):
                raise CoarsenetError(f"ImageRecordIter: mean_img {path} has shape {arr.shape}, "
                                     f"expected data_shape {(c, h, w)}")
            return arr
        warnings.warn(f"ImageRecordIter: cannot find {path}: computing the mean image over "
                      f"{len(self._offsets)} records", stacklevel=3)
        self._epoch_seed = 2**31 - 1  # an augmentation stream of its own, never a real epoch
        total = np.zeros((c, h, w), np.float64)
        chunk = 256
        for start in range(0, len(self._offsets), chunk):  # bounded memory on any file size
            pos = range(start, min(start + chunk, len(self._offsets)))
            for img, _ in self._pool.map(lambda i: self._sample(i, self._offsets[i], False), pos):
                total += img
        mean = (total / len(self._offsets)).astype(np.float32)
        save(path, {"mean_img": array(mean)})
        return mean

    def reset(self) -> None:
        if self._pre is not None:
            self._pre.close()
        self._epoch += 1
        self._epoch_seed = self._epoch
        n = len(self._offsets)
        order = np.arange(n)
        if self.shuffle:
            np.random.default_rng([self.seed, self._epoch]).shuffle(order)
        # round_batch as MXNet: records the last epoch's final batch wrapped around to are not
        # served again at the start of this one (only after an epoch that was read to its end)
        skip, self._overflow = self._overflow % n, 0
        self._full_order, self._order = order, order[skip:]
        n_batches = -(-len(self._order) // self.batch_size)
        self._pre = Prefetcher(self._make_batch, n_batches, self._depth)

    def next(self) -> DataBatch:
        batch, skipped, wrapped = self._pre.get()
        self._overflow = wrapped
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
