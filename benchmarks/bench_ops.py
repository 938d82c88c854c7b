"""Op benchmarks: ms per call and, when PyTorch is installed, the ratio to PyTorch in the same run.

    PYTHONPATH=. python benchmarks/bench_ops.py            # every benchmark
    PYTHONPATH=. python benchmarks/bench_ops.py conv       # names containing "conv"

Both frameworks run with the same thread count (2 by default, --threads N). Timings alternate
between coarsenet and PyTorch call by call, so a noisy neighbour slows both alike; each figure is
the median of --repeat calls after warm-up (--stat min: the minimum, steadier on a loaded
machine). ratio = coarsenet time / PyTorch time (< 1: faster).

To add an op: write a function taking `threads` that returns `compare(...)`, and decorate it with
@benchmark. It is a script, not a test: it prints figures and never asserts timings.
"""
from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import coarsenet as cn

try:
    import torch
except ImportError:  # the ratio column is left empty
    torch = None

REQ_WRITE = 1
BENCHMARKS: list[Callable] = []
REPEAT = 20
STAT = "median"  # or "min" (--stat min: the less noisy figure on a loaded machine)


def benchmark(fn: Callable) -> Callable:
    BENCHMARKS.append(fn)
    return fn


@dataclass
class Row:
    name: str
    ms: float
    torch_ms: float | None
    gflop: float | None  # floating-point work per call, for GFLOP/s

    def cells(self) -> list[str]:
        rate = f"{self.gflop / self.ms * 1e3:.0f}" if self.gflop else ""
        t_ms = f"{self.torch_ms:.2f}" if self.torch_ms else ""
        t_rate = f"{self.gflop / self.torch_ms * 1e3:.0f}" if self.gflop and self.torch_ms else ""
        ratio = f"{self.ms / self.torch_ms:.2f}" if self.torch_ms else ""
        return [self.name, f"{self.ms:.2f}", rate, t_ms, t_rate, ratio]


def compare(name: str, ours: Callable, theirs: Callable | None, gflop: float | None = None,
            repeat: int | None = None) -> Row:
    """Median ms of ours() and theirs(), measured alternately after two warm-up calls each."""
    repeat = repeat or REPEAT
    fns = [ours] + ([theirs] if theirs is not None and torch is not None else [])
    times: list[list[float]] = [[] for _ in fns]
    for f in fns:
        f()
        f()
    for _ in range(repeat):
        for f, t in zip(fns, times):
            start = time.perf_counter()
            f()
            t.append(time.perf_counter() - start)
    reduce = np.min if STAT == "min" else np.median
    med = [float(reduce(t)) * 1e3 for t in times]
    return Row(name, med[0], med[1] if len(med) > 1 else None, gflop)


class OpRunner:
    """Calls one coarsenet op's forward/backward on preallocated float32 buffers."""

    def __init__(self, name: str, params: dict, inputs: list[np.ndarray], is_train: bool = False):
        self.op = cn.ops.make(name, params)
        self.is_train = is_train
        self.inputs = [np.ascontiguousarray(x, dtype=np.float32) for x in inputs]
        in_shapes, out_shapes, aux_shapes = self.op.infer_shape([x.shape for x in self.inputs])
        # Aux states (BatchNorm's moving statistics): zeros and ones keep repeated updates finite.
        self.aux = [np.full(s, float(i), np.float32) for i, s in enumerate(aux_shapes)]
        self.outputs = [np.empty(s, np.float32) for s in out_shapes]
        self.heads = [np.random.default_rng(1).standard_normal(s).astype(np.float32)
                      for s in out_shapes]
        self.grads = [np.empty_like(x) for x in self.inputs]
        ws = max(self.op.workspace_bytes(in_shapes, out_shapes, False),
                 self.op.workspace_bytes(in_shapes, out_shapes, True))
        self.workspace = np.empty(max(ws, 1), np.uint8)

    def forward(self) -> None:
        self.op.forward(self.inputs, self.outputs, [REQ_WRITE] * len(self.outputs), self.aux,
                        workspace=self.workspace, is_train=self.is_train)

    def forward_backward(self) -> None:
        self.forward()
        self.op.backward(self.heads, self.inputs, self.outputs, self.grads,
                         [REQ_WRITE] * len(self.inputs), self.aux, workspace=self.workspace,
                         is_train=self.is_train)


