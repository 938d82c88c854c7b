"""MXNet's `mx.io`: DataDesc, DataBatch, DataIter and NDArrayIter (io_base.py) and the other
iterators, each in its own module importing io_base (never this namespace)."""
from __future__ import annotations

from .image.iter import ImageDetIter, ImageIter  # noqa: F401
from .image.record_iter import ImageRecordIter  # noqa: F401
from .io_base import DataBatch, DataDesc, DataIter, NDArrayIter  # noqa: F401
from .io_iters import CSVIter, LibSVMIter, MNISTIter, PrefetchingIter, ResizeIter  # noqa: F401
