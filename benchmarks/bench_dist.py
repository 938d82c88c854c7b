"""Data-parallel throughput: CIFAR ResNet-20 training, 1 process x 2 threads vs 2 MPI processes x
1 thread (global batch 64 either way), and the all-reduce time per step with its share.

usage: python benchmarks/bench_dist.py            (runs both configurations and prints a table)
       mpiexec -n 2 python benchmarks/bench_dist.py --worker   (one configuration; internal)
Needs the dist extra (mpi4py + MPI). Prints figures; asserts nothing.
"""
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

GLOBAL_BATCH, STEPS, WARMUP = 64, 12, 3


def worker() -> None:
    import coarsenet as cn

    dist = "--dist" in sys.argv
    kv = cn.kvstore.create("dist_sync") if dist else None
    workers = kv.num_workers if kv else 1
    cn.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    batch = GLOBAL_BATCH // workers
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, size=batch).astype(np.float32)
    mod = cn.mod.Module(cn.model_zoo.get_symbol("resnet20", num_classes=10))
    mod.bind([("data", x.shape)], [("softmax_label", y.shape)])
    mod.init_params(cn.init.Xavier(magnitude=2.0))
    mod.init_optimizer(kvstore=kv or "local", optimizer="sgd",
                       optimizer_params={"learning_rate": 0.05, "momentum": 0.9})
    batch_data = cn.io.DataBatch([cn.nd.array(x)], [cn.nd.array(y)])
    times = []
    for step in range(WARMUP + STEPS):
        if kv:
            kv.barrier()
        start = time.perf_counter()
        mod.forward(batch_data, is_train=True)
        mod.backward()
        mod.update()
        times.append(time.perf_counter() - start)
        if step == WARMUP - 1 and kv:
            kv.allreduce_seconds = 0.0
    step_time = float(np.median(times[WARMUP:]))
    allreduce = kv.allreduce_seconds / STEPS if kv else 0.0
    if not kv or kv.rank == 0:
        print(json.dumps({"workers": workers, "step_ms": step_time * 1e3,
                          "images_per_s": GLOBAL_BATCH / step_time,
                          "allreduce_ms": allreduce * 1e3}), flush=True)


def run(cmd, threads):
    env = dict(os.environ, BENCH_THREADS=str(threads))
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1200)
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    me = os.path.abspath(__file__)
    single = run([sys.executable, me, "--worker"], threads=2)
    mpiexec = shutil.which("mpiexec") or os.path.join(os.path.dirname(sys.executable), "mpiexec")
    double = run([mpiexec, "-n", "2", sys.executable, me, "--worker", "--dist"], threads=1)
    print(f"CIFAR ResNet-20 training, global batch {GLOBAL_BATCH}, median of {STEPS} steps")
    print(f"{'configuration':34s} {'ms/step':>9s} {'images/s':>9s} {'allreduce ms':>13s} {'share':>6s}")
    for name, r in (("1 process x 2 threads", single), ("2 processes x 1 thread (MPI)", double)):
        share = r["allreduce_ms"] / r["step_ms"]
        print(f"{name:34s} {r['step_ms']:9.1f} {r['images_per_s']:9.1f} {r['allreduce_ms']:13.2f} "
              f"{share:6.1%}")
    print(f"ratio (2 processes / 1 process images/s): "
          f"{double['images_per_s'] / single['images_per_s']:.2f}")


if __name__ == "__main__":
    worker() if "--worker" in sys.argv else main()
