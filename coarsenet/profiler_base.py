"""mx.profiler: per-op wall time, call counts and output bytes of executor and imperative calls.

set_config(filename=..., profile_all=..., aggregate_stats=...), set_state('run'|'stop'),
pause()/resume(), dump() writes a Chrome trace (open it in chrome://tracing or Perfetto) and
dumps() returns MXNet's aggregate text table.

Off costs nothing extra: executors test one flag (`state.recording`) before their usual single
C++ loop, and imperative calls are timed through ndarray's existing `hooks.replay` slot, which is
only set while recording. Recording, an executor runs one op at a time so each op is timed.
"""
from __future__ import annotations

import json
import os
import threading
import time

from .base import CoarsenetError

_CONFIG_KEYS = {
    "filename", "profile_all", "profile_symbolic", "profile_imperative", "profile_memory",
    "profile_api", "contiguous_dump", "continuous_dump", "dump_period", "aggregate_stats",
    "profile_process",
}


class _State:
    def __init__(self):
        self.config = {"filename": "profile.json", "profile_symbolic": False,
                       "profile_imperative": False, "profile_memory": False,
                       "aggregate_stats": False}
        self.run = False  # set_state('run') and not stopped
        self.paused = False
        self.recording = False  # what the executor checks: run and not paused
        self.imperative = False  # what autograd's backward checks
        self.events: list = []  # (name, category, start_us, duration_us, bytes): the trace
        self.instants: list = []  # ready trace events of counters and markers
        # {(category, name): [count, total_ms, min_ms, max_ms, bytes]}: the table, kept apart
        # from the trace (dump() empties the trace, dumps(reset=True) the table), as MXNet.
        self.aggregate: dict = {}
        self.lock = threading.Lock()
        self.t0 = time.perf_counter()
        self.saved_replay = None


state = _State()


def set_config(**kwargs) -> None:
    """MXNet's profiler options; profile_all=True turns every kind of profiling on."""
    unknown = set(kwargs) - _CONFIG_KEYS
    if unknown:
        raise CoarsenetError(f"profiler.set_config: unknown options {sorted(unknown)}; expected "
                             f"{', '.join(sorted(_CONFIG_KEYS))}")
    if kwargs.pop("profile_all", False):
        for k in ("profile_symbolic", "profile_imperative", "profile_memory", "profile_api"):
            state.config[k] = True
    state.config.update(kwargs)


def profiler_set_config(mode="symbolic", filename="profile.json"):
    """MXNet's deprecated form: mode 'symbolic' or 'all'."""
    set_config(filename=filename, profile_symbolic=True, profile_imperative=(mode == "all"))


def _symbolic() -> bool:
    return bool(state.config.get("profile_symbolic"))


def _imperative() -> bool:
    return bool(state.config.get("profile_imperative"))


def _update_recording() -> None:
    from . import ndarray as nd

    on = state.run and not state.paused
    state.recording = on and _symbolic()
    state.imperative = on and _imperative()
    # The hooks are per thread; the class attribute is every thread's default, and this
    # thread's own value is set too (it may hold one already).
    hooks, cls = nd.hooks, type(nd.hooks)
    if on and _imperative():
        if cls.replay is not _replay:
            state.saved_replay = hooks.replay
            cls.replay = hooks.replay = _replay
    elif cls.replay is _replay:
        cls.replay = None
        hooks.replay = state.saved_replay
        state.saved_replay = None


def set_state(state_name="stop", profile_process="worker") -> None:
    if state_name not in ("run", "stop"):
        raise CoarsenetError(f"profiler.set_state: expected 'run' or 'stop', found "
                             f"'{state_name}'")
    if not (_symbolic() or _imperative()) and state_name == "run":
        # MXNet profiles symbolic runs by default when nothing was configured.
        state.config["profile_symbolic"] = True
    state.run = state_name == "run"
    _update_recording()


profiler_set_state = set_state


def pause(profile_process="worker") -> None:
    state.paused = True
    _update_recording()


def resume(profile_process="worker") -> None:
    state.paused = False
    _update_recording()


