"""A background producer that makes batches ahead of the consumer, for the image iterators.

One producer thread walks the epoch's batches in order; each batch's samples are decoded and
augmented on a shared thread pool (Pillow and NumPy release the GIL, so the threads run in
parallel); finished batches wait in a bounded queue (`depth` batches: memory stays bounded
however large the file). close() stops the producer and drains the queue, so reset() in the
middle of an epoch never leaves a thread blocked or a stale batch behind.
"""
from __future__ import annotations

import queue
import threading
import weakref

_END = object()


class Prefetcher:
    """Runs make_batch(0..n_batches-1) ahead in a thread; get() returns them in order."""

    def __init__(self, make_batch, n_batches: int, depth: int):
        self._q: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        # A weak reference: an iterator abandoned mid-epoch can still be collected (its
        # __del__ then stops this thread) instead of being kept alive by its own producer.
        make = weakref.WeakMethod(make_batch) if hasattr(make_batch, "__self__") else (
            lambda: make_batch)
        self._thread = threading.Thread(target=self._run, args=(make, n_batches),
                                        daemon=True, name="coarsenet-prefetch")
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, make, n_batches: int) -> None:
        for i in range(n_batches):
            fn = make()
            if self._stop.is_set() or fn is None:
                return
            try:
                item = ("ok", fn(i))
            except BaseException as e:  # noqa: BLE001 - handed to the consumer, re-raised there
                self._put(("err", e))
                return
            del fn
            if not self._put(item):
                return
        self._put(("end", _END))

    def get(self):
        """The next batch; StopIteration at the end; a producer error is re-raised here."""
        while True:
            try:
                kind, value = self._q.get(timeout=0.5)
                break
            except queue.Empty:
                if not self._thread.is_alive() and self._q.empty():
                    raise StopIteration from None
        if kind == "err":
            raise value
        if kind == "end":
            self._q.put(("end", _END))  # later get() calls keep answering StopIteration
            raise StopIteration
        return value

    def close(self) -> None:
        self._stop.set()
        if threading.current_thread() is self._thread:
            return  # the owner was collected on this thread; _run returns by itself
        while self._thread.is_alive():
            try:
                while True:
                    self._q.get_nowait()
            except queue.Empty:
                pass
            self._thread.join(timeout=0.1)
