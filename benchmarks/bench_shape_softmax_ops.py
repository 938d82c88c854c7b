"""Times softmax, log_softmax, SoftmaxOutput, Dropout, Concat and Embedding against PyTorch.

Forward and backward of each op on float32 CPU tensors, both frameworks in the same process and
with the same thread count; prints milliseconds (median of repeats) and the ratio coarsenet /
torch (below 1 means coarsenet is faster). Never asserts timings.

    PYTHONPATH=. python benchmarks/bench_shape_softmax_ops.py [threads]
"""
from __future__ import annotations

import sys
import time

import numpy as np
import torch

import coarsenet as cn

REQ_WRITE = 1


def median_ms(fn, repeat=15):
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e3 * float(np.median(times))


def cn_pair(name, params, inputs, is_train=False):
    """(forward, backward) callables running the raw op with preallocated buffers."""
    op = cn.ops.make(name, params)
    outs = op.invoke(inputs, [], is_train, 1)
    heads = [np.ones_like(o) for o in outs]
    grads = [np.empty_like(x) for x in inputs]
    req = [REQ_WRITE if x.dtype == np.float32 and i in want else 0
           for i, x in enumerate(inputs)] if (want := _grad_inputs(name)) else []
    fwd_req = [REQ_WRITE] * len(outs)

    def forward():
        op.forward(inputs, outs, fwd_req, [], is_train=is_train, seed=1)

    def backward():
        op.backward(heads, inputs, outs, grads, req, [], is_train=is_train, seed=1)

    return forward, backward


def _grad_inputs(name):
    return {"Embedding": {1}, "SoftmaxOutput": {0}}.get(name, set(range(8)))


def torch_pair(fn, inputs, grad_index):
    ts = [torch.from_numpy(x) for x in inputs]
    for i in grad_index:
        ts[i].requires_grad_(True)

    def forward():
        with torch.no_grad():
            fn(*ts)

    def backward():
        out = fn(*ts)
        out.backward(torch.ones_like(out))

    return forward, backward


def row(label, cn_fns, torch_fns):
    cf, cb = (median_ms(f) for f in cn_fns)
    tf, tb = (median_ms(f) for f in torch_fns)
    # torch's "backward" includes its forward; report coarsenet's forward + backward likewise.
    print(f"{label:38s} fwd {cf:7.3f} / {tf:7.3f} ms = {cf / tf:5.2f}x   "
          f"fwd+bwd {cf + cb:7.3f} / {tb:7.3f} ms = {(cf + cb) / tb:5.2f}x")


def main():
    if len(sys.argv) > 1:
        cn.set_num_threads(int(sys.argv[1]))
    threads = cn._core.get_num_threads()
    torch.set_num_threads(threads)
    print(f"threads={threads}; columns: coarsenet / torch")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 1000)).astype(np.float32)
    x4 = rng.normal(size=(32, 64, 28, 28)).astype(np.float32)
    label = rng.integers(0, 1000, size=256).astype(np.float32)

    row("softmax (256, 1000) axis=-1", cn_pair("softmax", {}, [x]),
        torch_pair(lambda t: torch.softmax(t, -1), [x], [0]))
    row("softmax (32, 64, 28, 28) axis=1", cn_pair("softmax", dict(axis=1), [x4]),
        torch_pair(lambda t: torch.softmax(t, 1), [x4], [0]))
    row("log_softmax (256, 1000)", cn_pair("log_softmax", {}, [x]),
        torch_pair(lambda t: torch.log_softmax(t, -1), [x], [0]))
    lab_t = torch.from_numpy(label).long()
    row("SoftmaxOutput vs cross_entropy", cn_pair("SoftmaxOutput", {}, [x, label]),
        torch_pair(lambda t: torch.nn.functional.cross_entropy(t, lab_t, reduction="sum"),
                   [x], [0]))
    row("Dropout p=0.5 (32, 64, 28, 28) train", cn_pair("Dropout", {}, [x4], is_train=True),
        torch_pair(lambda t: torch.nn.functional.dropout(t, 0.5, True), [x4], [0]))
    parts = [rng.normal(size=(32, c, 28, 28)).astype(np.float32) for c in (64, 32, 32)]
    row("Concat 3 x (32, c, 28, 28) dim=1", cn_pair("Concat", dict(num_args=3), parts),
        torch_pair(lambda *t: torch.cat(t, 1), parts, [0, 1, 2]))
    idx = rng.integers(0, 50_000, size=(64, 128)).astype(np.float32)
    w = rng.normal(size=(50_000, 256)).astype(np.float32)
    idx_t = torch.from_numpy(idx).long()
    row("Embedding (64, 128) x (50000, 256)",
        cn_pair("Embedding", dict(input_dim=50_000, output_dim=256), [idx, w]),
        torch_pair(lambda wt: torch.nn.functional.embedding(idx_t, wt), [w], [0]))


if __name__ == "__main__":
    main()
