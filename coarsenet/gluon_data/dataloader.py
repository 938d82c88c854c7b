"""MXNet's gluon.data.DataLoader: batches from a Dataset, made by worker processes.

Workers (forked where the platform allows, so the dataset is inherited, not pickled) receive
batch indices on their own queue (batch i goes to worker i % num_workers, so with a fixed seed
the same worker makes the same batch each run), build the batch with batchify_fn, and pack its
arrays into a shared-memory block the worker keeps and reuses (shm_blocks.py says why). Only
the block name and the arrays' layout travel back through the result queue; the main process
copies the arrays out of its long-lived mapping and returns the block to the worker. A worker
exception comes back as its formatted traceback and is raised as CoarsenetError; a worker that
dies (killed, segfault) is noticed by polling exit codes, so the main process never waits
forever (`timeout` bounds each wait too).
"""
from __future__ import annotations

import multiprocessing as mp
import queue
import random
import traceback
from multiprocessing import resource_tracker

import numpy as np

from ..base import CoarsenetError
from ..ndarray import NDArray
from .sampler import BatchSampler, RandomSampler, SequentialSampler
from .shm_blocks import MainBlocks, WorkerBlocks
from .shm_blocks import as_numpy as _as_numpy


def default_batchify_fn(data):
    """Stacks samples: arrays along a new axis 0; tuples field by field."""
    if isinstance(data[0], tuple):
        return tuple(default_batchify_fn(list(field)) for field in zip(*data))
    arr = np.stack([_as_numpy(x) for x in data])
    if arr.dtype == np.float64:  # labels given as Python floats: float32 as MXNet
        arr = arr.astype(np.float32)
    return arr


def _wrap(batch):
    if isinstance(batch, (tuple, list)):
        items = [_wrap(b) for b in batch]
        return tuple(items) if isinstance(batch, tuple) else items
    return batch if isinstance(batch, NDArray) else NDArray(np.asarray(batch))


def _worker_loop(dataset, batchify_fn, index_q, result_q, seed, wid):
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    blocks = WorkerBlocks()
    try:
        while True:
            job = index_q.get()
            if job is None:
                return
            if job[0] == "free":  # the main process copied a batch out of this block
                blocks.release(job[1])
                continue
            _, epoch, bid, indices = job
            try:
                samples = [dataset[i] for i in indices]
                flat = not (isinstance(samples[0], tuple)
                            and any(isinstance(f, (tuple, list)) for f in samples[0]))
                desc = (blocks.put_samples(samples) if batchify_fn is default_batchify_fn
                        and flat else blocks.put(batchify_fn(samples)))
                result_q.put((epoch, bid, wid, "ok", desc))
            except Exception:  # noqa: BLE001 - the traceback is re-raised in the main process
                result_q.put((epoch, bid, wid, "err", traceback.format_exc()))
    finally:
        blocks.close()


class _WorkerPool:
    """The loader's worker processes, kept across epochs (as MXNet's DataLoader keeps its pool).
    Results carry their epoch number, so those of an abandoned epoch are recognised and freed."""

    def __init__(self, dataset, batchify_fn, n: int):
        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        # one resource tracker for the main process and the workers (else each forked worker
        # would start its own, which unlinks the worker's blocks when it exits)
        resource_tracker.ensure_running()
        self.blocks = MainBlocks()
        self.result_q = ctx.Queue()
        self.index_qs = [ctx.Queue() for _ in range(n)]
        base = int(np.random.randint(0, 2 ** 31))
        self.workers = [ctx.Process(target=_worker_loop, daemon=True, args=(
            dataset, batchify_fn, self.index_qs[w], self.result_q, base + w, w))
            for w in range(n)]
        for w in self.workers:
            w.start()

    def dead(self):
        return [w for w in self.workers if w.exitcode is not None]

    def take(self, wid: int, desc):
        """The batch in worker wid's block, copied out; the block goes back to the worker."""
        try:
            return self.blocks.take(desc)
        finally:
            self.free(wid, desc)

    def free(self, wid: int, desc) -> None:
        if self.workers:
            self.index_qs[wid].put(("free", desc[0]))

    def shutdown(self):
        if not self.workers:
            return
        for q in self.index_qs:
            q.put(None)
        for w in self.workers:
            w.join(timeout=1.0)
            if w.is_alive():
                w.terminate()
                w.join(timeout=1.0)
        # the workers unlinked their blocks when they stopped; a dead worker's are removed here
        self.blocks.close(unlink=True)
        self.workers = []


