"""Samplers: the order in which a DataLoader visits a dataset, and how it groups batches."""
from __future__ import annotations

import numpy as np

from ..base import CoarsenetError


class Sampler:
    def __iter__(self):
        raise NotImplementedError

    def __len__(self):
        raise NotImplementedError


class SequentialSampler(Sampler):
    def __init__(self, length: int, start: int = 0):
        self._length, self._start = length, start

    def __iter__(self):
        return iter(range(self._start, self._start + self._length))

    def __len__(self):
        return self._length


class RandomSampler(Sampler):
    """A fresh permutation each epoch, drawn from NumPy's global generator (np.random.seed)."""

    def __init__(self, length: int):
        self._length = length

    def __iter__(self):
        return iter(np.random.permutation(self._length).tolist())

    def __len__(self):
        return self._length


class BatchSampler(Sampler):
    """Groups a sampler's indices; last_batch 'keep', 'discard' or 'rollover' (the leftover
    indices start the next epoch)."""

    def __init__(self, sampler, batch_size: int, last_batch: str = "keep"):
        if last_batch not in ("keep", "discard", "rollover"):
            raise CoarsenetError(f"BatchSampler: last_batch must be keep, discard or rollover, "
                                 f"got {last_batch!r}")
        if batch_size < 1:
            raise CoarsenetError(f"BatchSampler: batch_size must be >= 1, got {batch_size}")
        self._sampler, self._batch_size, self._last_batch = sampler, batch_size, last_batch
        self._prev: list = []

    def __iter__(self):
        batch, self._prev = self._prev, []
        for i in self._sampler:
            batch.append(i)
            if len(batch) == self._batch_size:
                yield batch
                batch = []
        if batch:
            if self._last_batch == "keep":
                yield batch
            elif self._last_batch == "rollover":
                self._prev = batch

    def __len__(self):
        n = len(self._sampler)
        if self._last_batch == "keep":
            return (n + self._batch_size - 1) // self._batch_size
        if self._last_batch == "discard":
            return n // self._batch_size
        return (len(self._prev) + n) // self._batch_size
