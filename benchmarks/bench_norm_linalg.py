"""dot, batch_dot and the normalization ops against PyTorch, forward and forward+backward.

    PYTHONPATH=. python benchmarks/bench_norm_linalg.py            # every benchmark
    PYTHONPATH=. python benchmarks/bench_norm_linalg.py layer_norm # names containing this

Same method as bench_ops.py (whose helpers it reuses): both frameworks in one process with the
same thread count, calls alternating, median of --repeat calls; ratio = coarsenet / PyTorch
(< 1: coarsenet faster). Prints figures, never asserts timings.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_ops
from bench_ops import OpRunner, _rand, _torch_fwd_bwd, compare, torch

import coarsenet as cn

BENCHMARKS: list[Callable] = []


def benchmark(fn: Callable) -> Callable:
    BENCHMARKS.append(fn)
    return fn


def _no_grad(fn: Callable, *arrays) -> Callable | None:
    if torch is None:
        return None
    tensors = [torch.from_numpy(a) for a in arrays]

    def run() -> None:
        with torch.no_grad():
            fn(*tensors)
    return run


def _fwd_bwd(fn: Callable, *arrays) -> Callable | None:
    return _torch_fwd_bwd(fn, *[torch.from_numpy(a) for a in arrays]) if torch else None


def _layer_norm_case(rows, c):
    x, g, b = _rand(rows, c), _rand(c), _rand(c)
    runner = OpRunner("LayerNorm", {}, [x, g, b])
    ln = None
    if torch is not None:
        def ln(x_, g_, b_):
            return torch.nn.functional.layer_norm(x_, (c,), g_, b_, eps=1e-5)
    return runner, ln, (x, g, b)


@benchmark
def layer_norm_768_fwd():
    runner, ln, arrays = _layer_norm_case(8 * 128, 768)
    return compare("LayerNorm (1024, 768) fwd", runner.forward, _no_grad(ln, *arrays))


@benchmark
def layer_norm_768_fwd_bwd():
    runner, ln, arrays = _layer_norm_case(8 * 128, 768)
    return compare("LayerNorm (1024, 768) fwd+bwd", runner.forward_backward,
                   _fwd_bwd(ln, *arrays))


@benchmark
def layer_norm_64_fwd_bwd():
    runner, ln, arrays = _layer_norm_case(32 * 196, 64)
    return compare("LayerNorm (6272, 64) fwd+bwd", runner.forward_backward, _fwd_bwd(ln, *arrays))


@benchmark
def instance_norm_fwd_bwd():
    x, g, b = _rand(16, 64, 56, 56), _rand(64), _rand(64)
    runner = OpRunner("InstanceNorm", {}, [x, g, b])
    theirs = _fwd_bwd(lambda x_, g_, b_: torch.nn.functional.instance_norm(
        x_, weight=g_, bias=b_, eps=1e-3), x, g, b) if torch else None
    return compare("InstanceNorm (16,64,56,56) fwd+bwd", runner.forward_backward, theirs)


@benchmark
def l2_normalization_channel_fwd_bwd():
    x = _rand(16, 512, 38, 38)
    runner = OpRunner("L2Normalization", dict(mode="channel"), [x])
    theirs = _fwd_bwd(lambda x_: x_ / torch.sqrt((x_ * x_).sum(1, keepdim=True) + 1e-10),
                      x) if torch else None
    return compare("L2Normalization channel (16,512,38,38) fwd+bwd", runner.forward_backward,
                   theirs)


@benchmark
def dot_1024_fwd_bwd():
    a, b = _rand(1024, 1024), _rand(1024, 1024)
    runner = OpRunner("dot", {}, [a, b])
    gflop = 3 * 2.0 * 1024 ** 3 / 1e9
    return compare("dot (1024,1024)x(1024,1024) fwd+bwd", runner.forward_backward,
                   _fwd_bwd(lambda x, y: x @ y, a, b) if torch else None, gflop)


@benchmark
def dot_transpose_b_fwd_bwd():
    a, b = _rand(16, 64, 512), _rand(1000, 512)
    runner = OpRunner("dot", dict(transpose_b=True), [a, b])
    gflop = 3 * 2.0 * 16 * 64 * 512 * 1000 / 1e9
    return compare("dot (16,64,512)x(1000,512)^T fwd+bwd", runner.forward_backward,
                   _fwd_bwd(lambda x, y: x @ y.T, a, b) if torch else None, gflop)


@benchmark
def batch_dot_attention_fwd_bwd():
    q, k = _rand(96, 128, 64), _rand(96, 128, 64)
    runner = OpRunner("batch_dot", dict(transpose_b=True), [q, k])
    gflop = 3 * 2.0 * 96 * 128 * 128 * 64 / 1e9
    return compare("batch_dot (96,128,64)x(96,128,64)^T fwd+bwd", runner.forward_backward,
                   _fwd_bwd(lambda x, y: torch.bmm(x, y.transpose(1, 2)), q, k) if torch
                   else None, gflop)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("filter", nargs="?", default="", help="run benchmarks whose name has this")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=bench_ops.REPEAT)
    args = parser.parse_args()
    bench_ops.REPEAT = args.repeat
    cn.set_num_threads(args.threads)
    if torch is not None:
        torch.set_num_threads(args.threads)
    rows = [fn() for fn in BENCHMARKS if args.filter in fn.__name__]
    bench_ops.print_table(rows, args.threads, args.repeat)


if __name__ == "__main__":
    main()
