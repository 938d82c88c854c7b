"""The network targets of issue 20: training-step time of coarsenet next to PyTorch 2.13 (and
MXNet 1.9.1 for MobileNet v2) in one run.

    PYTHONPATH=. python benchmarks/bench_nets.py [--nets resnet18,lenet,...] [--repeat N]
                                                 [--threads 2] [--profile]

Every net runs a full training step (forward, backward, SGD with momentum 0.9) on random data:
coarsenet through a bound executor and its sgd_mom_update op, PyTorch eager with
torch.optim.SGD. The two alternate step by step in one process with the same thread count, and
the minimum and median of `repeat` steps are printed with the ratio of the minimums
(coarsenet / PyTorch; below 1 coarsenet is faster) and the minimum CPU time of a step (on a
loaded machine, CPU time well above threads x wall time shows threads spinning). MXNet runs in
its own process (both load OpenMP and BLAS) right after, with the same thread count. --profile
prints the time per op type of one more step of each framework, so that the slow ops show. Prints figures, asserts nothing.

Nets (issue 20 targets in brackets): CIFAR ResNet-18 b32 at 1 and 2 threads [ratio <= 0.6,
1 -> 2 threads >= 1.85x], Inception-BN 224 b16 [<= 0.75], ResNet-50 224 b16 [<= 0.8],
MobileNet v2 224 b32 [<= 0.8 and <= MXNet], LeNet b64 [<= 0.8], 100 residual units (conv 3x3
32->32, BN, ReLU, no mirror) on 16x32x32x32 [<= 0.8].
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

MXNET_PYTHON = "/work/mxvenv/bin/python"


# -------------------------------------------------------------------------- the nets


def _cn_lenet(cn):
    return cn.model_zoo.get_symbol("lenet")


def _cn_resnet18(cn):
    from models_common import resnet18_symbol

    return resnet18_symbol()


def _cn_resnet50(cn):
    return cn.model_zoo.get_symbol("resnet50", num_classes=1000)


def _cn_inception(cn):
    from nets_torch import inception_bn_symbol

    return inception_bn_symbol(cn.sym)


def _cn_mobilenet_v2(cn):
    from coarsenet.gluon_model_zoo.vision import mobilenet_v2_1_0

    return cn.sym.SoftmaxOutput(mobilenet_v2_1_0()(cn.sym.var("data")), name="softmax")


def _cn_resunits(cn):
    from bench_memory import resunits_symbol

    return resunits_symbol(100)


def _torch_resunits():
    import torch.nn as nn
    import torch.nn.functional as F

    class Unit(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(32, 32, 3, padding=1, bias=False)
            self.bn = nn.BatchNorm2d(32)

        def forward(self, x):
            return x + F.relu(self.bn(self.conv(x)))

    return nn.Sequential(*[Unit() for _ in range(100)], nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(32, 10))


def _torch_net(name):
    import models_common
    import nets_torch
    from bench_memory import torch_resnet50

    return {"resnet18": models_common.torch_resnet18, "resnet50": torch_resnet50,
            "inception-bn": nets_torch.torch_inception_bn,
            "mobilenet-v2": nets_torch.torch_mobilenet_v2, "lenet": nets_torch.torch_lenet,
            "resunits100": _torch_resunits}[name]()


# name -> (coarsenet symbol builder, data shape, classes, steps by default, target ratio)
NETS = {
    "resnet18": (_cn_resnet18, (32, 3, 32, 32), 10, 8, 0.6),
    "inception-bn": (_cn_inception, (16, 3, 224, 224), 1000, 3, 0.75),
    "resnet50": (_cn_resnet50, (16, 3, 224, 224), 1000, 3, 0.8),
    "mobilenet-v2": (_cn_mobilenet_v2, (32, 3, 224, 224), 1000, 3, 0.8),
    "lenet": (_cn_lenet, (64, 1, 28, 28), 10, 20, 0.8),
    "resunits100": (_cn_resunits, (16, 32, 32, 32), 10, 6, 0.8),
}


def _batch(shape, classes, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape).astype(np.float32),
            rng.integers(0, classes, size=shape[0]).astype(np.float32))


# ------------------------------------------------------------------- training steps


def cn_step(cn, name, x, y, lr=0.01, momentum=0.9):
    """(step function, executor, update function) of coarsenet for net `name`."""
    from models_common import init_executor

    net = NETS[name][0](cn)
    req = {n: "write" for n in net.list_arguments() if n not in ("data", "softmax_label")}
    exe = net.simple_bind(grad_req=req, data=x.shape, softmax_label=y.shape)
    init_executor(exe)
    triples = [(exe.arg_dict[n], exe.grad_dict[n], cn.nd.zeros(exe.arg_dict[n].shape))
               for n in req]

    def update():
        for w, g, m in triples:
            cn.nd.sgd_mom_update(w, g, m, lr=lr, momentum=momentum, out=w)

    def step():
        exe.forward(is_train=True, data=x, softmax_label=y)
        exe.backward()
        update()

    return step, exe, update


def torch_step(name, x, y, lr=0.01, momentum=0.9):
    import torch
    import torch.nn.functional as F

    model = _torch_net(name)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y).long()

    def step():
        opt.zero_grad(set_to_none=False)
        F.cross_entropy(model(xt), yt).backward()
        opt.step()

    return step, model, (xt, yt)


def alternate(fns: dict, repeat: int, warmup: int = 1) -> dict:
    """{key: (min, median, min CPU time) seconds}, the steps run in turn so drifts hit all."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times = {k: [] for k in fns}
    cpu = {k: [] for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            times[k].append(time.perf_counter() - t0)
            cpu[k].append(time.process_time() - c0)
    return {k: (min(v), statistics.median(v), min(cpu[k])) for k, v in times.items()}


# -------------------------------------------------------------------------- profiles


def print_profile(exe, update, model, xt, yt, step_time: float, rounds: int = 2) -> None:
    """Milliseconds per op type in a training step, coarsenet next to PyTorch's profiler."""
    import torch
    import torch.nn.functional as F

    totals: dict = {}
    for _ in range(rounds):
        for label, _, seconds in exe.profile(is_train=True):
            totals[label] = totals.get(label, 0.0) + seconds / rounds
    t0 = time.perf_counter()
    update()
    totals["(sgd_mom_update, all params)"] = time.perf_counter() - t0
    ops = sum(totals.values())
    totals["(rest: Python, copies in/out)"] = max(step_time - ops, 0.0)
    with torch.profiler.profile() as prof:
        for _ in range(rounds):
            model.zero_grad(set_to_none=False)
            F.cross_entropy(model(xt), yt).backward()
    events = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[:16]
    ours = sorted(totals.items(), key=lambda kv: -kv[1])[:16]
    print(f"    {'coarsenet op type':34s} {'ms':>7s}   {'PyTorch op (self CPU, fwd+bwd)':40s} "
          f"{'ms':>7s}")
    for i in range(max(len(ours), len(events))):
        left = f"{ours[i][0][:34]:34s} {ours[i][1] * 1e3:7.1f}" if i < len(ours) else " " * 42
        right = (f"{events[i].key[:40]:40s} {events[i].self_cpu_time_total / 1e3 / rounds:7.1f}"
                 if i < len(events) else "")
        print(f"    {left}   {right}")


# ------------------------------------------------------------------------------ MXNet


def mxnet_worker(name: str, threads: int, repeat: int) -> None:
    """Runs inside MXNet's Python: prints {min, median} seconds of the same training step."""
    import mxnet as mx

    shape, classes = NETS[name][1], NETS[name][2]
    if name != "mobilenet-v2":
        raise SystemExit(f"mxnet worker: only mobilenet-v2, found {name}")
    net = mx.gluon.model_zoo.vision.mobilenet_v2_1_0()
    sym = mx.sym.SoftmaxOutput(net(mx.sym.var("data")), name="softmax")
    x, y = _batch(shape, classes)
    req = {n: "write" for n in sym.list_arguments() if n not in ("data", "softmax_label")}
    exe = sym.simple_bind(mx.cpu(), grad_req=req, data=shape, softmax_label=(shape[0],))
    rng = np.random.default_rng(0)
    for n, arr in exe.arg_dict.items():
        if n.endswith("_weight"):
            arr[:] = rng.normal(0, np.sqrt(2.0 / np.prod(arr.shape[1:])), arr.shape)
        elif n.endswith("_gamma"):
            arr[:] = 1
    for n, arr in exe.aux_dict.items():
        arr[:] = 1 if n.endswith("_var") else 0
    triples = [(exe.arg_dict[n], exe.grad_dict[n], mx.nd.zeros(exe.arg_dict[n].shape))
               for n in req]
    xd, yd = mx.nd.array(x), mx.nd.array(y)

    def step():
        exe.forward(is_train=True, data=xd, softmax_label=yd)
        exe.backward()
        for w, g, m in triples:
            mx.nd.sgd_mom_update(w, g, m, lr=0.01, momentum=0.9, out=w)
        mx.nd.waitall()

    times = alternate({"mx": step}, repeat)["mx"]
    print(json.dumps({"min": times[0], "median": times[1]}))


def run_mxnet(name: str, threads: int, repeat: int):
    if not os.path.exists(MXNET_PYTHON):
        return None
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MXNET_CPU_WORKER_NTHREADS="1",
               OPENBLAS_NUM_THREADS=str(threads))
    proc = subprocess.run([MXNET_PYTHON, __file__, "--mxnet-worker", name, "--threads",
                           str(threads), "--repeat", str(repeat)], env=env, capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        print(f"  MXNet worker failed: {proc.stderr[-800:]}")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------- main


def bench(name: str, threads: int, repeat: int, profile: bool) -> tuple:
    import torch

    import coarsenet as cn

    cn.set_num_threads(threads)
    torch.set_num_threads(threads)
    _, shape, classes, steps, target = NETS[name]
    x, y = _batch(shape, classes)
    step, exe, update = cn_step(cn, name, x, y)
    tstep, model, (xt, yt) = torch_step(name, x, y)
    t = alternate({"cn": step, "torch": tstep}, repeat or steps)
    cn_min, torch_min = t["cn"][0], t["torch"][0]
    line = (f"{name:13s} b{shape[0]:<3d} {threads}T  coarsenet {cn_min * 1e3:8.1f} / "
            f"{t['cn'][1] * 1e3:8.1f} ms   PyTorch {torch_min * 1e3:8.1f} / "
            f"{t['torch'][1] * 1e3:8.1f} ms   ratio {cn_min / torch_min:5.2f} "
            f"(target <= {target})   CPU ms {t['cn'][2] * 1e3:.0f} vs {t['torch'][2] * 1e3:.0f}")
    print(line, flush=True)
    if name == "mobilenet-v2":
        mx_t = run_mxnet(name, threads, repeat or steps)
        if mx_t:
            print(f"{'':22s}MXNet 1.9.1 {mx_t['min'] * 1e3:8.1f} / {mx_t['median'] * 1e3:8.1f}"
                  f" ms   coarsenet / MXNet {cn_min / mx_t['min']:5.2f} (target <= 1)",
                  flush=True)
    if profile:
        print_profile(exe, update, model, xt, yt, cn_min)
    return cn_min, torch_min


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", default=",".join(NETS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=0, help="steps per net (0: per-net default)")
    parser.add_argument("--profile", action="store_true", help="time per op type, both sides")
    parser.add_argument("--mxnet-worker")
    args = parser.parse_args()
    if args.mxnet_worker:
        mxnet_worker(args.mxnet_worker, args.threads, args.repeat or 3)
        return
    print(f"training step, min / median of the steps (ms); ratio = coarsenet min / PyTorch min; "
          f"load average {os.getloadavg()[0]:.2f} at start")
    for name in args.nets.split(","):
        if name == "resnet18" and args.threads != 1:
            one = bench(name, 1, args.repeat, args.profile)
            two = bench(name, args.threads, args.repeat, args.profile)
            print(f"{'':22s}1 -> {args.threads} threads: coarsenet {one[0] / two[0]:.2f}x, "
                  f"PyTorch {one[1] / two[1]:.2f}x (target >= 1.85x)", flush=True)
        else:
            bench(name, args.threads, args.repeat, args.profile)


if __name__ == "__main__":
    main()