def _record(name: str, category: str, start: float, end: float, nbytes: int) -> None:
    ms = (end - start) * 1e3
    with state.lock:
        state.events.append((name, category, (start - state.t0) * 1e6, ms * 1e3, nbytes))
        row = state.aggregate.get((category, name))
        if row is None:
            state.aggregate[(category, name)] = [1, ms, ms, ms, nbytes]
        else:
            row[0] += 1
            row[1] += ms
            row[2] = min(row[2], ms)
            row[3] = max(row[3], ms)
            row[4] += nbytes


def _replay(op, in_arrays, aux_arrays, is_train):
    """ndarray's hooks.replay while imperative profiling: times one imperative call."""
    from . import random as _random

    prev = state.saved_replay
    start = time.perf_counter()
    if prev is not None:
        seed, results = prev(op, in_arrays, aux_arrays, is_train)
    else:
        seed = _random.next_seed() if op.flags & _nondeterministic() else 0
        results = op.invoke(in_arrays, aux_arrays, is_train, seed)
    end = time.perf_counter()
    _record(op.name, "operator", start, end, sum(int(r.nbytes) for r in results))
    return seed, results


clock = time.perf_counter


def record_backward(op, start: float, in_grads) -> None:
    """Autograd ran op's backward (imperative profiling): named as MXNet names it."""
    end = time.perf_counter()
    _record(f"_backward_{op.name}", "operator", start, end,
            sum(int(g.nbytes) for g in in_grads if g is not None))


def _nondeterministic() -> int:
    from . import ops

    return ops.NONDETERMINISTIC


def run_program(exe, begin: int, end: int, is_train: bool, seed: int) -> None:
    """Runs program steps [begin, end) of an executor one op at a time, timing each (when the
    profiler records) and calling the executor's monitor callback after each forward op."""
    from .graph import OP, VARIABLE, Entry
    from .ndarray import NDArray

    program, order = exe._program, exe._sched.order
    end = len(program) if end < 0 else end
    monitor, monitor_all = getattr(exe, "_monitor_callback", None) or (None, False)
    for k in range(begin, end):
        node = order[k]
        train = bool(is_train) or k >= exe._sched.num_forward
        if monitor is not None and monitor_all and node.kind == OP:
            # MXNet's order: a variable input under its own name, then as <op>_<input>
            for j, name in enumerate(node.op.input_names):
                source = node.inputs[j]
                value = NDArray(exe._array(source))
                if source.node.kind == VARIABLE:
                    monitor(source.node.name, value)
                monitor(f"{node.name}_{name}", value)
        start = time.perf_counter()
        program.run(k, k + 1, train, seed)
        stop = time.perf_counter()
        if state.recording:
            nbytes = sum(int(exe._array(Entry(node, j)).nbytes)
                         for j in range(node.num_outputs) if Entry(node, j) in exe._views
                         or Entry(node, j) in exe._plan.offsets)
            _record(node.op_label, "operator", start, stop, nbytes)
        if monitor is not None:
            _report(monitor, exe, node)


def _report(monitor, exe, node) -> None:
    """MXNet's monitor names: `<op>_output` / `<op>_output<i>` for a forward op, and
    `<op>_backward_output<i>` for the gradients its backward writes (one per op input; those
    nobody requested have no array here and are not reported)."""
    from .graph import BACKWARD, OP, Entry
    from .ndarray import NDArray

    if node.kind == OP:
        name, n = node.name, node.op.num_visible_outputs
        wanted = range(n)
    elif node.kind == BACKWARD:
        name, n = node.backward.forward.name + "_backward", node.num_outputs
        wanted = [i for i, r in enumerate(node.backward.req) if r]
    else:
        return
    for j in wanted:
        suffix = "_output" if n == 1 else f"_output{j}"
        monitor(name + suffix, NDArray(exe._array(Entry(node, j))))


