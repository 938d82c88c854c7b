"""Elementwise op costs: per-call overhead of a tiny call, and large-array throughput against
NumPy and (if installed) PyTorch in the same process. Prints figures; asserts nothing.

    PYTHONPATH=. python benchmarks/bench_elemwise.py
"""
from __future__ import annotations

import timeit

import numpy as np

import coarsenet as cn


def per_call_us(fn, number: int = 20000, repeat: int = 5) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def best_ms(fn, number: int = 20, repeat: int = 5) -> float:
    fn()
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e3


def overhead() -> None:
    a, b = cn.nd.ones((1,)), cn.nd.ones((1,))
    op = cn.ops.make("elemwise_add", {})
    raw = [a.asnumpy(), b.asnumpy()]
    na, nb = raw
    print("per-call time of a 1-element elemwise_add:")
    t_invoke = per_call_us(lambda: op.invoke(raw, [], False, 0))
    print(f"  op.invoke (pybind11 core)   {t_invoke:6.2f} us")
    print(f"  cn.nd.elemwise_add(a, b)    {per_call_us(lambda: cn.nd.elemwise_add(a, b)):6.2f} us")
    print(f"  a + b (NDArray operator)    {per_call_us(lambda: a + b):6.2f} us")
    print(f"  numpy a + b (reference)     {per_call_us(lambda: na + nb):6.2f} us")
    try:
        import torch

        ta, tb = torch.ones(1), torch.ones(1)
        print(f"  torch a + b (reference)     {per_call_us(lambda: ta + tb):6.2f} us")
    except ImportError:
        pass


def throughput() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 64, 56, 56)).astype(np.float32)  # 6.4M elements
    y = rng.standard_normal(x.shape).astype(np.float32)
    bias = rng.standard_normal((1, 64, 1, 1)).astype(np.float32)
    cx, cy, cb = cn.nd.array(x), cn.nd.array(y), cn.nd.array(bias)
    cases = {
        "elemwise_add": (lambda: cn.nd.elemwise_add(cx, cy), lambda: np.add(x, y), "add"),
        "relu": (lambda: cn.nd.Activation(cx, act_type="relu"), lambda: np.maximum(x, 0), "relu"),
        "broadcast_add bias": (lambda: cn.nd.broadcast_add(cx, cb), lambda: x + bias, "bias"),
        "sum axis=(0,2,3)": (lambda: cn.nd.sum(cx, axis=(0, 2, 3)),
                             lambda: x.sum(axis=(0, 2, 3)), "sum"),
        "sum all": (lambda: cn.nd.sum(cx), lambda: x.sum(), "sumall"),
    }
    torch_fns = {}
    try:
        import torch

        tx, ty, tb = torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(bias)
        torch_fns = {"add": lambda: tx + ty, "relu": lambda: torch.relu(tx),
                     "bias": lambda: tx + tb, "sum": lambda: tx.sum(dim=(0, 2, 3)),
                     "sumall": lambda: tx.sum()}
    except ImportError:
        pass
    print(f"large arrays {x.shape} float32, ms per call (best of 5):")
    print(f"  {'op':22s} {'coarsenet':>10s} {'numpy':>8s} {'torch':>8s} {'cn/torch':>9s}")
    for name, (ours, ref, key) in cases.items():
        t_cn, t_np = best_ms(ours, 5), best_ms(ref, 5)
        t_torch = best_ms(torch_fns[key], 5) if key in torch_fns else float("nan")
        print(f"  {name:22s} {t_cn:10.2f} {t_np:8.2f} {t_torch:8.2f} {t_cn / t_torch:9.2f}")


def set_threads(n: int) -> None:
    cn.set_num_threads(n)
    try:
        import torch

        torch.set_num_threads(n)
    except ImportError:
        pass


if __name__ == "__main__":
    overhead()
    # Both thread counts: on a shared, loaded machine a parallel region waits for a descheduled
    # worker, so the 1-thread figures show the kernels and the 2-thread ones the machine.
    for threads in (1, 2):
        set_threads(threads)
        print(f"\n== {threads} thread(s)")
        throughput()
