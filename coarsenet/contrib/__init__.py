"""MXNet's `mx.contrib` pieces that example scripts import: io.DataLoaderIter and
svrg_optimization.SVRGModule. Other contrib names fail with "coarsenet does not implement"."""
from . import io  # noqa: F401
