"""Inference time of the MXNet fixture models: coarsenet against real MXNet 1.9.1.

    python benchmarks/bench_mxnet.py [--mxnet-python /tmp/mxvenv/bin/python] [--threads 2]
                                     [--batches 1,16] [--repeat 20] [--rounds 3]

Each framework runs in its own process (they both load OpenMP and BLAS) with the same thread
count, on the same checkpoints (tests/fixtures/mxnet, written by MXNet), bound once per batch
size and timed over `repeat` forward passes after warm-up, in `rounds` alternating rounds; the
median and the best time are reported. MXNet is optional: without it only coarsenet's times are
printed. Prints figures, asserts nothing.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
FIXTURES = os.path.join(REPO, "tests", "fixtures", "mxnet")
MODELS = ["lenet", "mobilenet0.25", "squeezenet1.1", "resnet18_v1"]


def _time(run, repeat: int) -> list:
    for _ in range(3):
        run()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1e3)
    return times


def _params_io(nd, np) -> dict:
    """Save and load of a 128 MB params file (32 float32 arrays of 1M elements). coarsenet's
    load allocates fresh arrays each time, so it pays the kernel's first touch of 128 MB of new
    memory (about 0.2 s on a loaded 2-core machine); MXNet's pooled allocator reuses memory
    across the repeated loads of this benchmark."""
    import tempfile

    arrays = {f"arg:w{i}": nd.array(np.full((1000, 1000), i, np.float32)) for i in range(32)}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "big.params")
        save = _time(functools.partial(nd.save, path, arrays), 3)
        load = _time(functools.partial(nd.load, path), 3)
    return {"save 128 MB params": save, "load 128 MB params": load}


def worker_coarsenet(batches, repeat, threads) -> dict:
    sys.path.insert(0, REPO)
    import numpy as np

    import coarsenet as cn

    cn.set_num_threads(threads)
    results = _params_io(cn.nd, np)
    for m in MODELS:
        sym, arg, aux = cn.model.load_checkpoint(os.path.join(FIXTURES, m), 0)
        shape = cn.nd.load(os.path.join(FIXTURES, f"{m}-io.params"))["data"].shape
        for b in batches:
            x = cn.nd.array(np.random.RandomState(0).uniform(-1, 1, (b,) + shape[1:]))
            exe = sym.bind(cn.cpu(), args=dict(arg, data=x), aux_states=aux, grad_req="null")
            results[f"{m}/{b}"] = _time(functools.partial(exe.forward, is_train=False), repeat)
    return results


def worker_mxnet(batches, repeat, threads) -> dict:
    import mxnet as mx
    import numpy as np

    results = _params_io(mx.nd, np)
    for m in MODELS:
        sym, arg, aux = mx.model.load_checkpoint(os.path.join(FIXTURES, m), 0)
        shape = mx.nd.load(os.path.join(FIXTURES, f"{m}-io.params"))["data"].shape
        for b in batches:
            x = mx.nd.array(np.random.RandomState(0).uniform(-1, 1, (b,) + shape[1:]))
            exe = sym.bind(mx.cpu(), args=dict(arg, data=x), aux_states=aux, grad_req="null")
            results[f"{m}/{b}"] = _time(functools.partial(_mxnet_forward, exe), repeat)
    return results


def _mxnet_forward(exe) -> None:
    exe.forward(is_train=False)
    exe.outputs[0].wait_to_read()  # MXNet runs asynchronously


def _spawn(python: str, name: str, args) -> dict | None:
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads),
               MXNET_CPU_WORKER_NTHREADS="1", OPENBLAS_NUM_THREADS=str(args.threads))
    cmd = [python, __file__, "--worker", name, "--threads", str(args.threads),
           "--batches", args.batches, "--repeat", str(args.repeat)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        print(f"{name} worker failed:\n{proc.stderr[-2000:]}")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mxnet-python", default="/tmp/mxvenv/bin/python")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batches", default="1,16")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker", choices=["coarsenet", "mxnet"])
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    if args.worker:
        fn = worker_coarsenet if args.worker == "coarsenet" else worker_mxnet
        print(json.dumps(fn(batches, args.repeat, args.threads)))
        return
    # Alternate the two processes for several rounds so that load from other programs on the
    # machine hits both alike; report the median and the best time over all rounds.
    have_mxnet = os.path.exists(args.mxnet_python)
    ours, theirs = {}, {}
    for _ in range(args.rounds):
        for name, python, acc in [("coarsenet", sys.executable, ours),
                                  ("mxnet", args.mxnet_python, theirs)][: 1 + have_mxnet]:
            result = _spawn(python, name, args)
            for key, times in (result or {}).items():
                acc.setdefault(key, []).extend(times)
    if not ours:
        return
    print(f"inference time (ms) over {args.rounds} rounds x {args.repeat} runs, "
          f"{args.threads} threads: median / best")
    print(f"{'model/batch':20s} {'coarsenet':>17s} {'mxnet 1.9.1':>17s} {'ratio (median)':>15s}")
    for key, times in ours.items():
        med, best = statistics.median(times), min(times)
        ref = theirs.get(key)
        if ref:
            ref_med, ref_best = statistics.median(ref), min(ref)
            print(f"{key:20s} {med:8.2f} / {best:6.2f} {ref_med:8.2f} / {ref_best:6.2f} "
                  f"{med / ref_med:15.2f}")
        else:
            print(f"{key:20s} {med:8.2f} / {best:6.2f} {'n/a':>17s}")
    print("ratio = coarsenet time / MXNet time (below 1: coarsenet is faster)")


if __name__ == "__main__":
    main()
