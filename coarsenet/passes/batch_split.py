"""batch_split — requires: a Schedule, shapes and dtypes of every entry. Provides: {Node: slices}
for the op calls (forward or backward) that run as `slices` independent calls on slices of their
batch, each single-threaded (bindings/batch_split.h runs them; the memory planner sizes their
workspace with Op.split_workspace_bytes).

The op declares whether a call may be cut (Op.batch_split: which inputs / outputs are sliced
along axis 0 and in which modes); this pass decides which calls gain and into how many slices.
The choice depends on shapes only, never on the thread count, so a bound plan gives the same
bits for any number of threads (a slice plans for one thread and the slices are fixed).

Which calls: those whose work per sample is small (CIFAR-sized maps, few channels), where an
op's own parallel loop splits a little work many ways and threads wait on each other; big
calls (ImageNet-sized maps) fill the threads by themselves and stay whole. How many slices:
as many as MAX_SLICES allows while each slice keeps MIN_SLICE_FLOPS of work (and, for a
convolution on a small map, enough images for an efficient GEMM), so that a slice's kernels
run about as fast per sample as the whole call's.
"""
from __future__ import annotations

import numpy as np

from .. import ops as _ops
from ..base import dtype_code
from ..graph import BACKWARD, OP, Entry
from .mirror_common import node_flops

# At most this many slices: a split call uses at most this many threads (not yet measured on
# more than 2 cores; on 16 a split call leaves half of them idle).
MAX_SLICES = 8
# A slice of an EXPENSIVE op (convolution) does at least this many flops (mirror_common's
# node_flops: 2 x outputs x fan-in), one of any other op writes at least this many elements.
MIN_SLICE_FLOPS = 4_000_000
MIN_SLICE_ELEMS = 1 << 16
# Calls doing more per sample than this fill the threads on their own (ResNet-18 CIFAR's
# backward convolutions do 150M per image; ImageNet-sized 3x3 layers 460M and more). A
# threshold set from the shapes, not measured against many cores.
MAX_SAMPLE_FLOPS = 200_000_000
# A convolution slice gives its GEMMs at least this many output positions (images x map):
# measured at one thread on ResNet-18 (CIFAR) b32 (benchmarks/bench_parallel.py --slices),
# slices of 1024 or more positions cost what the whole call does (0.9-1.1x), slices of 256 on
# 8x8 maps 1.5x, of 128 on 4x4 maps 2-2.5x (Winograd's tile blocks span images): so b32 splits
# 32x32 and 16x16 maps in 8, 8x8 maps in 2, and leaves 4x4 maps whole.
MIN_SLICE_POSITIONS = 1024


def batch_slices(sched, shapes: dict, dtypes: dict) -> dict:
    """{Node: slices >= 2} for the calls of `sched.order` that run in slices of their batch."""
    out = {}
    for node in sched.order:
        if node.kind == OP:
            fwd = node
        elif node.kind == BACKWARD:
            fwd = node.backward.forward
        else:
            continue
        s = _slices(fwd, shapes, dtypes, node.kind == BACKWARD)
        if s > 1:
            out[node] = s
    return out


def _slices(fwd, shapes: dict, dtypes: dict, backward: bool) -> int:
    modes, sliced_in, sliced_out = fwd.op.batch_split
    if not modes:
        return 1
    n_in = fwd.num_inputs
    ins = [shapes.get(e) for e in fwd.inputs[:n_in]]
    outs = [shapes.get(Entry(fwd, j)) for j in range(fwd.num_outputs)]
    sliced = [s for s, f in zip(ins, sliced_in) if f] + [s for s, f in zip(outs, sliced_out) if f]
    if not sliced or any(s is None or len(s) < 1 for s in sliced):
        return 1
    batch = sliced[0][0]
    if batch < 2 or any(s[0] != batch for s in sliced):
        return 1
    # Slices of float data only (a whole input's gradient is summed in its dtype).
    codes = [dtype_code(dtypes[e]) for e in fwd.inputs[:n_in] if dtypes.get(e) is not None]
    if any(c not in (0, 1) for c in codes):  # MXNet's flags: float32, float64
        return 1
    flops = node_flops(fwd, shapes, fwd.recompute_of or fwd) * (2 if backward else 1)
    per_sample = flops / batch
    if per_sample > MAX_SAMPLE_FLOPS:
        return 1
    least = MIN_SLICE_FLOPS if fwd.op.flags & _ops.EXPENSIVE else MIN_SLICE_ELEMS
    min_images = max(1, int(np.ceil(least / max(per_sample, 1.0))))
    if fwd.op.name == "Convolution" and outs[0] is not None:
        positions = int(np.prod(outs[0][2:], dtype=np.int64)) or 1
        min_images = max(min_images, -(-MIN_SLICE_POSITIONS // positions))
    slices = min(MAX_SLICES, batch // min_images)
    return slices if slices >= 2 else 1
