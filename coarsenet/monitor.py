"""mx.mon.Monitor: statistics of every op output (and, at toc, every argument and auxiliary
state) of the watched executors, every `interval` batches.

install(exe) asks the executor to call back after each op with (name, array), names as
MXNet's: `<node>_output` (`<node>_output<i>` for several outputs), the gradients a backward op
writes as `<node>_backward_output<i>`, and with monitor_all=True the forward op inputs as
`<node>_<input name>` (a variable input first under its own name, as MXNet). The executor runs
one op at a time while a callback is installed.
"""
from __future__ import annotations

import logging
import math
import re

from .ndarray import NDArray


def _default_stat(x: NDArray) -> NDArray:
    """MXNet's default: the root-mean-square of the array (norm / sqrt(size))."""
    from . import ndarray as nd

    return nd.norm(x) / math.sqrt(max(x.size, 1))


class Monitor:
    def __init__(self, interval, stat_func=None, pattern=".*", sort=False, monitor_all=False):
        self.interval = int(interval)
        self.stat_func = stat_func or _default_stat
        self.re_prog = re.compile(pattern)
        self.sort = sort
        self.monitor_all = monitor_all
        self.activated = False
        self.queue: list = []
        self.step = 0
        self.exes: list = []

    def stat_helper(self, name: str, array) -> None:
        if not self.activated or not self.re_prog.match(name):
            return
        if not isinstance(array, NDArray):
            array = NDArray(array)
        self.queue.append((self.step, name, self.stat_func(array)))

    def install(self, exe) -> None:
        exe.set_monitor_callback(self.stat_helper, self.monitor_all)
        self.exes.append(exe)

    def tic(self) -> None:
        """Starts collecting if this batch is one of every `interval`."""
        if self.step % self.interval == 0:
            self.queue = []
            self.activated = True
        self.step += 1

    def toc(self) -> list:
        """Ends collecting; [(step, name, statistic text)] for this batch (empty if inactive)."""
        if not self.activated:
            return []
        for exe in self.exes:
            for name, arr in zip(exe._symbol.list_arguments(), exe.arg_arrays):
                if self.re_prog.match(name):
                    self.queue.append((self.step, name, self.stat_func(arr)))
            for name, arr in zip(exe._symbol.list_auxiliary_states(), exe.aux_arrays):
                if self.re_prog.match(name):
                    self.queue.append((self.step, name, self.stat_func(arr)))
        self.activated = False
        if self.sort:
            self.queue.sort(key=lambda x: x[1])
        res = []
        for step, name, values in self.queue:
            text = ""
            for v in values if isinstance(values, list) else [values]:
                if isinstance(v, NDArray) and v.shape in ((1,), ()):
                    text += str(v.asscalar()) + "\t"
                elif isinstance(v, NDArray):
                    text += str(v.asnumpy()) + "\t"
                else:
                    text += str(v) + "\t"
            res.append((step, name, text))
        self.queue = []
        return res

    def toc_print(self) -> None:
        for step, name, text in self.toc():
            logging.info("Batch: {:7d} {:30s} {:s}".format(step, name, text))
