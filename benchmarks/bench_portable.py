"""The portable build's CIFAR ResNet-18 training step against the native build's.

    PYTHONPATH=. python benchmarks/bench_portable.py --portable DIR [--batch 32] [--rounds 5]

DIR holds a portable build's `coarsenet` package (e.g. a venv's site-packages after
`pip install coarsenet-*.whl` of README's portable wheel); the native build is the one this
Python imports. Three children run the hybridized step of benchmarks/bench_resnet_step.py:
native, portable with the AVX-512 ops (x86-64-v4, when the CPU has them) and portable forced to
AVX2 (COARSENET_KERNEL_ISA=x86-64-v3). They alternate round by round so that load from other jobs
hits them alike; each round reports its step's best wall and CPU time, and the table shows the
best of all rounds and the ratios to native. CPU time is the steadier figure on a shared machine.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

CHILD = r"""
import json, sys, time
import numpy as np
sys.path.insert(0, sys.argv[3])
import coarsenet as cn
from bench_resnet_step import coarsenet_step
batch, steps = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
x = rng.normal(size=(batch, 3, 32, 32)).astype(np.float32)
y = rng.integers(0, 10, batch).astype(np.float32)
step = coarsenet_step(True, x, y)
step()
wall = cpu = float("inf")
for _ in range(steps):
    w, c = time.perf_counter(), time.process_time()
    step()
    wall, cpu = min(wall, time.perf_counter() - w), min(cpu, time.process_time() - c)
print(json.dumps({"isa": cn._core.kernel_variant()["isa"], "wall": wall, "cpu": cpu}))
"""


def run(package_parent: str, isa: str | None, batch: int, steps: int) -> dict:
    env = dict(os.environ)
    env.pop("COARSENET_KERNEL_ISA", None)
    if isa:
        env["COARSENET_KERNEL_ISA"] = isa
    # The package under test first; benchmarks/ for bench_resnet_step.
    env["PYTHONPATH"] = os.pathsep.join([package_parent, HERE])
    p = subprocess.run([sys.executable, "-c", CHILD, str(batch), str(steps), package_parent],
                       env=env, capture_output=True, text=True, check=True)
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--portable", required=True, help="folder holding the portable package")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    import coarsenet as cn

    native_parent = os.path.dirname(os.path.dirname(os.path.abspath(cn.__file__)))
    configs = {"native (-march=native)": (native_parent, None),
               "portable, AVX-512 ops": (args.portable, None),
               "portable, AVX2 ops": (args.portable, "x86-64-v3")}
    best = {name: {"wall": float("inf"), "cpu": float("inf"), "isa": "?"} for name in configs}
    for r in range(args.rounds):
        for name, (parent, isa) in configs.items():
            got = run(parent, isa, args.batch, args.steps)
            best[name]["isa"] = got["isa"]
            for key in ("wall", "cpu"):
                best[name][key] = min(best[name][key], got[key])
            print(f"round {r}: {name:24s} {got['isa']:10s} wall {got['wall'] * 1e3:7.1f} ms  "
                  f"cpu {got['cpu'] * 1e3:7.1f} ms", flush=True)
    print(f"\nCIFAR ResNet-18 hybridized training step, batch {args.batch}, "
          f"{os.environ.get('OMP_NUM_THREADS', 'default')} threads, best of {args.rounds} rounds")
    base = best["native (-march=native)"]
    for name, b in best.items():
        print(f"  {name:24s} {b['isa']:10s} wall {b['wall'] * 1e3:7.1f} ms ({b['wall'] / base['wall']:.2f}x)"
              f"   cpu {b['cpu'] * 1e3:7.1f} ms ({b['cpu'] / base['cpu']:.2f}x)")


if __name__ == "__main__":
    main()
