"""BatchNorm, Pooling and LRN against PyTorch, measured side by side in one process.

Prints wall-clock milliseconds per call (best of several interleaved repeats) and the ratio
coarsenet / PyTorch (below 1 means coarsenet is faster). Both sides use the same number of
threads (default 2). On a shared, overloaded machine wall time mostly measures the scheduler;
`--threads 1` then adds a CPU-time ratio (time.thread_time of the one working thread), which is
robust to other load. Never asserts timings.

    PYTHONPATH=. python benchmarks/bench_normpool.py [--repeat 5] [--threads 2]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import coarsenet as cn

WRITE = 1


def best_ms(fn, repeat: int, number: int, clock=time.perf_counter) -> float:
    fn()  # warm up: page in buffers, spin up threads
    best = float("inf")
    for _ in range(repeat):
        t0 = clock()
        for _ in range(number):
            fn()
        best = min(best, (clock() - t0) / number)
    return best * 1e3


def bench_batch_norm_train(shape):
    c = shape[1]
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape).astype(np.float32)
    dy = rng.normal(size=shape).astype(np.float32)
    g, b = np.ones(c, np.float32), np.zeros(c, np.float32)
    aux = [np.zeros(c, np.float32), np.ones(c, np.float32)]
    op = cn.ops.make("BatchNorm", dict(fix_gamma=False))
    outs = [np.empty_like(x), np.empty(c, np.float32), np.empty(c, np.float32)]
    grads = [np.empty_like(x), np.empty_like(g), np.empty_like(b)]

    def ours():
        op.forward([x, g, b], outs, [WRITE] * 3, aux, is_train=True)
        op.backward([dy, None, None], [x, g, None], [None, outs[1], outs[2]], grads, [WRITE] * 3,
                    aux, is_train=True)

    tx = torch.tensor(x, requires_grad=True)
    bn = torch.nn.BatchNorm2d(c)
    tdy = torch.tensor(dy)

    def theirs():
        tx.grad = None
        bn.zero_grad()
        bn(tx).backward(tdy)

    return ours, theirs


def bench_pool(shape, pool_type, kernel, stride, pad):
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape).astype(np.float32)
    op = cn.ops.make("Pooling", dict(kernel=kernel, stride=stride, pad=pad, pool_type=pool_type))
    out_shapes = op.infer_shape([shape])[1]  # max pooling adds a hidden argmax output
    outs = [np.empty(s, np.float32) for s in out_shapes]
    dy = rng.normal(size=out_shapes[0]).astype(np.float32)
    heads = [dy] + [None] * (len(outs) - 1)
    dx = np.empty_like(x)

    def ours():
        op.forward([x], outs, [WRITE] * len(outs), [])
        op.backward(heads, [x], outs, [dx], [WRITE], [])

    tx, tdy = torch.tensor(x, requires_grad=True), torch.tensor(dy)
    pool = torch.nn.functional.max_pool2d if pool_type == "max" else torch.nn.functional.avg_pool2d

    def theirs():
        tx.grad = None
        pool(tx, kernel, stride, pad).backward(tdy)

    return ours, theirs


def bench_pool_forward(shape, kernel, stride, pad):
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    op = cn.ops.make("Pooling", dict(kernel=kernel, stride=stride, pad=pad))
    outs = [np.empty(s, np.float32) for s in op.infer_shape([shape])[1]]
    req = [WRITE] + [0] * (len(outs) - 1)  # inference: the hidden argmax is not requested
    tx = torch.tensor(x)
    return (lambda: op.forward([x], outs, req, []),
            lambda: torch.nn.functional.max_pool2d(tx, kernel, stride, pad))


def bench_lrn(shape, nsize):
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape).astype(np.float32)
    dy = rng.normal(size=shape).astype(np.float32)
    op = cn.ops.make("LRN", dict(nsize=nsize))
    outs = [np.empty_like(x), np.empty_like(x)]
    dx = np.empty_like(x)

    def ours():
        op.forward([x], outs, [WRITE] * 2, [])
        op.backward([dy, None], [x], [None, outs[1]], [dx], [WRITE], [])

    tx, tdy = torch.tensor(x, requires_grad=True), torch.tensor(dy)
    lrn = torch.nn.LocalResponseNorm(nsize, alpha=1e-4, beta=0.75, k=2.0)

    def theirs():
        tx.grad = None
        lrn(tx).backward(tdy)

    return ours, theirs


CASES = [
    ("BatchNorm train fwd+bwd 32x64x56x56", lambda: bench_batch_norm_train((32, 64, 56, 56)), 5),
    ("MaxPool 3x3/2 pad 1 fwd (inference) 32x64x56x56",
     lambda: bench_pool_forward((32, 64, 56, 56), (3, 3), (2, 2), (1, 1)), 10),
    ("MaxPool 3x3/2 pad 1 fwd+bwd 32x64x56x56",
     lambda: bench_pool((32, 64, 56, 56), "max", (3, 3), (2, 2), (1, 1)), 5),
    ("AvgPool 2x2/2 fwd+bwd 32x64x56x56",
     lambda: bench_pool((32, 64, 56, 56), "avg", (2, 2), (2, 2), (0, 0)), 5),
    ("LRN nsize 5 fwd+bwd 8x96x27x27", lambda: bench_lrn((8, 96, 27, 27), 5), 5),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cn._core.set_num_threads(args.threads)
    clocks = {"wall": time.perf_counter}
    if args.threads == 1:  # all work runs on this thread: its CPU time ignores other load
        clocks["cpu"] = time.thread_time
    head = "".join(f" {c + ' ours':>10s} {c + ' torch':>10s} {c + ' ratio':>10s}" for c in clocks)
    print(f"{'case (ms per call, ' + str(args.threads) + ' threads)':50s}{head}")
    for name, make, number in CASES:
        ours, theirs = make()
        row = ""
        for clock in clocks.values():
            # Interleave the two sides so machine noise hits both alike.
            t_ours, t_theirs = float("inf"), float("inf")
            for _ in range(args.repeat):
                t_ours = min(t_ours, best_ms(ours, 1, number, clock))
                t_theirs = min(t_theirs, best_ms(theirs, 1, number, clock))
            row += f" {t_ours:10.2f} {t_theirs:10.2f} {t_ours / t_theirs:10.2f}"
        print(f"{name:50s}{row}")


if __name__ == "__main__":
    main()
