"""Convolution passes timed one by one against PyTorch: forward, data gradient, weight (+bias)
gradient, for the shapes of issue 20's kernel targets (3x3 stride 2, MobileNet's small-map
depthwise, ResNet-18 CIFAR's 3x3 layers). Shows which pass loses where bench_ops.py only gives
fwd+bwd.

    PYTHONPATH=. python benchmarks/bench_conv_passes.py [filter] [--threads 1 2] [--repeat 20]

Each pass alternates coarsenet and PyTorch call by call (a noisy neighbour slows both alike);
figures are the minimum wall time over --repeat calls, and the ratio of median CPU times
(process time, all threads) is printed too. ratio = coarsenet / PyTorch (< 1: faster). A
script, not a test: it prints figures and never asserts timings.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import coarsenet as cn

try:
    import torch
except ImportError:
    raise SystemExit("bench_conv_passes.py compares with PyTorch: install torch")

from bench_ops import OpRunner, _rand

REQ_NULL, REQ_WRITE = 0, 1

# name, (n, c, hw, f, kernel, stride, pad, groups)
CASES = [
    ("conv3x3/2 128->128 8x56x56", (8, 128, 56, 128, 3, 2, 1, 1)),
    ("depthwise 3x3 1024ch 32x7x7", (32, 1024, 7, 1024, 3, 1, 1, 1024)),
    ("depthwise 3x3 512ch 32x14x14", (32, 512, 14, 512, 3, 1, 1, 512)),
] + [
    (f"resnet18 3x3{'/2' if s > 1 else ''} {c}->{f} 32x{hw}x{hw}", (32, c, hw, f, 3, s, 1, 1))
    for c, hw, f, s in [(64, 32, 64, 1), (64, 32, 128, 2), (128, 16, 128, 1), (128, 16, 256, 2),
                        (256, 8, 256, 1), (256, 8, 512, 2), (512, 4, 512, 1)]
] + [
    # ResNet-18 CIFAR's other convolutions: the 3x3 stem on the 3-channel image (its data
    # gradient is never needed in training but is timed alike) and the 1x1 stride-2 shortcuts
    ("resnet18 stem 3x3 3->64 32x32x32", (32, 3, 32, 64, 3, 1, 1, 1)),
] + [
    (f"resnet18 1x1/2 {c}->{2 * c} 32x{hw}x{hw}", (32, c, hw, 2 * c, 1, 2, 0, 1))
    for c, hw in [(64, 32), (128, 16), (256, 8)]
]


def passes(n, c, hw, f, k, s, p, groups):
    """(name, ours, theirs) for forward, data gradient and weight + bias gradient."""
    x, wt, b = _rand(n, c, hw, hw), _rand(f, c // groups, k, k) * 0.05, _rand(f)
    params = dict(kernel=(k, k), stride=(s, s), pad=(p, p), num_filter=f, num_group=groups)
    r = OpRunner("Convolution", params, [x, wt, b])
    r.forward()
    tx, tw, tb = (torch.from_numpy(a) for a in (x, wt, b))
    head = torch.from_numpy(r.heads[0])

    def ours_bwd(reqs):
        return lambda: r.op.backward(r.heads, r.inputs, r.outputs, r.grads, reqs, r.aux,
                                     workspace=r.workspace, is_train=False)

    def theirs_bwd(mask):
        return lambda: torch.ops.aten.convolution_backward(
            head, tx, tw, [f], [s, s], [p, p], [1, 1], False, [0, 0], groups, mask)

    def theirs_fwd():
        with torch.no_grad():
            torch.nn.functional.conv2d(tx, tw, tb, stride=s, padding=p, groups=groups)

    return [("fwd", r.forward, theirs_fwd),
            ("dgrad", ours_bwd([REQ_WRITE, REQ_NULL, REQ_NULL]), theirs_bwd([True, False, False])),
            ("wgrad", ours_bwd([REQ_NULL, REQ_WRITE, REQ_WRITE]), theirs_bwd([False, True, True]))]


def measure(ours, theirs, repeat):
    wall, cpu = [[], []], [[], []]
    for fn in (ours, theirs, ours, theirs):
        fn()
    for _ in range(repeat):
        for i, fn in enumerate((ours, theirs)):
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            wall[i].append(time.perf_counter() - t0)
            cpu[i].append(time.process_time() - c0)
    return (min(wall[0]) * 1e3, min(wall[1]) * 1e3,
            float(np.median(cpu[0]) / max(np.median(cpu[1]), 1e-9)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("filter", nargs="?", default="")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    print(f"coarsenet vs PyTorch {torch.__version__}: min wall ms (ratio), median CPU-time ratio")
    for threads in args.threads:
        cn.set_num_threads(threads)
        torch.set_num_threads(threads)
        for name, case in CASES:
            if args.filter not in name:
                continue
            cells, total = [], [0.0, 0.0]
            for pname, ours, theirs in passes(*case):
                a, b, cpu = measure(ours, theirs, args.repeat)
                total[0] += a
                total[1] += b
                cells.append(f"{pname} {a:7.2f}/{b:7.2f} ({a / b:.2f}, cpu {cpu:.2f})")
            cells.append(f"sum {total[0] / total[1]:.2f}")
            print(f"{threads}t {name:34s} " + "  ".join(cells), flush=True)


if __name__ == "__main__":
    main()
