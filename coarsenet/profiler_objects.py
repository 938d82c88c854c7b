"""mx.profiler's objects for timing user code: Domain (a named category), Task / Frame / Event
(start() ... stop() spans), Counter (a value over time) and Marker (an instant). They are
recorded only while the profiler runs, into the same trace and aggregate table as the ops (a
section per domain).
"""
from __future__ import annotations

import time

from . import profiler_base as _p
from .base import CoarsenetError


class Domain:
    def __init__(self, name: str):
        self.name = str(name)

    def new_task(self, name: str) -> Task:
        return Task(self, name)

    def new_frame(self, name: str) -> Frame:
        return Frame(self, name)

    def new_counter(self, name: str, value=None) -> Counter:
        return Counter(self, name, value)

    def new_marker(self, name: str) -> Marker:
        return Marker(self, name)

    def __str__(self) -> str:
        return self.name


def _on() -> bool:
    return _p.state.run and not _p.state.paused


class _Span:
    """start() ... stop() recorded as one complete trace event of `category`."""

    def __init__(self, category: str, name: str):
        self.category, self.name = category, str(name)
        self._start = None

    def start(self) -> None:
        self._start = time.perf_counter()

    def stop(self) -> None:
        if self._start is None:
            raise CoarsenetError(f"profiler {type(self).__name__} '{self.name}': stop() without "
                                 "start()")
        if _on():
            _p._record(self.name, self.category, self._start, time.perf_counter(), 0)
        self._start = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def __str__(self) -> str:
        return self.name


class Task(_Span):
    def __init__(self, domain: Domain, name: str):
        super().__init__(str(domain), name)
        self.domain = domain


class Frame(_Span):
    def __init__(self, domain: Domain, name: str):
        super().__init__(str(domain), name)
        self.domain = domain


class Event(_Span):
    def __init__(self, name: str):
        super().__init__("event", name)


def _instant(event: dict) -> None:
    event.update(ts=round((time.perf_counter() - _p.state.t0) * 1e6, 3), pid=0, tid=0)
    with _p.state.lock:
        _p.state.instants.append(event)


class Counter:
    """A named value; each change is a counter event ("ph": "C") in the trace."""

    def __init__(self, domain: Domain, name: str, value=None):
        self.domain, self.name = domain, str(name)
        self.value = 0
        if value is not None:
            self.set_value(value)

    def set_value(self, value) -> None:
        self.value = int(value)
        if _on():
            _instant({"name": self.name, "cat": str(self.domain), "ph": "C",
                      "args": {self.name: self.value}})

    def increment(self, delta: int = 1) -> None:
        self.set_value(self.value + int(delta))

    def decrement(self, delta: int = 1) -> None:
        self.set_value(self.value - int(delta))

    def __iadd__(self, delta):
        self.increment(delta)
        return self

    def __isub__(self, delta):
        self.decrement(delta)
        return self

    def __str__(self) -> str:
        return self.name


class Marker:
    """An instant event; scope 'global', 'process', 'thread', 'task' or 'marker'."""

    _SCOPES = {"global": "g", "process": "p", "thread": "t", "task": "t", "marker": "t"}

    def __init__(self, domain: Domain, name: str):
        self.domain, self.name = domain, str(name)

    def mark(self, scope: str = "process") -> None:
        if scope not in self._SCOPES:
            raise CoarsenetError(f"profiler Marker '{self.name}': scope must be one of "
                                 f"{sorted(self._SCOPES)}, found '{scope}'")
        if _on():
            _instant({"name": self.name, "cat": str(self.domain), "ph": "i",
                      "s": self._SCOPES[scope]})
