"""Data iterators, MXNet style: DataDesc, DataBatch, DataIter and NDArrayIter over in-memory
arrays; below every other iterator (io_iters, image.iter, image.record_iter) and io.py, the
mx.io namespace that gathers them."""
from __future__ import annotations

from collections import OrderedDict, namedtuple

import numpy as np

from .base import CoarsenetError
from .ndarray import NDArray, array


class DataDesc(namedtuple("DataDesc", ["name", "shape"])):
    """Name, shape, dtype and layout of one input of a network. As in MXNet, the tuple is the
    (name, shape) pair (scripts write `for name, shape in mod.data_shapes`); dtype and layout
    are attributes."""

    def __new__(cls, name, shape, dtype=np.float32, layout="NCHW"):
        ret = super().__new__(cls, name, shape)
        ret.dtype = dtype
        ret.layout = layout
        return ret

    def __repr__(self):
        return f"DataDesc[{self.name},{self.shape},{self.dtype},{self.layout}]"

    @staticmethod
    def get_batch_axis(layout):
        """The axis of N in layout (0 when there is no layout)."""
        return 0 if layout is None else layout.find("N")


class DataBatch:
    """One batch: lists of data and label arrays; `pad` samples at the end are filler."""

    def __init__(self, data, label=None, pad: int = 0, index=None, bucket_key=None,
                 provide_data=None, provide_label=None):
        self.data = data
        self.label = label
        self.pad = pad
        self.index = index
        self.bucket_key = bucket_key
        self.provide_data = provide_data
        self.provide_label = provide_label


class DataIter:
    """Base iterator: subclasses define reset() and next()."""

    def __init__(self, batch_size: int = 0):
        self.batch_size = batch_size

    def __iter__(self):
        return self

    def __next__(self) -> DataBatch:
        return self.next()

    def reset(self) -> None:
        """Starts a new epoch."""

    def next(self) -> DataBatch:
        """MXNet's template: a subclass may define iter_next() and getdata()/getlabel()/
        getpad()/getindex() instead of next()."""
        if self.iter_next():
            return DataBatch(data=self.getdata(), label=self.getlabel(), pad=self.getpad(),
                             index=self.getindex())
        raise StopIteration

    def iter_next(self) -> bool:
        return False

    def getdata(self):
        return None

    def getlabel(self):
        return None

    def getindex(self):
        return None

    def getpad(self):
        return 0


def _named_arrays(data, default_name: str, what: str) -> list[tuple[str, np.ndarray]]:
    """[(name, array)] from an array, a list of arrays or a dict of them."""
    if data is None:
        return []
    if isinstance(data, (np.ndarray, NDArray)) or np.isscalar(data):
        items = [(default_name, data)]
    elif isinstance(data, dict):
        items = list(OrderedDict(data).items())
    elif isinstance(data, (list, tuple)):
        if len(data) == 1:
            items = [(default_name, data[0])]
        else:
            items = [(f"_{i}_{default_name}", d) for i, d in enumerate(data)]
    else:
        raise CoarsenetError(f"NDArrayIter: {what} must be an array, a list or a dict of arrays, "
                             f"found {type(data).__name__}")
    out = []
    for name, value in items:
        if isinstance(value, NDArray):
            value = value.asnumpy()
        else:  # as MXNet: host data becomes float32 (labels hold class indices as floats)
            value = np.asarray(value, dtype=np.float32)
        if value.ndim == 0:
            raise CoarsenetError(f"NDArrayIter: {what} '{name}' must have a batch axis, found a "
                                 "scalar")
        out.append((name, value))
    return out


class NDArrayIter(DataIter):
    """Iterates over arrays held in memory, in batches along axis 0.

    last_batch_handle: 'pad' fills the last batch from the start of the data (batch.pad says how
    many samples are filler), 'discard' drops an incomplete last batch, 'roll_over' keeps the
    leftover samples for the first batch of the next epoch. num_parts / part_index give this
    worker its contiguous share of the data (data-parallel training).
    """

    def __init__(self, data, label=None, batch_size: int = 1, shuffle: bool = False,
                 last_batch_handle: str = "pad", data_name: str = "data",
                 label_name: str = "softmax_label", num_parts: int = 1, part_index: int = 0,
                 seed: int | None = None):
        super().__init__(batch_size)
        if last_batch_handle not in ("pad", "discard", "roll_over"):
            raise CoarsenetError("NDArrayIter: last_batch_handle must be 'pad', 'discard' or "
                                 f"'roll_over', found '{last_batch_handle}'")
        if batch_size < 1:
            raise CoarsenetError(f"NDArrayIter: batch_size must be >= 1, found {batch_size}")
        if not 0 <= part_index < num_parts:
            raise CoarsenetError(f"NDArrayIter: part_index must lie in [0, {num_parts}), found "
                                 f"{part_index}")
        self.data = _named_arrays(data, data_name, "data")
        self.label = _named_arrays(label, label_name, "label")
        if not self.data:
            raise CoarsenetError("NDArrayIter: no data given")
        sizes = {name: a.shape[0] for name, a in self.data + self.label}
        if len(set(sizes.values())) != 1:
            raise CoarsenetError(f"NDArrayIter: all data and labels need the same number of "
                                 f"samples, found {sizes}")
        total = next(iter(sizes.values()))
        start, stop = total * part_index // num_parts, total * (part_index + 1) // num_parts
        self.data = [(n, a[start:stop]) for n, a in self.data]
        self.label = [(n, a[start:stop]) for n, a in self.label]
        self.num_data = stop - start
        if self.num_data == 0:
            raise CoarsenetError("NDArrayIter: the dataset is empty")
        if last_batch_handle == "discard" and self.num_data < batch_size:
            raise CoarsenetError(f"NDArrayIter: {self.num_data} samples make no full batch of "
                                 f"{batch_size} with last_batch_handle='discard'")
        self.shuffle = shuffle
        self.last_batch_handle = last_batch_handle
        self._rng = np.random.default_rng(seed)
        self._leftover = np.empty(0, dtype=np.int64)
        self.reset()

    @property
    def provide_data(self) -> list[DataDesc]:
        return [DataDesc(n, (self.batch_size,) + a.shape[1:], a.dtype) for n, a in self.data]

    @property
    def provide_label(self) -> list[DataDesc]:
        return [DataDesc(n, (self.batch_size,) + a.shape[1:], a.dtype) for n, a in self.label]

    def reset(self) -> None:
        order = np.arange(self.num_data)
        if self.shuffle:
            self._rng.shuffle(order)
        self._order = np.concatenate([self._leftover, order])
        self._leftover = np.empty(0, dtype=np.int64)
        self._cursor = 0

    def next(self) -> DataBatch:
        remaining = len(self._order) - self._cursor
        if remaining <= 0:
            raise StopIteration
        if remaining < self.batch_size:
            if self.last_batch_handle == "discard":
                raise StopIteration
            if self.last_batch_handle == "roll_over":
                self._leftover = self._order[self._cursor:]
                self._cursor = len(self._order)
                raise StopIteration
        idx = self._order[self._cursor:self._cursor + self.batch_size]
        self._cursor += self.batch_size
        pad = self.batch_size - len(idx)
        if pad:  # 'pad': wrap around to the start of the data
            idx = np.concatenate([idx, np.resize(np.arange(self.num_data), pad)])
        return DataBatch(
            data=[array(a[idx], dtype=a.dtype) for _, a in self.data],
            label=[array(a[idx], dtype=a.dtype) for _, a in self.label],
            pad=pad, index=idx, provide_data=self.provide_data, provide_label=self.provide_label)