def _torch_fwd_bwd(fn: Callable, *tensors) -> Callable:
    """A PyTorch fwd+bwd call of fn(*tensors) with a fixed head gradient."""
    leaves = [t.detach().clone().requires_grad_(True) for t in tensors]
    head = torch.randn_like(fn(*leaves))

    def run() -> None:
        for t in leaves:
            t.grad = None
        fn(*leaves).backward(head)

    return run


def _rand(*shape) -> np.ndarray:
    return np.random.default_rng(0).standard_normal(shape).astype(np.float32)


def _conv_case(n, c, h, w, f, k, stride, pad, groups=1):
    x, wt, b = _rand(n, c, h, w), _rand(f, c // groups, k, k) * 0.05, _rand(f)
    params = dict(kernel=(k, k), stride=(stride, stride), pad=(pad, pad), num_filter=f,
                  num_group=groups)
    runner = OpRunner("Convolution", params, [x, wt, b])
    oh, ow = runner.outputs[0].shape[2:]
    gflop = 2.0 * n * f * (c // groups) * k * k * oh * ow / 1e9
    conv = None
    if torch is not None:
        def conv(x_, w_, b_):
            return torch.nn.functional.conv2d(x_, w_, b_, stride=stride, padding=pad,
                                              groups=groups)
    tensors = [torch.from_numpy(a) for a in (x, wt, b)] if torch is not None else []
    return runner, conv, tensors, gflop


@benchmark
def conv3x3_64_fwd():
    runner, conv, t, gflop = _conv_case(8, 64, 56, 56, 64, 3, 1, 1)
    theirs = None
    if torch is not None:
        def theirs():
            with torch.no_grad():
                conv(*t)
    return compare("Conv 3x3 64->64 8x56x56 fwd", runner.forward, theirs, gflop)


@benchmark
def conv3x3_64_fwd_bwd():
    runner, conv, t, gflop = _conv_case(8, 64, 56, 56, 64, 3, 1, 1)
    theirs = _torch_fwd_bwd(conv, *t) if torch is not None else None
    return compare("Conv 3x3 64->64 8x56x56 fwd+bwd", runner.forward_backward, theirs, 3 * gflop)


@benchmark
def conv1x1_256_64_fwd_bwd():
    runner, conv, t, gflop = _conv_case(8, 256, 56, 56, 64, 1, 1, 0)
    theirs = _torch_fwd_bwd(conv, *t) if torch is not None else None
    return compare("Conv 1x1 256->64 8x56x56 fwd+bwd", runner.forward_backward, theirs, 3 * gflop)


@benchmark
def conv3x3_s2_128_fwd_bwd():
    runner, conv, t, gflop = _conv_case(8, 128, 56, 56, 128, 3, 2, 1)
    theirs = _torch_fwd_bwd(conv, *t) if torch is not None else None
    return compare("Conv 3x3/2 128->128 8x56x56 fwd+bwd", runner.forward_backward, theirs,
                   3 * gflop)


# Depthwise 3x3 on MobileNet v1's small maps (batch 32): one input channel per group.
def _depthwise_fwd_bwd(c, hw):
    runner, conv, t, gflop = _conv_case(32, c, hw, hw, c, 3, 1, 1, groups=c)
    theirs = _torch_fwd_bwd(conv, *t) if torch is not None else None
    return compare(f"Depthwise 3x3 {c}ch 32x{hw}x{hw} fwd+bwd", runner.forward_backward,
                   theirs, 3 * gflop)


@benchmark
def depthwise3x3_7x7x1024_fwd_bwd():
    return _depthwise_fwd_bwd(1024, 7)


@benchmark
def depthwise3x3_14x14x512_fwd_bwd():
    return _depthwise_fwd_bwd(512, 14)


# The 3x3 convolutions of ResNet-18 (CIFAR, batch 32), one per distinct shape: (c, hw, f,
# stride). Stride-2 ones open stages 2-4 (their forward is stride-2 Winograd, gradients
# polyphase or small-map); stride-1 ones run Winograd F(4x4, 3x3) in all three passes.
RESNET18_CIFAR_CONV3X3 = [
    (64, 32, 64, 1), (64, 32, 128, 2), (128, 16, 128, 1), (128, 16, 256, 2), (256, 8, 256, 1),
    (256, 8, 512, 2), (512, 4, 512, 1),
]


def _resnet18_conv_fwd_bwd(c, hw, f, stride):
    runner, conv, t, gflop = _conv_case(32, c, hw, hw, f, 3, stride, 1)
    theirs = _torch_fwd_bwd(conv, *t) if torch is not None else None
    step = "/2" if stride > 1 else ""
    return compare(f"ResNet-18 CIFAR conv 3x3{step} {c}->{f} 32x{hw}x{hw} fwd+bwd",
                   runner.forward_backward, theirs, 3 * gflop)


for _case in RESNET18_CIFAR_CONV3X3:
    def _bench_r18(case=_case):
        return _resnet18_conv_fwd_bwd(*case)
    _bench_r18.__name__ = "resnet18_cifar_conv3x3_{}_{}_{}_s{}_fwd_bwd".format(*_case)
    benchmark(_bench_r18)


# 1x1 convolutions with ResNet-50's shapes (batch 16; stride-2 ones are the projection
# shortcuts) and MobileNet v1's pointwise shapes (batch 32).
CONV1X1_CASES = [
    (16, 64, 56, 256, 1), (16, 256, 56, 64, 1), (16, 256, 56, 512, 2), (16, 512, 28, 128, 1),
    (16, 128, 28, 512, 1), (16, 1024, 14, 256, 1), (16, 256, 14, 1024, 1),
    (16, 2048, 7, 512, 1), (16, 512, 7, 2048, 1), (32, 128, 56, 128, 1), (32, 256, 28, 256, 1),
    (32, 512, 14, 512, 1), (32, 1024, 7, 1024, 1),
]


def _conv1x1_fwd_bwd(n, c, hw, f, stride):
    runner, conv, t, gflop = _conv_case(n, c, hw, hw, f, 1, stride, 0)
    theirs = _torch_fwd_bwd(conv, *t) if torch is not None else None
    step = f"/{stride}" if stride > 1 else ""
    return compare(f"Conv 1x1{step} {c}->{f} {n}x{hw}x{hw} fwd+bwd", runner.forward_backward,
                   theirs, 3 * gflop)


for _case in CONV1X1_CASES:
    def _bench(case=_case):
        return _conv1x1_fwd_bwd(*case)
    _bench.__name__ = "conv1x1_{1}_{3}_{2}_b{0}_s{4}_fwd_bwd".format(*_case)
    benchmark(_bench)


@benchmark
def fc_4096_fwd_bwd():
    x, w, b = _rand(128, 4096), _rand(4096, 4096) * 0.01, _rand(4096)
    runner = OpRunner("FullyConnected", dict(num_hidden=4096), [x, w, b])
    gflop = 3 * 2.0 * 128 * 4096 * 4096 / 1e9
    theirs = None
    if torch is not None:
        theirs = _torch_fwd_bwd(torch.nn.functional.linear,
                                *[torch.from_numpy(a) for a in (x, w, b)])
    return compare("FC 4096->4096 batch 128 fwd+bwd", runner.forward_backward, theirs, gflop)


@benchmark
def batch_norm_train_fwd_bwd():
    x = _rand(32, 64, 56, 56)
    gamma, beta = np.ones(64, np.float32), np.zeros(64, np.float32)
    runner = OpRunner("BatchNorm", dict(fix_gamma=False), [x, gamma, beta], is_train=True)
    theirs = None
    if torch is not None:
        def bn(x_, g_, b_):
            return torch.nn.functional.batch_norm(x_, None, None, g_, b_, training=True)
        theirs = _torch_fwd_bwd(bn, *[torch.from_numpy(a) for a in (x, gamma, beta)])
    return compare("BatchNorm train 32x64x56x56 fwd+bwd", runner.forward_backward, theirs)


def _pool_case(pool_type, kernel, stride, pad):
    x = _rand(32, 64, 56, 56)
    params = dict(kernel=kernel, stride=stride, pad=pad, pool_type=pool_type)
    runner = OpRunner("Pooling", params, [x])
    pool = None
    if torch is not None:
        f = torch.nn.functional.max_pool2d if pool_type == "max" else torch.nn.functional.avg_pool2d

        def pool(x_):
            return f(x_, kernel, stride, pad)
    return runner, pool, torch.from_numpy(x) if torch is not None else None


@benchmark
def maxpool3x3_s2_fwd():
    runner, pool, tx = _pool_case("max", (3, 3), (2, 2), (1, 1))
    theirs = None
    if torch is not None:
        def theirs():
            with torch.no_grad():
                pool(tx)
    # training forward: also saves the argmax that backward reads
    return compare("MaxPool 3x3/2 32x64x56x56 fwd (train)", runner.forward, theirs)


@benchmark
def maxpool3x3_s2_fwd_bwd():
    runner, pool, tx = _pool_case("max", (3, 3), (2, 2), (1, 1))
    theirs = _torch_fwd_bwd(pool, tx) if torch is not None else None
    return compare("MaxPool 3x3/2 32x64x56x56 fwd+bwd", runner.forward_backward, theirs)


@benchmark
def avgpool2x2_s2_fwd_bwd():
    runner, pool, tx = _pool_case("avg", (2, 2), (2, 2), (0, 0))
    theirs = _torch_fwd_bwd(pool, tx) if torch is not None else None
    return compare("AvgPool 2x2/2 32x64x56x56 fwd+bwd", runner.forward_backward, theirs)


@benchmark
def lrn5_fwd_bwd():
    x = _rand(8, 96, 27, 27)
    runner = OpRunner("LRN", dict(nsize=5), [x])
    theirs = None
    if torch is not None:
        lrn = torch.nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)
        theirs = _torch_fwd_bwd(lrn, torch.from_numpy(x))
    return compare("LRN nsize 5 8x96x27x27 fwd+bwd", runner.forward_backward, theirs)


def print_table(rows: list[Row], threads: int, repeat: int) -> None:
    """The results as an aligned table under a line naming the peer and the settings."""
    header = ["benchmark", "ms", "GFLOP/s", "torch ms", "torch GFLOP/s", "ratio"]
    table = [header] + [r.cells() for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    print(f"coarsenet vs PyTorch {torch.__version__ if torch else '(not installed)'}, "
          f"{threads} threads, {STAT} of {repeat}")
    for row in table:
        print("  ".join(cell.ljust(wd) if i == 0 else cell.rjust(wd)
                        for i, (cell, wd) in enumerate(zip(row, widths))))


def main() -> None:
    global REPEAT, STAT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("filter", nargs="?", default="", help="run benchmarks whose name has this")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=REPEAT)
    parser.add_argument("--stat", choices=["median", "min"], default=STAT)
    args = parser.parse_args()
    REPEAT, STAT = args.repeat, args.stat
    cn.set_num_threads(args.threads)
    if torch is not None:
        torch.set_num_threads(args.threads)
    rows = []
    for fn in BENCHMARKS:
        if args.filter in fn.__name__:
            rows.append(fn())
            print(f"  done: {rows[-1].name}", flush=True)
    print()
    print_table(rows, args.threads, REPEAT)


if __name__ == "__main__":
    main()
