"""Inter-op parallelism benchmark (issue 20): train steps with independent ops run concurrently
(on) or one at a time (off), next to PyTorch eager in the same run.

    PYTHONPATH=. python benchmarks/bench_parallel.py [--threads 2] [--repeat 15] [--size 32]
                                                     [--residual] [--slices]
                                                     [--inter-op [--sizes 224,32]]
                                                     [--stages 224]

--inter-op prints only the issue's inter-op figures: Inception-BN b4 at each of --sizes and
CIFAR ResNet-18 b4 and b32 (projection shortcuts beside the main path: little to overlap, so
on must not be slower), on vs off interleaved, with the load average before and after. --stages SIZE prints where the
time of Inception-BN b4's concurrent stages goes (per call and per stage, as planned and alone).

- Inception-BN (coarsenet.model_zoo.inception_bn, 2 blocks, size x size inputs) train step at
  batch 4 and 16, inter-op on vs off (the issue's target: >= 10% faster on at batch 4).
- LeNet b64 and, with --residual, 100 residual units (conv 3x3 32->32 + BN + ReLU on
  16x32x32x32): chains, where inter-op has nothing to overlap (on ~ off); ratios to PyTorch.
- Batch parallelism on vs off (COARSENET_BATCH_PAR at bind): ResNet-18 CIFAR b32 and LeNet b64
  at 1 and --threads threads, with PyTorch, and the 1 -> N thread speed-ups. --slices prints
  only the per-call table (ResNet-18 convolutions whole vs in 2, 4, 8 slices of the batch).
Each configuration runs interleaved with the others; printed: min and median wall ms per step,
CPU ms per step (process time: shows threads spinning or idling), ratios. Never asserts.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import coarsenet as cn  # noqa: E402
from coarsenet.model_zoo.inception_bn import inception_bn  # noqa: E402
from coarsenet.model_zoo.lenet import lenet  # noqa: E402
from models_common import init_executor  # noqa: E402


def bind(net, inter_op: bool, shapes: dict):
    os.environ["COARSENET_INTER_OP"] = "1" if inter_op else "0"
    exe = net.simple_bind(**shapes)
    init_executor(exe)
    rng = np.random.default_rng(0)
    exe.arg_dict["data"][:] = rng.standard_normal(shapes["data"]).astype(np.float32)
    if "softmax_label" in exe.arg_dict:
        exe.arg_dict["softmax_label"][:] = rng.integers(0, 10, shapes["softmax_label"])
    return exe


def cn_step(exe):
    def step():
        exe.forward(is_train=True)
        exe.backward()
    return step


def residual_symbol(units: int = 100):
    sym = cn.sym
    net = sym.Variable("data")
    for i in range(units):
        body = sym.Convolution(net, kernel=(3, 3), pad=(1, 1), num_filter=32, no_bias=True,
                               name=f"u{i}_conv")
        body = sym.Activation(sym.BatchNorm(body, name=f"u{i}_bn"), act_type="relu")
        net = net + body
    return sym.MakeLoss(sym.mean(net * net))


def torch_models():
    import torch
    from torch import nn

    def cbr(cin, cout, k, pad=0):
        return nn.Sequential(nn.Conv2d(cin, cout, k, padding=pad, bias=False),
                             nn.BatchNorm2d(cout), nn.ReLU())

    class Block(nn.Module):
        def __init__(self, cin, pool):
            super().__init__()
            self.b1 = cbr(cin, 16, 1)
            self.b3 = nn.Sequential(cbr(cin, 16, 1), cbr(16, 24, 3, 1))
            self.bd = nn.Sequential(cbr(cin, 16, 1), cbr(16, 24, 3, 1), cbr(24, 24, 3, 1))
            pool_layer = nn.MaxPool2d(3, 1, 1) if pool == "max" else \
                nn.AvgPool2d(3, 1, 1, count_include_pad=True)
            self.bp = nn.Sequential(pool_layer, cbr(cin, 16, 1))

        def forward(self, x):
            return torch.cat([self.b1(x), self.b3(x), self.bd(x), self.bp(x)], 1)

    inception = nn.Sequential(cbr(3, 32, 3, 1), Block(32, "avg"), Block(80, "max"),
                              nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(80, 10))
    lenet_t = nn.Sequential(nn.Conv2d(1, 20, 5, padding=2), nn.Tanh(), nn.MaxPool2d(2),
                            nn.Conv2d(20, 50, 5, padding=2), nn.Tanh(), nn.MaxPool2d(2),
                            nn.Flatten(), nn.Linear(50 * 7 * 7, 500), nn.Tanh(),
                            nn.Linear(500, 10))
    return inception, lenet_t


def torch_step(model, shape):
    import torch

    x = torch.randn(*shape)
    y = torch.randint(0, 10, (shape[0],))
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        model.zero_grad(set_to_none=False)
        loss_fn(model(x), y).backward()
    return step


def measure(fns: dict, repeat: int, warmup: int = 2) -> dict:
    """{name: (min wall s, median wall s, median cpu s)}, the fns run in turn each round."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    wall = {k: [] for k in fns}
    cpu = {k: [] for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            wall[k].append(time.perf_counter() - t0)
            cpu[k].append(time.process_time() - c0)
    return {k: (min(wall[k]), statistics.median(wall[k]), statistics.median(cpu[k]))
            for k in fns}


def report(title: str, res: dict, pairs) -> None:
    print(f"\n{title}")
    for k, (mn, med, cpu) in res.items():
        print(f"  {k:22s} min {mn * 1e3:8.2f} ms  median {med * 1e3:8.2f} ms  cpu {cpu * 1e3:8.2f} ms")
    for a, b, what in pairs:
        if a in res and b in res:
            print(f"  {what}: {res[a][0] / res[b][0]:.3f} (min), {res[a][1] / res[b][1]:.3f} "
                  "(median)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--residual", action="store_true")
    ap.add_argument("--slices", action="store_true",
                    help="only the per-call table of whole vs sliced ResNet-18 convolutions")
    ap.add_argument("--inter-op", action="store_true",
                    help="only the inter-op on/off figures (Inception-BN b4, ResNet-18)")
    ap.add_argument("--sizes", default="224,32", help="input sizes for --inter-op")
    ap.add_argument("--stages", type=int, metavar="SIZE",
                    help="only the per-stage table of Inception-BN b4 at SIZE x SIZE inputs")
    args = ap.parse_args()
    if args.stages:
        stage_table(args.threads, args.stages, max(args.repeat, 16))
        return
    if args.inter_op:
        inter_op_only(args.threads, args.repeat, [int(v) for v in args.sizes.split(",")])
        return
    if args.slices:
        for n in sorted({1, args.threads}):
            slice_costs(n, args.repeat)
        return
    cn.set_num_threads(args.threads)
    try:
        import torch
        torch.set_num_threads(args.threads)
        t_incep, t_lenet = torch_models()
    except ImportError:
        torch = t_incep = t_lenet = None
    print(f"threads {args.threads}, inputs {args.size}x{args.size}, repeat {args.repeat}")
    for batch in (4, 16):
        shapes = dict(data=(batch, 3, args.size, args.size), softmax_label=(batch,))
        fns = {"cn inter-op on": cn_step(bind(inception_bn(10, 2), True, shapes)),
               "cn inter-op off": cn_step(bind(inception_bn(10, 2), False, shapes))}
        if t_incep is not None:
            fns["pytorch"] = torch_step(t_incep, shapes["data"])
        res = measure(fns, args.repeat)
        report(f"Inception-BN b{batch} train step", res,
               [("cn inter-op on", "cn inter-op off", "on / off"),
                ("cn inter-op on", "pytorch", "on / pytorch"),
                ("cn inter-op off", "pytorch", "off / pytorch")])
    shapes = dict(data=(64, 1, 28, 28), softmax_label=(64,))
    fns = {"cn inter-op on": cn_step(bind(lenet(), True, shapes)),
           "cn inter-op off": cn_step(bind(lenet(), False, shapes))}
    if t_lenet is not None:
        fns["pytorch"] = torch_step(t_lenet, shapes["data"])
    report("LeNet b64 train step (a chain: nothing to overlap)", measure(fns, args.repeat),
           [("cn inter-op on", "pytorch", "on / pytorch"),
            ("cn inter-op off", "pytorch", "off / pytorch")])
    if args.residual:
        shapes = dict(data=(16, 32, 32, 32))
        fns = {"cn inter-op on": cn_step(bind(residual_symbol(), True, shapes)),
               "cn inter-op off": cn_step(bind(residual_symbol(), False, shapes))}
        report("100 residual units b16 train step", measure(fns, max(3, args.repeat // 5)),
               [("cn inter-op on", "cn inter-op off", "on / off")])
    batch_parallel(args.threads, args.repeat)


def inter_op_only(threads: int, repeat: int, sizes: list) -> None:
    """Inter-op on vs off: Inception-BN b4 per input size, CIFAR ResNet-18 b4 and b32. The first
    13 steps of an executor measure its stages every way (Program::RunStage), so warm-up covers
    them before timing."""
    from models_common import resnet18_symbol

    cn.set_num_threads(threads)
    print(f"threads {threads}, repeat {repeat}, load average {os.getloadavg()[0]:.2f}")
    cases = [(f"Inception-BN b4 {n}x{n}", lambda: inception_bn(10, 2),
              dict(data=(4, 3, n, n), softmax_label=(4,))) for n in sizes]
    cases += [(f"ResNet-18 CIFAR b{b}", resnet18_symbol,
               dict(data=(b, 3, 32, 32), softmax_label=(b,))) for b in (4, 32)]
    for title, make, shapes in cases:
        fns = {"cn inter-op on": cn_step(bind(make(), True, shapes)),
               "cn inter-op off": cn_step(bind(make(), False, shapes))}
        res = measure(fns, repeat, warmup=14)
        report(f"{title} train step (load average now {os.getloadavg()[0]:.2f})", res,
               [("cn inter-op on", "cn inter-op off", "on / off")])
        cpu = res["cn inter-op on"][2] / res["cn inter-op off"][2]
        print(f"  on / off CPU time (median): {cpu:.3f}", flush=True)


def stage_table(threads: int, size: int, steps: int) -> None:
    """Where inter-op time goes: after `steps` train steps of Inception-BN b4, every concurrent
    stage with its calls' least times alone (every thread) and on one thread next to others,
    the plan Program::RunStage chose, and the least time of the whole stage as planned and
    with every call alone."""
    cn.set_num_threads(threads)
    exe = bind(inception_bn(10, 2), True, dict(data=(4, 3, size, size), softmax_label=(4,)))
    step = cn_step(exe)
    for _ in range(steps):
        step()
    one, alone = exe._program.stage_times()
    sched = exe._sched
    name = [n.name.replace("_backward", "_bwd") for n in sched.order]
    print(f"Inception-BN b4 {size}x{size}, {threads} threads, after {steps} steps "
          f"(load average {os.getloadavg()[0]:.2f}); ms")
    total_plan = total_alone = 0.0
    for b, e in sched.stages():
        if e - b < 2:
            continue
        run_alone, bins, plan_wall, alone_wall = exe._program.stage_plan(b)
        total_plan += min(plan_wall, alone_wall)
        total_alone += alone_wall
        print(f"stage {sched.stage_of[b]}: as planned {plan_wall * 1e3:.2f}, all alone "
              f"{alone_wall * 1e3:.2f}; alone {[name[k] for k in run_alone]}, bins "
              f"{[[name[k] for k in bin_] for bin_ in bins]}")
        for k in range(b, e):
            print(f"    {name[k]:28s} alone {alone[k] * 1e3:8.2f}  one thread {one[k] * 1e3:8.2f}")
    print(f"concurrent stages: the quicker way {total_plan * 1e3:.1f} ms, all alone "
          f"{total_alone * 1e3:.1f} ms")


def slice_costs(threads: int, repeat: int, batch: int = 32) -> None:
    """One ResNet-18 (CIFAR) convolution's forward and backward run whole or in S slices of
    the batch (a _core.Program of one call): min wall time of the whole call, then sliced /
    whole per S. What passes/batch_split.py's MIN_SLICE_POSITIONS was chosen from."""
    from coarsenet import _core

    cn.set_num_threads(threads)
    rng = np.random.default_rng(0)
    print(f"\nconvolution 3x3 b{batch}, {threads} thread(s): whole fwd / bwd ms, then sliced / "
          "whole fwd / bwd")
    for c, f, hw, stride in [(64, 64, 32, 1), (64, 128, 32, 2), (128, 128, 16, 1),
                             (256, 256, 8, 1), (512, 512, 4, 1)]:
        op = _core.Op("Convolution", {"kernel": "(3,3)", "num_filter": str(f), "pad": "(1,1)",
                                      "stride": f"({stride},{stride})", "no_bias": "True"})
        x = rng.standard_normal((batch, c, hw, hw), dtype=np.float32)
        w = rng.standard_normal((f, c, 3, 3), dtype=np.float32)
        shape = tuple(op.infer_shape([x.shape, w.shape])[1][0])
        y, dy = np.zeros(shape, np.float32), rng.standard_normal(shape, dtype=np.float32)
        dx, dw = np.zeros_like(x), np.zeros_like(w)
        fns = {}
        for s in (1, 2, 4, 8):
            fwd, bwd = _core.Program(), _core.Program()
            shapes = ([x.shape, w.shape], [shape])
            nf = (op.split_workspace_bytes(*shapes, False, [0, 0], [0], s) if s > 1 else
                  op.workspace_bytes(*shapes, False, 0, threads))
            nb = (op.split_workspace_bytes(*shapes, True, [0, 0], [0], s, [1, 1]) if s > 1 else
                  op.workspace_bytes(*shapes, True, 0, threads))
            fwd.add_forward(op, [x, w], [y], [1], [], np.zeros(max(nf, 64), np.uint8),
                            workspace_bytes=nf, slices=s, threads=threads)
            bwd.add_backward(op, [dy], [x, w], [None], [dx, dw], [1, 1], [],
                             np.zeros(max(nb, 64), np.uint8), workspace_bytes=nb, slices=s,
                             threads=threads)
            fns[f"S{s} fwd"] = lambda p=fwd: p.run(0, -1, True, 0)
            fns[f"S{s} bwd"] = lambda p=bwd: p.run(0, -1, True, 0)
        res = {k: v[0] for k, v in measure(fns, repeat).items()}
        print(f"  {c:3d}->{f:3d} {hw:2d}x{hw:<2d} stride {stride}: whole "
              f"{res['S1 fwd'] * 1e3:6.2f} / {res['S1 bwd'] * 1e3:6.2f} ms  " +
              "  ".join(f"S{s} {res[f'S{s} fwd'] / res['S1 fwd']:.2f} / "
                        f"{res[f'S{s} bwd'] / res['S1 bwd']:.2f}" for s in (2, 4, 8)), flush=True)


def batch_parallel(threads: int, repeat: int) -> None:
    """Batch parallelism on vs off (two executors bound with COARSENET_BATCH_PAR=1 / 0), at 1
    and `threads` threads, with PyTorch in the same rounds: ResNet-18 (CIFAR) b32 and LeNet b64
    train steps (forward + backward)."""
    from models_common import resnet18_symbol, torch_resnet18

    _, t_lenet = torch_models()
    cases = [("ResNet-18 CIFAR b32", resnet18_symbol, torch_resnet18,
              dict(data=(32, 3, 32, 32), softmax_label=(32,))),
             ("LeNet b64", lenet, lambda: t_lenet, dict(data=(64, 1, 28, 28), softmax_label=(64,)))]
    for title, make, make_torch, shapes in cases:
        exes = {}
        for on in (True, False):
            os.environ["COARSENET_BATCH_PAR"] = "1" if on else "0"
            exes[on] = bind(make(), True, shapes)
        os.environ.pop("COARSENET_BATCH_PAR")
        t_model = make_torch()
        print(f"\n{title}: {exes[True].memory_stats()['batch_split_calls']} calls split; "
              f"workspace {exes[True].memory_stats()['workspace_bytes'] >> 20} MiB on vs "
              f"{exes[False].memory_stats()['workspace_bytes'] >> 20} MiB off")
        mins = {}
        for n in sorted({1, threads}):
            cn.set_num_threads(n)
            import torch
            torch.set_num_threads(n)
            fns = {"cn batch-par on": cn_step(exes[True]), "cn batch-par off": cn_step(exes[False]),
                   "pytorch": torch_step(t_model, shapes["data"])}
            res = measure(fns, repeat)
            mins[n] = {k: v[0] for k, v in res.items()}
            report(f"{title} train step, {n} thread(s)", res,
                   [("cn batch-par on", "cn batch-par off", "on / off"),
                    ("cn batch-par on", "pytorch", "on / pytorch"),
                    ("cn batch-par off", "pytorch", "off / pytorch")])
        if threads != 1:
            for k in ("cn batch-par on", "cn batch-par off", "pytorch"):
                print(f"  1 -> {threads} threads, {k}: {mins[1][k] / mins[threads][k]:.2f}x")
        cn.set_num_threads(threads)


if __name__ == "__main__":
    main()
