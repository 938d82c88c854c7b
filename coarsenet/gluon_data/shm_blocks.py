"""Shared-memory blocks that carry DataLoader batches from worker processes, reused across batches.

Why reuse: a fresh shared-memory block per batch costs a page fault and a zeroed page per 4 KiB
on both sides (a 32x3x224x224 float32 batch is 4,700 pages), which profiling showed costing as
much as making the batch itself on a loaded machine; copying into a block whose pages are
already mapped is a plain memcpy. So each worker keeps its blocks: it packs every array of a
batch into one block it owns (a free one large enough, or a new one), sends only the block's
name and the arrays' layout (never the data) through the result queue, and the main process,
which keeps each block mapped once, copies the arrays out (into memory the allocator reuses
from the previous batch) and hands the block back to that worker with a "free" message on the
worker's job queue. The copy makes the batch the caller's own: it stays valid however long it
is kept. Blocks are unlinked by their worker when it stops, and by the main process for a
worker that died.
"""
from __future__ import annotations

from multiprocessing import shared_memory

import numpy as np

from ..ndarray import NDArray

_ALIGN = 64  # each array starts on a cache line


def as_numpy(x):
    return x.asnumpy() if isinstance(x, NDArray) else np.asarray(x)


def _flatten(obj, arrays):
    """Nested tuples/lists of arrays -> structure with array indices; arrays appended."""
    if isinstance(obj, (tuple, list)):
        return ("seq", type(obj) is tuple, [_flatten(o, arrays) for o in obj])
    arrays.append(np.ascontiguousarray(as_numpy(obj)))
    return ("arr", len(arrays) - 1)


def _unflatten(struct, arrays):
    if struct[0] == "seq":
        items = [_unflatten(s, arrays) for s in struct[2]]
        return tuple(items) if struct[1] else items
    return arrays[struct[1]]


class WorkerBlocks:
    """The blocks of one worker process (created and unlinked here)."""

    def __init__(self):
        self._all: dict[str, shared_memory.SharedMemory] = {}
        self._free: list[shared_memory.SharedMemory] = []

    def put(self, batch) -> tuple:
        """Packs the batch into a free block; returns its picklable description."""
        arrays: list[np.ndarray] = []
        struct = _flatten(batch, arrays)
        block, layout = self._block([(a.shape, a.dtype) for a in arrays])
        for (off, shape, dtype), a in zip(layout, arrays):
            np.ndarray(shape, dtype, buffer=block.buf, offset=off)[...] = a
        return (block.name, struct, layout)

    def put_samples(self, samples) -> tuple:
        """default_batchify_fn's batch (samples stacked on a new axis 0, float64 stored as
        float32; tuple samples field by field) written straight into a block: one copy of
        each sample instead of a stack and then a copy of the stack."""
        if isinstance(samples[0], tuple):
            fields = [[as_numpy(x) for x in f] for f in zip(*samples)]
            struct = ("seq", True, [("arr", i) for i in range(len(fields))])
        else:
            fields, struct = [[as_numpy(x) for x in samples]], ("arr", 0)
        specs = []
        for f in fields:
            shape = f[0].shape
            if any(x.shape != shape for x in f):
                raise ValueError(f"all input arrays must have the same shape to be stacked, "
                                 f"found {sorted({x.shape for x in f})}")
            dtype = np.result_type(*f)
            specs.append(((len(f), *shape), np.dtype(np.float32) if dtype == np.float64
                          else dtype))
        block, layout = self._block(specs)
        for (off, shape, dtype), f in zip(layout, fields):
            out = np.ndarray(shape, dtype, buffer=block.buf, offset=off)
            for i, x in enumerate(f):
                out[i] = x
        return (block.name, struct, layout)

    def _block(self, specs):
        """A free block (or a new one) for arrays of these (shape, dtype); and their layout."""
        layout, total = [], 0
        for shape, dtype in specs:
            dtype = np.dtype(dtype)
            layout.append((total, tuple(shape), dtype.str))
            total += -(-max(int(np.prod(shape, dtype=np.int64)) * dtype.itemsize, 1)
                       // _ALIGN) * _ALIGN
        fits = [b for b in self._free if b.size >= total]
        if fits:
            block = min(fits, key=lambda b: b.size)
            self._free.remove(block)
        else:  # 1/8 spare, so batches that vary a little in size still fit
            block = shared_memory.SharedMemory(create=True, size=total + total // 8 + _ALIGN)
            self._all[block.name] = block
        return block, layout

    def release(self, name: str) -> None:
        block = self._all.get(name)
        if block is not None and block not in self._free:
            self._free.append(block)

    def close(self) -> None:
        for block in self._all.values():
            block.close()
            try:
                block.unlink()
            except FileNotFoundError:
                pass
        self._all.clear()
        self._free.clear()


class MainBlocks:
    """The main process's mappings of the workers' blocks, one per block, kept while in use."""

    def __init__(self):
        self._maps: dict[str, shared_memory.SharedMemory] = {}

    def take(self, desc):
        """The batch described by desc, copied out of its block as NDArrays."""
        name, struct, layout = desc
        block = self._maps.get(name)
        if block is None:
            block = self._maps[name] = shared_memory.SharedMemory(name=name)
        arrays = [NDArray(np.ndarray(shape, np.dtype(dtype), buffer=block.buf, offset=off).copy())
                  for off, shape, dtype in layout]
        return _unflatten(struct, arrays)

    def close(self, unlink: bool) -> None:
        """Unmaps every block; unlink=True also removes them (their worker may be dead)."""
        for block in self._maps.values():
            try:
                block.close()
            except BufferError:  # a view is still alive somewhere: leave the mapping
                pass
            if unlink:
                try:
                    block.unlink()
                except FileNotFoundError:
                    pass
        self._maps.clear()
