"""mx.profiler: the namespace. The profiler itself lives in profiler_base, MXNet's profiling
objects (Domain, Task, Frame, Event, Counter, Marker) in profiler_objects: imports go one way.
"""
from .profiler_base import *  # noqa: F401,F403  the base classes and the basic ones
from .profiler_objects import Counter, Domain, Event, Frame, Marker, Task  # noqa: F401
