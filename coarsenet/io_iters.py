"""MXNet's file and wrapper iterators: MNISTIter, CSVIter, LibSVMIter, PrefetchingIter,
ResizeIter. The file iterators load the (small) file into memory and batch with NDArrayIter.
LibSVMIter returns dense batches (MXNet's returns CSR; coarsenet has no sparse storage).
"""
from __future__ import annotations

import gzip
import struct
import threading

import numpy as np

from .base import CoarsenetError
from .io_base import DataBatch, DataDesc, DataIter, NDArrayIter

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path) -> np.ndarray:
    """An MNIST idx file (optionally .gz) as a NumPy array; sizes checked against the file."""
    path = str(path)
    try:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise CoarsenetError(f"idx file {path}: cannot read ({e})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise CoarsenetError(f"idx file {path}: bad magic {raw[:4].hex()} (expected 0000 + type "
                             "+ ndim)")
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise CoarsenetError(f"idx file {path}: truncated header")
    shape = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    dt = np.dtype(_IDX_TYPES[raw[2]])
    need = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
    if len(raw) - 4 - 4 * ndim != need:
        raise CoarsenetError(f"idx file {path}: header shape {shape} needs {need} bytes, file "
                             f"has {len(raw) - 4 - 4 * ndim}")
    return np.frombuffer(raw, dt, offset=4 + 4 * ndim).reshape(shape)


class MNISTIter(NDArrayIter):
    """MNIST idx image/label files -> batches of (B,1,28,28) (or (B,784) with flat) in [0,1]."""

    def __init__(self, image="./train-images-idx3-ubyte", label="./train-labels-idx1-ubyte",
                 batch_size=128, shuffle=True, flat=False, seed=0, silent=False, num_parts=1,
                 part_index=0, data_name="data", label_name="softmax_label", **kwargs):
        img = read_idx(image)
        lab = read_idx(label)
        if img.ndim != 3 or lab.ndim != 1 or img.shape[0] != lab.shape[0]:
            raise CoarsenetError(f"MNISTIter: {image} {img.shape} and {label} {lab.shape} do "
                                 "not match (expected (N,H,W) images and N labels)")
        data = img.astype(np.float32) / 255.0
        data = data.reshape(len(data), -1) if flat else data[:, None]
        super().__init__(data, lab.astype(np.float32), batch_size, shuffle, "pad", data_name,
                         label_name, num_parts, part_index, seed)


def _load_csv(path, shape, what):
    try:
        arr = np.loadtxt(path, delimiter=",", dtype=np.float32, ndmin=2)
    except (OSError, ValueError) as e:
        raise CoarsenetError(f"CSVIter: cannot read {what} {path}: {e}") from None
    per = int(np.prod(shape))
    if arr.shape[1] != per:
        raise CoarsenetError(f"CSVIter: {path} rows have {arr.shape[1]} values, {what}_shape "
                             f"{tuple(shape)} needs {per}")
    return arr.reshape((len(arr), *shape))


class CSVIter(NDArrayIter):
    """Rows of a CSV file reshaped to data_shape (labels from label_csv, else zeros)."""

    def __init__(self, data_csv, data_shape, label_csv=None, label_shape=(1,), batch_size=1,
                 round_batch=True, data_name="data", label_name="softmax_label", **kwargs):
        data = _load_csv(data_csv, data_shape, "data")
        label = (_load_csv(label_csv, label_shape, "label") if label_csv
                 else np.zeros((len(data), *label_shape), np.float32))
        if tuple(label_shape) == (1,):
            label = label.reshape(len(label))
        super().__init__(data, label, batch_size, False, "pad" if round_batch else "discard",
                         data_name, label_name)


def _load_libsvm(path, width, what):
    labels, rows = [], []
    try:
        with open(path) as f:
            for n, line in enumerate(f, 1):
                parts = line.split()
                if not parts:
                    continue
                row = np.zeros(width, np.float32)
                try:
                    lab = [float(x) for x in parts[0].split(",")]
                    for tok in parts[1:]:
                        k, v = tok.split(":")
                        k = int(k)
                        if not 0 <= k < width:
                            raise CoarsenetError(f"LibSVMIter: {path} line {n}: index {k} "
                                                 f"outside {what}_shape ({width})")
                        row[k] = float(v)
                except ValueError:
                    raise CoarsenetError(f"LibSVMIter: {path} line {n}: expected 'label "
                                         f"index:value ...', found {line.strip()[:60]!r}") from None
                labels.append(lab)
                rows.append(row)
    except OSError as e:
        raise CoarsenetError(f"LibSVMIter: cannot read {path} ({e.strerror})") from None
    return np.array(labels, np.float32), np.array(rows, np.float32).reshape(len(rows), width)


class LibSVMIter(NDArrayIter):
    """LibSVM text ('label idx:val ...', zero-based indices as MXNet) as dense batches."""

    def __init__(self, data_libsvm, data_shape, label_libsvm=None, label_shape=(1,),
                 batch_size=1, round_batch=True, data_name="data", label_name="softmax_label",
                 num_parts=1, part_index=0, **kwargs):
        width = int(np.prod(data_shape))
        lab, data = _load_libsvm(data_libsvm, width, "data")
        if label_libsvm:
            _, lab = _load_libsvm(label_libsvm, int(np.prod(label_shape)), "label")
        label = lab[:, 0] if lab.shape[1] == 1 else lab
        super().__init__(data, label, batch_size, False, "pad" if round_batch else "discard",
                         data_name, label_name, num_parts, part_index)


class PrefetchingIter(DataIter):
    """Runs one or more iterators one batch ahead in a background thread; several iterators'
    batches are joined (data and labels concatenated as lists)."""

    def __init__(self, iters, rename_data=None, rename_label=None):
        self.iters = iters if isinstance(iters, list) else [iters]
        super().__init__(self.iters[0].batch_size)
        self.rename_data, self.rename_label = rename_data, rename_label
        self._thread = None
        self._start()

    def _descs(self, attr, rename):
        out = []
        for i, it in enumerate(self.iters):
            for d in getattr(it, attr):
                name = rename[i].get(d.name, d.name) if rename else d.name
                out.append(DataDesc(name, d.shape, d.dtype))
        return out

    @property
    def provide_data(self):
        return self._descs("provide_data", self.rename_data)

    @property
    def provide_label(self):
        return self._descs("provide_label", self.rename_label)

    def _fetch(self):
        try:
            self._next = [it.next() for it in self.iters]
        except StopIteration:
            self._next = None
        except BaseException as e:  # noqa: BLE001 - re-raised in next()
            self._next = e

    def _start(self):
        self._thread = threading.Thread(target=self._fetch, daemon=True)
        self._thread.start()

    def reset(self):
        self._thread.join()
        for it in self.iters:
            it.reset()
        self._start()

    def next(self):
        self._thread.join()
        got = self._next
        if got is None:
            raise StopIteration
        if isinstance(got, BaseException):
            raise got
        self._start()
        return DataBatch([d for b in got for d in b.data], [x for b in got for x in b.label or []],
                         pad=got[0].pad, index=got[0].index, provide_data=self.provide_data,
                         provide_label=self.provide_label)


class ResizeIter(DataIter):
    """Gives exactly `size` batches per epoch, restarting the inner iterator when it ends."""

    def __init__(self, data_iter, size, reset_internal=True):
        super().__init__(data_iter.batch_size)
        self.data_iter, self.size, self.reset_internal = data_iter, size, reset_internal
        self.cur = 0
        self.provide_data = data_iter.provide_data
        self.provide_label = data_iter.provide_label

    def reset(self):
        self.cur = 0
        if self.reset_internal:
            self.data_iter.reset()

    def next(self):
        if self.cur >= self.size:
            raise StopIteration
        try:
            batch = self.data_iter.next()
        except StopIteration:
            self.data_iter.reset()
            batch = self.data_iter.next()
        self.cur += 1
        return batch
