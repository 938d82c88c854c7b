"""Key-value stores for gradients, MXNet style: 'local' (one process) and 'dist_sync' (MPI).

dist_sync is synchronous data parallelism over MPI (mpi4py, `pip install "coarsenet[dist]"`):
`init` broadcasts rank 0's initial parameters, `pushpull` sums gradients over all ranks (the
optimizer's rescale_grad then averages), `pushpull_list` does the same for many arrays in a few
large all-reduce calls (buckets) instead of one MPI call per small tensor.

A rank that raises an uncaught exception aborts the whole MPI job (MPI_Abort), so the other ranks
never wait forever in a collective; a rank that is killed ends the job through mpiexec.
"""
from __future__ import annotations

import sys
import time
import traceback

import numpy as np

from .base import CoarsenetError, host_view

# Gradients are packed into buckets of about this many bytes per all-reduce call.
BUCKET_BYTES = 16 << 20


def _array(x) -> np.ndarray:
    """The numpy array behind an NDArray, no copy (pull writes through it)."""
    return host_view(x)


def _as_list(x) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _pairs(key, value) -> list:
    """(key, value) pairs: one key with its value(s), or lists of keys and values."""
    if isinstance(key, (list, tuple)):
        return list(zip(key, value))
    return [(key, value)]


class KVStoreLocal:
    """One process: push sums the given values, pull returns the stored sum."""

    type = "local"
    rank = 0
    num_workers = 1

    def __init__(self):
        self._store: dict = {}

    def init(self, key, value) -> None:
        for k, v in _pairs(key, value):
            self._store[k] = np.array(_array(v), copy=True)

    def _reduce(self, arrays: list[np.ndarray]) -> None:
        """Sums each array across workers in place (nothing to do with one worker)."""

    def push(self, key, value, priority: int = 0) -> None:
        for k, v in _pairs(key, value):
            values = [_array(x) for x in _as_list(v)]
            total = np.sum(values, axis=0) if len(values) > 1 else values[0].copy()
            self._reduce([total])
            self._store[k] = total

    def pull(self, key, out=None, priority: int = 0, ignore_sparse: bool = True) -> None:
        for k, o in _pairs(key, out):
            if k not in self._store:
                raise CoarsenetError(f"kvstore: key {k!r} was never initialized (call init first)")
            for target in _as_list(o):
                _array(target)[...] = self._store[k]

    def pushpull(self, key, value, out=None, priority: int = 0) -> None:
        """Sums `value` over workers into `out` (default: in place)."""
        self.pushpull_list(_as_list(key), _as_list(value), _as_list(out) if out is not None else None)

    def pushpull_list(self, keys, values, outs=None) -> None:
        arrays = [_array(v) for v in values]
        if outs is not None:
            for a, o in zip(arrays, outs):
                if _array(o) is not a:
                    _array(o)[...] = a
            arrays = [_array(o) for o in outs]
        self._reduce(arrays)

    def barrier(self) -> None:
        """All workers reach this point before any goes on."""

    def aggregate_metric(self, eval_metric) -> list:
        return eval_metric.get_name_value()

    def set_optimizer(self, optimizer) -> None:
        raise CoarsenetError("kvstore: updates run on the workers (Module/Trainer call the "
                             "optimizer after pushpull); server-side optimizers are not supported")


class KVStoreDistSync(KVStoreLocal):
    """Synchronous all-reduce across the MPI ranks of COMM_WORLD."""

    type = "dist_sync"

    def __init__(self):
        super().__init__()
        try:
            from mpi4py import MPI
        except ImportError:
            raise CoarsenetError(
                "kvstore 'dist_sync' needs MPI: pip install \"coarsenet[dist]\" (mpi4py and an "
                "MPI library) and start the job with mpiexec -n N") from None
        self._mpi = MPI
        self._comm = MPI.COMM_WORLD
        self.rank = self._comm.Get_rank()
        self.num_workers = self._comm.Get_size()
        self.allreduce_seconds = 0.0  # total time spent in gradient all-reduce, for reports
        _abort_on_uncaught_exception(self._comm)

    def init(self, key, value) -> None:
        """Rank 0's values win: they are broadcast into `value` on every rank."""
        for v in _as_list(value):
            self._comm.Bcast(_array(v), root=0)
        super().init(key, value)

    def _reduce(self, arrays: list[np.ndarray]) -> None:
        start = time.perf_counter()
        for bucket in _buckets(arrays, BUCKET_BYTES):
            if len(bucket) == 1 and bucket[0].flags.c_contiguous:
                self._comm.Allreduce(self._mpi.IN_PLACE, bucket[0], op=self._mpi.SUM)
                continue
            flat = np.concatenate([a.reshape(-1) for a in bucket])
            self._comm.Allreduce(self._mpi.IN_PLACE, flat, op=self._mpi.SUM)
            offset = 0
            for a in bucket:
                a.reshape(-1)[...] = flat[offset:offset + a.size]
                offset += a.size
        self.allreduce_seconds += time.perf_counter() - start

    def barrier(self) -> None:
        self._comm.Barrier()

    def aggregate_metric(self, eval_metric) -> list:
        """Metric values over all ranks' samples (sums and counts added up)."""
        metrics = getattr(eval_metric, "metrics", [eval_metric])
        state = np.array([v for m in metrics for v in m.global_state()], dtype=np.float64)
        self._comm.Allreduce(self._mpi.IN_PLACE, state, op=self._mpi.SUM)
        pairs = []
        for i, m in enumerate(metrics):
            total, count = state[2 * i], state[2 * i + 1]
            name, _ = m.get()
            pairs.append((name, total / count if count else float("nan")))
        return pairs


def _buckets(arrays: list[np.ndarray], limit: int):
    """Groups arrays of one dtype, in order, into lists of about `limit` bytes."""
    bucket, size, dtype = [], 0, None
    for a in arrays:
        if bucket and (size + a.nbytes > limit or a.dtype != dtype):
            yield bucket
            bucket, size = [], 0
        bucket.append(a)
        size += a.nbytes
        dtype = a.dtype
    if bucket:
        yield bucket


_abort_installed = False
_ABORT_GRACE_SECONDS = 1.0


def _abort_on_uncaught_exception(comm) -> None:
    """An exception that escapes on one rank prints its traceback, then aborts every rank."""
    global _abort_installed
    if _abort_installed:
        return
    _abort_installed = True
    previous = sys.excepthook

    def hook(kind, value, tb):
        sys.stderr.write(f"coarsenet: rank {comm.Get_rank()} failed; aborting all ranks\n")
        traceback.print_exception(kind, value, tb)
        sys.stderr.flush()
        # mpiexec's proxy forwards each rank's stderr through a pipe, and on MPI_Abort it kills
        # the job without draining that pipe: a CI run lost the whole traceback that way. A
        # moment's wait lets the message reach the user before the job ends.
        time.sleep(_ABORT_GRACE_SECONDS)
        try:
            comm.Abort(1)
        finally:
            previous(kind, value, tb)

    sys.excepthook = hook


def create(name: str = "local"):
    """'local' (also 'device') or 'dist_sync' (also 'dist_sync_device', 'dist')."""
    if name in ("local", "device", "local_update_cpu", "local_allreduce_cpu"):
        return KVStoreLocal()
    if name in ("dist_sync", "dist_sync_device", "dist"):
        return KVStoreDistSync()
    raise CoarsenetError(f"unknown kvstore '{name}'; expected 'local' or 'dist_sync' "
                         "('dist_async' is not supported: updates are synchronous)")