# ---------------------------------------------------------------- output
def dumps(reset=False, format="table", sort_by="total", ascending=False) -> str:  # noqa: A002
    """The aggregate statistics as MXNet prints them (format='table') or as JSON."""
    keys = {"total": 1, "avg": None, "min": 2, "max": 3, "count": 0}
    if sort_by not in keys:
        raise CoarsenetError(f"profiler.dumps: sort_by must be one of {sorted(keys)}, found "
                             f"'{sort_by}'")
    if format not in ("table", "json"):
        raise CoarsenetError(f"profiler.dumps: format must be 'table' or 'json', found "
                             f"'{format}'")
    with state.lock:
        table = {key: list(row) for key, row in state.aggregate.items()}
        if reset:
            state.aggregate = {}

    def sort_key(item):
        row = item[1]
        return row[1] / row[0] if sort_by == "avg" else row[keys[sort_by]]

    # One section per category (domain): MXNet's "operator" first, then the user domains.
    sections: dict = {"operator": []}
    for (category, name), row in sorted(table.items(), key=sort_key, reverse=not ascending):
        sections.setdefault(category, []).append((name, row))
    if format == "json":
        return json.dumps({"Time": {cat: {
            name: {"Count": r[0], "Total": r[1], "Min": r[2], "Max": r[3], "Avg": r[1] / r[0],
                   "Bytes": r[4]} for name, r in rows} for cat, rows in sections.items()},
            "Unit": {"Time": "ms"}})
    rows = sections["operator"]
    lines = ["", "Profile Statistics:", "\tNote the difference in units for different entries."]
    if state.config.get("profile_memory") and rows:
        total = sum(r[4] for _, r in rows)
        count = sum(r[0] for _, r in rows)
        lines += ["Device Storage", "=================",
                  f"{'Name':<30}{'Total Count':>11}    {'Min Use  (kB)':>13}    "
                  f"{'Max Use  (kB)':>13}    {'Avg Use  (kB)':>13}",
                  f"{'----':<30}{'-----------':>11}    {'-------------':>13}    "
                  f"{'-------------':>13}    {'-------------':>13}"]
        sizes = [r[4] / r[0] / 1000.0 for _, r in rows]
        lines.append(f"{'Memory: cpu/0':<30}{count:>11}    {min(sizes):>13.4f}    "
                     f"{max(sizes):>13.4f}    {total / count / 1000.0:>13.4f}")
        lines.append("")
    lines += ["operator", "=================", _TIME_HEADER, _TIME_RULE]
    for category, section in sections.items():
        if category != "operator":
            lines += ["", category, "=================", _TIME_HEADER, _TIME_RULE]
        for name, (count, total, lo, hi, _nb) in section:
            lines.append(f"{name:<30}{count:>11}    {total:>13.4f}    {lo:>13.4f}    "
                         f"{hi:>13.4f}    {total / count:>13.4f}")
    return "\n".join(lines) + "\n\n"


_TIME_HEADER = (f"{'Name':<30}{'Total Count':>11}    {'Time (ms)':>13}    {'Min Time (ms)':>13}    "
                f"{'Max Time (ms)':>13}    {'Avg Time (ms)':>13}")
_TIME_RULE = (f"{'----':<30}{'-----------':>11}    {'---------':>13}    {'-------------':>13}    "
              f"{'-------------':>13}    {'-------------':>13}")


def _trace() -> dict:
    events = [{"ph": "M", "args": {"name": "cpu/0"}, "pid": 0, "name": "process_name"}]
    for name, cat, start, dur, nbytes in state.events:
        events.append({"name": name, "cat": cat, "ph": "X", "ts": round(start, 3),
                       "dur": round(dur, 3), "pid": 0, "tid": 0, "args": {"bytes": nbytes}})
    events += state.instants
    return {"traceEvents": events, "displayTimeUnit": "ms"}


def dump(finished=True, profile_process="worker") -> None:
    """Writes the Chrome trace JSON to the configured filename; finished=True also stops the
    profiler and forgets the recorded events (as MXNet frees them)."""
    path = os.fspath(state.config.get("filename") or "profile.json")
    with state.lock:
        trace = _trace()
        if finished:
            state.events, state.instants = [], []
    with open(path, "w", encoding="utf-8") as f:
        json.dump(trace, f)
    if finished:
        set_state("stop")


def dump_profile() -> None:
    """MXNet's deprecated name for dump()."""
    dump(True)