class _MultiWorkerIter:
    def __init__(self, loader, batches, epoch):
        self._loader, self._batches, self._epoch = loader, list(batches), epoch
        self._pool = loader._worker_pool()
        self._workers = self._pool.workers
        self._sent = self._next = 0
        self._ready: dict = {}
        for _ in range(min(loader._prefetch, len(self._batches))):
            self._send()

    def _send(self):
        if self._sent < len(self._batches):
            w = self._sent % len(self._workers)
            self._pool.index_qs[w].put(("job", self._epoch, self._sent,
                                        self._batches[self._sent]))
            self._sent += 1

    def __iter__(self):
        return self

    def _fail(self, msg):
        self._loader._close_pool()
        raise CoarsenetError(msg) from None

    def __next__(self):
        if self._next >= len(self._batches):
            raise StopIteration
        waited = 0.0
        while self._next not in self._ready:
            try:
                epoch, bid, wid, kind, payload = self._pool.result_q.get(timeout=0.2)
            except queue.Empty:
                waited += 0.2
                dead = self._pool.dead()
                if dead:
                    codes = ", ".join(f"pid {w.pid} exit code {w.exitcode}" for w in dead)
                    self._fail(f"DataLoader: worker process died ({codes}) while making batch "
                               f"{self._next}")
                if waited >= self._loader._timeout:
                    self._fail(f"DataLoader: no batch from the workers within "
                               f"timeout={self._loader._timeout} s")
                continue
            if epoch != self._epoch:  # left over from an abandoned epoch
                if kind == "ok":
                    self._pool.free(wid, payload)
                continue
            self._ready[bid] = (wid, kind, payload)
        wid, kind, payload = self._ready.pop(self._next)
        self._next += 1
        if kind == "err":
            self._fail(f"DataLoader: a worker raised while making batch {self._next - 1}:\n"
                       f"{payload}")
        batch = self._pool.take(wid, payload)  # first, so the worker sees its block freed
        self._send()                           # before the next job
        return batch

    def __del__(self):
        try:
            for wid, kind, payload in self._ready.values():
                if kind == "ok":
                    self._pool.free(wid, payload)
        except Exception:  # noqa: BLE001,S110 - interpreter shutdown
            pass


class DataLoader:
    """Iterates over a Dataset in batches, MXNet's arguments and semantics."""

    def __init__(self, dataset, batch_size=None, shuffle=False, sampler=None,
                 last_batch=None, batch_sampler=None, batchify_fn=None, num_workers=0,
                 pin_memory=False, pin_device_id=0, prefetch=None, thread_pool=False,
                 timeout=120):
        self._dataset = dataset
        if batch_sampler is None:
            if batch_size is None:
                raise CoarsenetError("DataLoader: batch_size is required without batch_sampler")
            if sampler is None:
                sampler = RandomSampler(len(dataset)) if shuffle else SequentialSampler(
                    len(dataset))
            elif shuffle:
                raise CoarsenetError("DataLoader: shuffle must be False when a sampler is given")
            batch_sampler = BatchSampler(sampler, batch_size, last_batch or "keep")
        elif batch_size is not None or shuffle or sampler is not None or last_batch is not None:
            raise CoarsenetError("DataLoader: batch_size, shuffle, sampler and last_batch must "
                                 "not be given with batch_sampler")
        if num_workers < 0:
            raise CoarsenetError(f"DataLoader: num_workers must be >= 0, got {num_workers}")
        self._batch_sampler = batch_sampler
        self._batchify_fn = batchify_fn or default_batchify_fn
        self._num_workers, self._thread_pool = num_workers, thread_pool
        self._prefetch = max(0, int(prefetch)) if prefetch is not None else 2 * num_workers
        self._prefetch = max(self._prefetch, num_workers)
        self._timeout = timeout
        self._pool, self._epoch = None, 0

    def __len__(self):
        return len(self._batch_sampler)

    def __iter__(self):
        if self._num_workers == 0:
            return (_wrap(self._batchify_fn([self._dataset[i] for i in b]))
                    for b in self._batch_sampler)
        if self._thread_pool:
            return self._thread_iter()
        self._epoch += 1
        return _MultiWorkerIter(self, self._batch_sampler, self._epoch)

    def _worker_pool(self):
        if self._pool is None or self._pool.dead():
            self._close_pool()
            self._pool = _WorkerPool(self._dataset, self._batchify_fn, self._num_workers)
        return self._pool

    def _close_pool(self):
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __del__(self):
        try:
            self._close_pool()
        except Exception:  # noqa: BLE001,S110 - interpreter shutdown
            pass

    def _thread_iter(self):
        from concurrent.futures import ThreadPoolExecutor

        def make(b):
            return self._batchify_fn([self._dataset[i] for i in b])
        with ThreadPoolExecutor(self._num_workers) as pool:
            futures, batches = [], iter(self._batch_sampler)
            for b in batches:
                futures.append(pool.submit(make, b))
                if len(futures) >= self._prefetch:
                    break
            while futures:
                fut = futures.pop(0)
                nxt = next(batches, None)
                if nxt is not None:
                    futures.append(pool.submit(make, nxt))
                yield _wrap(fut.result(timeout=self._timeout))
