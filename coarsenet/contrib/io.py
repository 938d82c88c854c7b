"""`mx.contrib.io.DataLoaderIter`: a gluon DataLoader seen as a Module-style DataIter."""
from __future__ import annotations

from .. import ndarray as nd
from ..io_base import DataDesc, DataIter


class DataLoaderIter(DataIter):
    """Iterates a gluon DataLoader yielding (data, label) batches as DataBatch objects. The
    batch size and shapes are those of the loader's first batch; a shorter last batch is padded
    to the batch size (pad says by how much), as in MXNet."""

    def __init__(self, loader, data_name: str = "data", label_name: str = "softmax_label",
                 dtype: str = "float32"):
        super().__init__()
        self._loader = loader
        data, label = next(iter(loader))
        self.batch_size = data.shape[0]
        self.dtype = dtype
        self.provide_data = [DataDesc(data_name, tuple(data.shape), dtype)]
        self.provide_label = [DataDesc(label_name, tuple(label.shape), dtype)]
        self._current = None
        self.reset()

    def reset(self) -> None:
        self._iter = iter(self._loader)

    def iter_next(self) -> bool:
        self._current = next(self._iter, None)
        return self._current is not None

    def _padded(self, i: int):
        part = self._current[i].astype(self.dtype)
        if part.shape[0] == self.batch_size:
            return [part]
        full = nd.zeros((self.batch_size,) + tuple(part.shape[1:]), dtype=self.dtype)
        full[: part.shape[0]] = part
        return [full]

    def getdata(self):
        return self._padded(0)

    def getlabel(self):
        return self._padded(1)

    def getpad(self) -> int:
        return self.batch_size - self._current[0].shape[0]

    def getindex(self):
        return None
