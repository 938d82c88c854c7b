"""ONNX Runtime vs coarsenet: inference of the zoo's ResNet-18 (batch 32) exported with
cn.onnx.export_model, both measured in the same run with the same thread count.

    PYTHONPATH=. python benchmarks/bench_onnx.py [--batch 32] [--size 224] [--threads 2] [--repeat 5]

Prints the median seconds per batch of each and the ratio (coarsenet / ONNX Runtime; < 1 means
coarsenet is faster), plus the max abs difference of their outputs. Never asserts timings: the
machine is shared and noisy, so the runs alternate and report medians.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "onnx"))

from onnx_helpers import random_params

import coarsenet as cn


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    import onnxruntime as ort

    shape = (args.batch, 3, args.size, args.size)
    sym = cn.model_zoo.get_symbol("resnet18", num_classes=1000)
    params = random_params(sym, {"data": shape})
    path = os.path.join(tempfile.mkdtemp(), "resnet18.onnx")
    cn.onnx.export_model(sym, params, [shape], onnx_file_path=path)

    cn.set_num_threads(args.threads)
    aux_names = set(sym.list_auxiliary_states())
    exe = sym.simple_bind(grad_req="null", data=shape, softmax_label=(args.batch,))
    for k, v in params.items():
        (exe.aux_dict if k in aux_names else exe.arg_dict)[k][:] = v
    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)

    runs = {"coarsenet": lambda: exe.forward(is_train=False, data=x)[0].asnumpy(),
            "onnxruntime": lambda: sess.run(None, {"data": x})[0]}
    outs = {k: fn() for k, fn in runs.items()}  # warm-up
    times = {k: [] for k in runs}
    for _ in range(args.repeat):
        for k, fn in runs.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"ResNet-18 inference, batch {args.batch}, {args.size}x{args.size}, "
          f"{args.threads} threads, median of {args.repeat}")
    for k, t in med.items():
        print(f"  {k:12s} {t * 1000:9.1f} ms/batch  {args.batch / t:8.1f} img/s")
    print(f"  ratio coarsenet/onnxruntime: {med['coarsenet'] / med['onnxruntime']:.2f}")
    diff = float(np.max(np.abs(outs["coarsenet"] - outs["onnxruntime"])))
    print(f"  max abs output difference: {diff:.2e}")


if __name__ == "__main__":
    main()
