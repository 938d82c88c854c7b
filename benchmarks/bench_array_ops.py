"""Times the array ops (transpose, slice, broadcast_to, tile, repeat, Pad, UpSampling, max, norm,
exp, tanh) against PyTorch: forward and forward+backward on float32 CPU tensors, in the same
process with the same thread count, median of repeats; ratio = coarsenet / torch (below 1 means
coarsenet is faster). Never asserts timings.

    PYTHONPATH=. python benchmarks/bench_array_ops.py [threads]
"""
from __future__ import annotations

import sys

import numpy as np
import torch
import torch.nn.functional as F
from bench_shape_softmax_ops import cn_pair, row, torch_pair

import coarsenet as cn


def main():
    if len(sys.argv) > 1:
        cn.set_num_threads(int(sys.argv[1]))
    torch.set_num_threads(cn.get_num_threads())
    rng = np.random.default_rng(0)
    img = rng.standard_normal((32, 64, 28, 28)).astype(np.float32)
    mat = rng.standard_normal((1024, 1024)).astype(np.float32)
    vec = rng.standard_normal((64, 1, 512)).astype(np.float32)
    cases = [
        ("transpose NCHW->NHWC 32x64x28x28", "transpose", dict(axes=(0, 2, 3, 1)), [img],
         lambda x: x.permute(0, 2, 3, 1).contiguous()),
        ("transpose 1024x1024", "transpose", {}, [mat], lambda x: x.t().contiguous()),
        ("slice [:, 8:56, 2:26, 2:26]", "slice",
         dict(begin=(None, 8, 2, 2), end=(None, 56, 26, 26)), [img],
         lambda x: x[:, 8:56, 2:26, 2:26].contiguous()),
        ("broadcast_to 64x1x512 -> 64x256x512", "broadcast_to", dict(shape=(64, 256, 512)),
         [vec], lambda x: x.expand(64, 256, 512).contiguous()),
        ("tile 1024x1024 reps (2, 2)", "tile", dict(reps=(2, 2)), [mat], lambda x: x.repeat(2, 2)),
        ("repeat 1024x1024 x2 axis 1", "repeat", dict(repeats=2, axis=1), [mat],
         lambda x: x.repeat_interleave(2, dim=1)),
        ("Pad edge 32x64x28x28 +2", "Pad",
         dict(mode="edge", pad_width=(0, 0, 0, 0, 2, 2, 2, 2)), [img],
         lambda x: F.pad(x, (2, 2, 2, 2), mode="replicate")),
        ("UpSampling nearest x2 32x64x28x28", "UpSampling",
         dict(scale=2, sample_type="nearest", num_args=1), [img],
         lambda x: F.interpolate(x, scale_factor=2, mode="nearest")),
        ("max axis 1 of 32x64x28x28", "max", dict(axis=1), [img], lambda x: x.amax(dim=1)),
        ("norm axis (2, 3) of 32x64x28x28", "norm", dict(axis=(2, 3)), [img],
         lambda x: torch.linalg.vector_norm(x, dim=(2, 3))),
        ("exp 32x64x28x28", "exp", {}, [img], torch.exp),
        ("tanh 32x64x28x28", "tanh", {}, [img], torch.tanh),
    ]
    for label, name, params, inputs, fn in cases:
        row(label, cn_pair(name, params, inputs), torch_pair(fn, inputs, range(len(inputs))))


if __name__ == "__main__":
    main()
