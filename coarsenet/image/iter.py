"""MXNet's `mx.image.ImageIter` (Python augmenter lists over a .rec file or an image list) and
the basics of `ImageDetIter` (object-detection labels, force-resize only).

Augmenters run on a thread pool with a prefetch queue like ImageRecordIter; they draw from
Python's `random`, so for a repeatable run use preprocess_threads=1 and `random.seed`.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .. import recordio
from ..base import CoarsenetError
from ..io_base import DataBatch, DataDesc, DataIter
from ..ndarray import NDArray
from .core import _decode_array, _np
from .augment import CreateAugmenter, ForceResizeAug
from .pipeline import Prefetcher


def _read_list(path: str, label_width: int):
    """(label array, relative path) per .lst row."""
    return [(np.array(labels, np.float32), rel) for _, labels, rel in
            recordio.read_lst(path, "ImageIter")]


class ImageIter(DataIter):
    def __init__(self, batch_size, data_shape, label_width=1, path_imgrec=None,
                 path_imglist=None, path_root=None, path_imgidx=None, shuffle=False,
                 part_index=0, num_parts=1, aug_list=None, imglist=None, data_name="data",
                 label_name="softmax_label", dtype="float32", last_batch_handle="pad",
                 preprocess_threads=2, prefetch_buffer=4, **kwargs):
        super().__init__(batch_size)
        if len(data_shape) != 3:
            raise CoarsenetError(f"ImageIter: data_shape must be (C, H, W), got {data_shape}")
        if last_batch_handle not in ("pad", "discard", "roll_over"):
            raise CoarsenetError(f"ImageIter: bad last_batch_handle {last_batch_handle!r}")
        self.data_shape, self.label_width = tuple(data_shape), label_width
        self.data_name, self.label_name, self.dtype = data_name, label_name, dtype
        self.shuffle, self.last_batch_handle = shuffle, last_batch_handle
        self.path_root = path_root or ""
        self._rec = None
        if path_imgrec:
            self._rec = str(path_imgrec)
            if path_imgidx and os.path.exists(path_imgidx):
                r = recordio.MXIndexedRecordIO(path_imgidx, path_imgrec, "r")
                r.close()
                entries = [("rec", r.idx[k]) for k in r.keys]
            else:
                entries = [("rec", o) for o in recordio.scan_offsets(self._rec)]
            self._f = open(self._rec, "rb")  # noqa: SIM115 - read by workers via pread
            self._size = os.fstat(self._f.fileno()).st_size
        elif path_imglist or imglist is not None:
            items = _read_list(path_imglist, label_width) if path_imglist else [
                (np.atleast_1d(np.asarray(lab, np.float32)), p) for lab, p in imglist]
            entries = [("file", it) for it in items]
        else:
            raise CoarsenetError("ImageIter: give path_imgrec, path_imglist or imglist")
        n = len(entries)
        self._entries = entries[n * part_index // num_parts:n * (part_index + 1) // num_parts]
        if not self._entries:
            raise CoarsenetError("ImageIter: no images")
        self.auglist = CreateAugmenter(data_shape, **kwargs) if aug_list is None else aug_list
        self._pool = ThreadPoolExecutor(preprocess_threads)
        self._depth = prefetch_buffer
        self._pre = None
        self.reset()

    @property
    def provide_data(self):
        return [DataDesc(self.data_name, (self.batch_size, *self.data_shape), np.float32)]

    @property
    def provide_label(self):
        shape = (self.batch_size,) if self.label_width == 1 else (self.batch_size,
                                                                  self.label_width)
        return [DataDesc(self.label_name, shape, np.float32)]

    def _load(self, entry):
        kind, what = entry
        if kind == "rec":
            got = recordio.read_record_at(self._f.fileno(), self._size, what, self._rec)
            header, payload = recordio.unpack(got[0])
            label = np.atleast_1d(np.asarray(header.label, np.float32))
            img = _decode_array(payload, what=f"ImageIter {self._rec} offset {what}")
        else:
            label, path = what
            full = os.path.join(self.path_root, path)
            try:
                with open(full, "rb") as f:
                    payload = f.read()
            except OSError as e:
                raise CoarsenetError(f"ImageIter: cannot open {full} ({e.strerror})") from None
            img = _decode_array(payload, what=f"ImageIter {full}")
        return label, img

    def augmentation_transform(self, data):
        for aug in self.auglist:
            data = aug(data)
        return data

    def _sample(self, entry):
        label, img = self._load(entry)
        out = _np(self.augmentation_transform(NDArray(img)))
        if out.shape[:2] != self.data_shape[1:]:
            raise CoarsenetError(f"ImageIter: augmenters produced {out.shape[:2]}, data_shape "
                                 f"needs {self.data_shape[1:]}")
        lab = np.zeros(self.label_width, np.float32)
        lab[:min(label.size, self.label_width)] = label[:self.label_width]
        return np.moveaxis(out, 2, 0).astype(self.dtype), lab

    def _make_batch(self, b):
        idx = self._order[b * self.batch_size:(b + 1) * self.batch_size]
        pad = self.batch_size - len(idx)
        if pad:
            idx = np.concatenate([idx, np.resize(np.arange(len(self._entries)), pad)])
        res = list(self._pool.map(self._sample, [self._entries[i] for i in idx]))
        data = np.stack([d for d, _ in res])
        label = np.stack([lab for _, lab in res])
        if self.label_width == 1 and label.ndim == 2:
            label = label[:, 0]
        return DataBatch([NDArray(data)], [NDArray(label)], pad=pad, index=idx,
                         provide_data=self.provide_data, provide_label=self.provide_label)

    def reset(self):
        if self._pre is not None:
            self._pre.close()
        order = np.arange(len(self._entries))
        if self.shuffle:
            np.random.shuffle(order)
        self._order = order
        n = len(order)
        nb = n // self.batch_size if self.last_batch_handle != "pad" else -(-n // self.batch_size)
        self._pre = Prefetcher(self._make_batch, nb, self._depth)

    def next(self):
        return self._pre.get()


class ImageDetIter(ImageIter):
    """Detection records: label = [header_width, object_width, extra..., objects...]; output
    label (batch, max_objects, object_width) padded with -1. Augmentation: force-resize to
    data_shape (box coordinates are normalised, so they do not change)."""

    def __init__(self, batch_size, data_shape, path_imgrec=None, path_imglist=None,
                 path_root=None, path_imgidx=None, shuffle=False, part_index=0, num_parts=1,
                 aug_list=None, imglist=None, data_name="data", label_name="label",
                 max_objects=None, **kwargs):
        aug = aug_list if aug_list is not None else [ForceResizeAug(
            (data_shape[2], data_shape[1]), kwargs.pop("inter_method", 2))]
        self._max_objects = max_objects
        self._obj_width = None
        super().__init__(batch_size, data_shape, 1, path_imgrec, path_imglist, path_root,
                         path_imgidx, shuffle, part_index, num_parts, aug, imglist, data_name,
                         label_name, **kwargs)
        first = self._parse(self._load(self._entries[0])[0])
        self._obj_width = first.shape[1]
        if self._max_objects is None:
            self._max_objects = max(self._parse(self._load(e)[0]).shape[0]
                                    for e in self._entries)
        self.reset()

    @property
    def provide_label(self):
        mo = self._max_objects or 1
        ow = self._obj_width or 5
        return [DataDesc(self.label_name, (self.batch_size, mo, ow), np.float32)]

    @staticmethod
    def _parse(raw):
        raw = np.asarray(raw, np.float32).ravel()
        if raw.size < 2:
            raise CoarsenetError(f"ImageDetIter: label too short ({raw.size} values)")
        hw, ow = int(raw[0]), int(raw[1])
        if hw < 2 or ow < 5 or (raw.size - hw) % ow:
            raise CoarsenetError(f"ImageDetIter: bad detection label: header_width={hw}, "
                                 f"object_width={ow}, {raw.size} values")
        return raw[hw:].reshape(-1, ow)

    def _sample(self, entry):
        label, img = self._load(entry)
        out = _np(self.augmentation_transform(NDArray(img)))
        objs = self._parse(label)[:self._max_objects]
        lab = -np.ones((self._max_objects, self._obj_width), np.float32)
        lab[:len(objs)] = objs
        return np.moveaxis(out, 2, 0).astype(self.dtype), lab

    def reset(self):
        if self._obj_width is None:  # called by ImageIter.__init__ before labels are known
            self._pre = None
            return
        super().reset()
