"""Memory benchmark: the executor's plan for CIFAR ResNet-18 (batch 32) and the peak RSS a
training step adds, coarsenet vs PyTorch, each measured in a fresh subprocess.

    PYTHONPATH=. python benchmarks/bench_memory.py [--batch 32]
    PYTHONPATH=. python benchmarks/bench_memory.py --mirror-suite [--units 100] [--plot PNG]
    PYTHONPATH=. python benchmarks/bench_memory.py --resnet152 [--plot PNG]   (planning only)
    PYTHONPATH=. python benchmarks/bench_memory.py --resnet50 [--steps 2]     (real runs;
        BENCH_THREADS=n sets the threads of both frameworks, 2 by default)

--mirror-suite: training in sublinear memory. A stack of residual units [conv 3x3 32->32, BN,
ReLU, identity skip] on 16x32x32x32, global pool, FC, softmax: planned arena, peak RSS growth
and step time without mirror, with mirror="auto" and with a budget of 1/4 of the no-mirror
arena, next to PyTorch with and without torch.utils.checkpoint.checkpoint_sequential (10
segments); then the ResNet-152 (224, batch 32) planned-memory table (planning only).
Memory is measured in a fresh subprocess per configuration; step times in one process holding
every configuration, steps interleaved round-robin (minimum kept): the machine is shared, so
read them as noisy ratios.

planned/naive: arena bytes over the bytes every activation, gradient and workspace would take
in its own buffer (target <= 0.5). Peak RSS growth: after the model, its gradients buffers and
the batch exist, the kernel's peak-RSS counter is reset (/proc/self/clear_refs) and two training
steps run; growth = new peak - RSS before. Prints figures, never asserts.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

MB = 1024.0 * 1024.0


def _status(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def child_coarsenet(batch: int, mirror) -> dict:
    import coarsenet as cn
    from models_common import SGDMomentum, cifar_batch, train_executor

    cn.set_num_threads(2)
    x, y = cifar_batch(batch)
    exe = train_executor(batch, mirror=mirror)
    opt = SGDMomentum(exe)
    for g in exe.grad_dict.values():  # gradients exist before the step in both frameworks
        g.asnumpy()[:] = 0
    before = _status("VmRSS")
    reset = _reset_peak()
    for _ in range(2):
        exe.forward(is_train=True, data=x, softmax_label=y)
        exe.backward()
        opt.step()
    return {"before": before, "peak": _status("VmHWM"), "reset": reset,
            "stats": exe.memory_stats()}


def child_torch(batch: int) -> dict:
    import torch
    import torch.nn.functional as F
    from models_common import cifar_batch, torch_resnet18

    torch.set_num_threads(2)
    x, y = cifar_batch(batch)
    model = torch_resnet18()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y).long()
    before = _status("VmRSS")
    reset = _reset_peak()
    for _ in range(2):
        opt.zero_grad(set_to_none=False)
        F.cross_entropy(model(xt), yt).backward()
        opt.step()
    return {"before": before, "peak": _status("VmHWM"), "reset": reset}


def run_child(kind: str, batch: int, mirror=None) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", kind, "--batch", str(batch)]
    if mirror is not None:
        cmd += ["--mirror", str(mirror)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": "2"})
    return json.loads(out.stdout.strip().splitlines()[-1])


UNIT_SHAPE = (16, 32, 32, 32)


def resunits_symbol(units: int):
    import coarsenet as cn

    x = cn.sym.Variable("data")
    for i in range(units):
        b = cn.sym.Convolution(x, num_filter=32, kernel=(3, 3), pad=(1, 1), no_bias=True,
                               name=f"u{i}_conv")
        b = cn.sym.BatchNorm(b, fix_gamma=False, name=f"u{i}_bn")
        x = x + cn.sym.Activation(b, act_type="relu", name=f"u{i}_relu")
    x = cn.sym.Pooling(x, kernel=(1, 1), global_pool=True, pool_type="avg", name="pool")
    x = cn.sym.FullyConnected(cn.sym.Flatten(x), num_hidden=10, name="fc")
    return cn.sym.SoftmaxOutput(x, name="softmax")


def _resunits_mirror(units: int, mirror):
    """'auto', None, or 'quarter': a budget of 1/4 of the no-mirror arena."""
    if mirror != "quarter":
        return mirror
    plain = resunits_symbol(units).simple_bind(data=UNIT_SHAPE, softmax_label=(16,),
                                               grad_req=_grad_req(units))
    return plain.memory_stats()["planned_bytes"] // 4


def _grad_req(units: int) -> dict:
    return {n: "write" for n in resunits_symbol(units).list_arguments()
            if n not in ("data", "softmax_label")}


def _timed_steps(step, steps: int) -> float:
    import time

    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def coarsenet_step(units: int, mirror):
    """(training step function, executor) for the residual stack."""
    import numpy as np

    import coarsenet as cn
    from models_common import init_executor

    cn.set_num_threads(2)
    mirror = _resunits_mirror(units, mirror)
    exe = resunits_symbol(units).simple_bind(data=UNIT_SHAPE, softmax_label=(16,),
                                             grad_req=_grad_req(units), mirror=mirror)
    init_executor(exe)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(UNIT_SHAPE).astype(np.float32)
    y = rng.integers(0, 10, size=16).astype(np.float32)
    for g in exe.grad_dict.values():
        g.asnumpy()[:] = 0

    def step():
        exe.forward(is_train=True, data=x, softmax_label=y)
        exe.backward()

    return step, exe, mirror


def child_resunits(units: int, mirror, steps: int) -> dict:
    step, exe, mirror = coarsenet_step(units, mirror)
    before = _status("VmRSS")
    reset = _reset_peak()
    step()
    peak = _status("VmHWM")
    return {"before": before, "peak": peak, "reset": reset, "stats": exe.memory_stats(),
            "budget": mirror if isinstance(mirror, int) else None,
            "time": _timed_steps(step, steps)}


def torch_step(units: int, checkpoint: bool):
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torch.utils.checkpoint import checkpoint_sequential

    torch.set_num_threads(2)

    class Unit(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(32, 32, 3, padding=1, bias=False)
            self.bn = nn.BatchNorm2d(32)

        def forward(self, x):
            return x + F.relu(self.bn(self.conv(x)))

    body = nn.Sequential(*[Unit() for _ in range(units)])
    fc = nn.Linear(32, 10)
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal(UNIT_SHAPE).astype(np.float32))
    x.requires_grad_(checkpoint)  # checkpoint_sequential needs an input that requires grad
    y = torch.from_numpy(rng.integers(0, 10, size=16)).long()
    params = list(body.parameters()) + list(fc.parameters())
    for p in params:
        p.grad = torch.zeros_like(p)

    def step():
        h = checkpoint_sequential(body, 10, x, use_reentrant=False) if checkpoint else body(x)
        F.cross_entropy(fc(h.mean(dim=(2, 3))), y).backward()

    return step


def child_torch_resunits(units: int, checkpoint: bool, steps: int) -> dict:
    step = torch_step(units, checkpoint)
    before = _status("VmRSS")
    reset = _reset_peak()
    step()
    peak = _status("VmHWM")
    return {"before": before, "peak": peak, "reset": reset, "time": _timed_steps(step, steps)}


def child_times(units: int, rounds: int, with_torch: bool) -> dict:
    """Step times of every configuration in ONE process, steps interleaved round-robin, so a
    change of machine load hits all alike; the minimum per configuration is kept."""
    import time

    steps = {f"coarsenet {m}": coarsenet_step(units, None if m == "none" else m)[0]
             for m in ("none", "auto", "quarter")}
    if with_torch:
        steps.update({f"torch {m}": torch_step(units, m == "checkpoint")
                      for m in ("none", "checkpoint")})
    for step in steps.values():  # warm-up
        step()
    best = dict.fromkeys(steps, float("inf"))
    for _ in range(rounds):
        for name, step in steps.items():
            t0 = time.perf_counter()
            step()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def resnet152_table(plot: str | None = None) -> None:
    """ResNet-152, ImageNet 224x224, batch 32: planning only (deterministic figures)."""
    import time

    import coarsenet as cn
    from coarsenet.passes import mirror as mp

    net = cn.model_zoo.get_symbol("resnet152", num_classes=1000, small_input=False)
    req = {n: "write" for n in net.list_arguments() if n not in ("data", "softmax_label")}
    shapes = {"data": (32, 3, 224, 224), "softmax_label": (32,)}
    exe = net.simple_bind(grad_req=req, **shapes)
    graph, sh, dt = exe._graph, exe._shapes, exe._dtypes
    t0 = time.perf_counter()
    an = mp._Analysis(graph, 1, sh, dt)
    solve = time.perf_counter() - t0
    plain = exe.memory_stats()["planned_bytes"]
    print(f"ResNet-152, 224x224, batch 32: planned training memory (no run); chain of "
          f"{len(an.chain.blocks)} blocks, chain analysis and DP solves in {solve:.2f} s")
    print(f"  {'mirror':>16s} {'arena GiB':>10s} {'vs none':>8s} {'recompute (fwd passes)':>23s}"
          f" {'recomputed':>10s} {'plan s':>7s}")
    for label, option in (("none", None), ("min", "min"), ("1/8 budget", plain // 8),
                          ("auto", "auto")):
        t0 = time.perf_counter()
        try:
            p = (an.plain() if option is None
                 else mp.mirror_plan(graph, 1, option, sh, dt))
        except cn.CoarsenetError as err:
            print(f"  {label:>16s}: {err}")
            continue
        print(f"  {label:>16s} {p.arena_bytes / 2 ** 30:10.3f} {plain / p.arena_bytes:7.2f}x "
              f"{p.recompute_flops / an.forward_flops:23.3f} {p.recomputed_nodes:10d} "
              f"{time.perf_counter() - t0:7.1f}")
    curve = cn.mirror.tradeoff(net, shapes)
    print("  trade-off curve: " + ", ".join(
        f"{c['planned_bytes'] / 2 ** 30:.2f} GiB/{c['recompute_passes']:.2f}"
        + ("*" if c["auto"] else "") for c in curve) + "  (* = auto)")
    if plot:
        print("wrote", cn.viz.plot_tradeoff(curve, plot, "ResNet-152, 224, batch 32"))


def torch_resnet50():
    """ResNet-50 (v1.5 bottlenecks) as one nn.Sequential, for checkpoint_sequential."""
    import torch.nn as nn

    class Bottleneck(nn.Module):
        def __init__(self, cin, mid, stride):
            super().__init__()
            cout = mid * 4
            self.body = nn.Sequential(
                nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(),
                nn.Conv2d(mid, mid, 3, stride, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(),
                nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout))
            self.skip = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                       nn.BatchNorm2d(cout))
                         if stride != 1 or cin != cout else nn.Identity())

        def forward(self, x):
            return (self.body(x) + self.skip(x)).relu()

    layers = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
              nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for mid, units, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for u in range(units):
            layers.append(Bottleneck(cin, mid, stride if u == 0 else 1))
            cin = mid * 4
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 1000)]
    return nn.Sequential(*layers)


def child_resnet50(kind: str, mode: str, steps: int) -> dict:
    """One configuration of the ResNet-50 224 batch 16 training step: peak RSS growth of the
    first step, then the minimum step time over `steps` more."""
    import time

    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 3, 224, 224)).astype(np.float32)
    y = rng.integers(0, 1000, size=16)
    threads = int(os.environ.get("BENCH_THREADS", "2"))
    if kind == "coarsenet":
        import coarsenet as cn
        from models_common import init_executor

        cn.set_num_threads(threads)
        net = cn.model_zoo.get_symbol("resnet50", num_classes=1000, small_input=False)
        req = {n: "write" for n in net.list_arguments() if n not in ("data", "softmax_label")}
        shapes = {"data": x.shape, "softmax_label": (16,)}
        mirror = {"none": None, "auto": "auto"}.get(mode)
        if mode == "eighth":
            mirror = net.simple_bind(grad_req=req, **shapes).memory_stats()["planned_bytes"] // 8
        try:
            exe = net.simple_bind(grad_req=req, mirror=mirror, **shapes)
        except cn.CoarsenetError as err:  # 1/8 infeasible: the least memory instead
            print(err, file=sys.stderr)
            mirror = "min"
            exe = net.simple_bind(grad_req=req, mirror=mirror, **shapes)
        init_executor(exe)
        yf = y.astype(np.float32)

        def step():
            exe.forward(is_train=True, data=x, softmax_label=yf)
            exe.backward()
        stats = exe.memory_stats()
    else:
        import torch
        import torch.nn.functional as F
        from torch.utils.checkpoint import checkpoint_sequential

        torch.set_num_threads(threads)
        model = torch_resnet50()
        xt = torch.from_numpy(x).requires_grad_(mode == "checkpoint")
        yt = torch.from_numpy(y).long()
        for p in model.parameters():
            p.grad = torch.zeros_like(p)

        def step():
            out = (checkpoint_sequential(model, 8, xt, use_reentrant=False)
                   if mode == "checkpoint" else model(xt))
            F.cross_entropy(out, yt).backward()
        stats = None
    before = _status("VmRSS")
    reset = _reset_peak()
    step()
    peak = _status("VmHWM")
    best = float("inf")
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - t0)
    return {"before": before, "peak": peak, "reset": reset, "time": best,
            "arena": stats["planned_bytes"] if stats else None,
            "mirror": str(mirror) if kind == "coarsenet" else None}


def resnet50_runs(steps: int) -> None:
    """Real runs: ResNet-50, 224, batch 16, coarsenet none / auto / 1/8 budget next to PyTorch
    without and with checkpoint_sequential (8 segments); each in a fresh subprocess."""
    configs = [("coarsenet", m) for m in ("none", "auto", "eighth")]
    try:
        import torch  # noqa: F401

        configs += [("torch", "none"), ("torch", "checkpoint")]
    except ImportError:
        print("(PyTorch not installed: no peer figures)")
    print("ResNet-50, 224x224, batch 16, one training step (fresh subprocess each)")
    print(f"  {'config':22s} {'arena MiB':>10s} {'RSS growth MiB':>15s} {'step s':>8s} "
          f"{'time ratio':>10s}")
    base = {}
    for kind, mode in configs:
        r = run_suite_child(["--child", "resnet50", "--mirror", f"{kind}:{mode}",
                             "--steps", str(steps)])
        base.setdefault(kind, r)
        arena = f"{r['arena'] / MB:10.1f}" if r["arena"] else f"{'-':>10s}"
        if r.get("mirror") == "min" and mode == "eighth":
            mode = "min (1/8 infeasible)"
        print(f"  {kind + ' ' + mode:22s} {arena} {(r['peak'] - r['before']) / MB:15.1f} "
              f"{r['time']:8.2f} {r['time'] / base[kind]['time']:9.2f}x", flush=True)


def run_suite_child(args: list) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__)] + args
    out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": "2"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def mirror_suite(units: int, rounds: int, steps: int, plot: str | None) -> None:
    configs = [("coarsenet", "none"), ("coarsenet", "auto"), ("coarsenet", "quarter")]
    try:
        import torch  # noqa: F401

        configs += [("torch", "none"), ("torch", "checkpoint")]
    except ImportError:
        print("(PyTorch not installed: no peer figures)")
    results = {}
    for kind, mode in configs:
        results[(kind, mode)] = run_suite_child(["--child", f"units-{kind}", "--mirror", mode,
                                                 "--units", str(units), "--steps", "1"])
    times = run_suite_child(["--child", "units-times", "--units", str(units), "--rounds",
                             str(rounds * steps), "--mirror",
                             "torch" if ("torch", "none") in results else "none"])
    for (kind, mode), r in results.items():
        r["time"] = times[f"{kind} {mode}"]
    print(f"{units} residual units [conv3x3 32->32 + BN + ReLU] on 16x32x32x32, one training "
          "step; memory in a fresh subprocess each, step times (min) all in one process with "
          "steps interleaved")
    print(f"  {'config':24s} {'arena MiB':>10s} {'RSS growth MiB':>15s} {'step s':>8s} "
          f"{'time ratio':>10s} {'recomputed':>10s}")
    base = results[("coarsenet", "none")]
    for (kind, mode), r in results.items():
        growth = (r["peak"] - r["before"]) / MB
        stats = r.get("stats")
        arena = f"{stats['planned_bytes'] / MB:10.1f}" if stats else f"{'-':>10s}"
        name = f"{kind} {mode}"
        if r.get("budget"):
            name += f" ({r['budget'] / MB:.0f} MiB)"
        ref = base if kind == "coarsenet" else results[("torch", "none")]
        recomputed = f"{stats['recomputed_nodes']:10d}" if stats else f"{'-':>10s}"
        print(f"  {name:24s} {arena} {growth:15.1f} {r['time']:8.3f} "
              f"{r['time'] / ref['time']:9.2f}x {recomputed}")
    none_arena = base["stats"]["planned_bytes"]
    for mode in ("auto", "quarter"):
        r = results[("coarsenet", mode)]
        print(f"  coarsenet {mode}: arena {none_arena / r['stats']['planned_bytes']:.1f}x smaller,"
              f" RSS growth {(base['peak'] - base['before']) / max(r['peak'] - r['before'], 1):.1f}x"
              f" smaller, step time {r['time'] / base['time']:.2f}x")
    if ("torch", "checkpoint") in results:
        pt = results[("torch", "checkpoint")]
        for mode in ("auto", "quarter"):
            r = results[("coarsenet", mode)]
            print(f"  coarsenet {mode} vs PyTorch checkpoint_sequential: RSS growth "
                  f"{(r['peak'] - r['before']) / max(pt['peak'] - pt['before'], 1):.2f}x, "
                  f"step time {r['time'] / pt['time']:.2f}x")
    if plot:
        plot_resunits(units, plot)
    resnet152_table()


def plot_resunits(units: int, path: str) -> None:
    import coarsenet as cn

    exes, labels = [], []
    for mode in ("none", "auto", "quarter"):
        mirror = _resunits_mirror(units, None if mode == "none" else mode)
        exes.append(resunits_symbol(units).simple_bind(
            data=UNIT_SHAPE, softmax_label=(16,), grad_req=_grad_req(units), mirror=mirror))
        labels.append(f"budget {mirror / MB:.0f} MiB" if mode == "quarter" else
                      {"none": "no mirror", "auto": 'mirror="auto"'}[mode])
    cn.viz.plot_memory(exes, path, labels,
                       title=f"{units} residual units, 16x32x32x32: planned live memory")
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--child", choices=["coarsenet", "torch", "units-coarsenet",
                                            "units-torch", "units-times", "resnet50"])
    parser.add_argument("--resnet152", action="store_true",
                        help="ResNet-152 224 batch 32 planning table and trade-off curve")
    parser.add_argument("--resnet50", action="store_true",
                        help="real ResNet-50 224 batch 16 runs vs PyTorch checkpoint_sequential")
    parser.add_argument("--mirror", default=None)
    parser.add_argument("--mirror-suite", action="store_true")
    parser.add_argument("--units", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--plot", default=None, help="PNG path for the planned-memory plot")
    args = parser.parse_args()
    if args.child == "resnet50":
        kind, mode = args.mirror.split(":")
        print(json.dumps(child_resnet50(kind, mode, args.steps)))
        return
    if args.resnet152:
        resnet152_table(args.plot)
        return
    if args.resnet50:
        resnet50_runs(args.steps)
        return
    if args.child == "units-times":
        print(json.dumps(child_times(args.units, args.rounds, args.mirror == "torch")))
        return
    if args.child in ("units-coarsenet", "units-torch"):
        if args.child == "units-torch":
            r = child_torch_resunits(args.units, args.mirror == "checkpoint", args.steps)
        else:
            r = child_resunits(args.units, None if args.mirror == "none" else args.mirror,
                               args.steps)
        print(json.dumps(r))
        return
    if args.mirror_suite:
        mirror_suite(args.units, args.rounds, args.steps, args.plot)
        return
    if args.child == "coarsenet":
        print(json.dumps(child_coarsenet(args.batch, args.mirror)))
        return
    if args.child == "torch":
        print(json.dumps(child_torch(args.batch)))
        return
    cn_result = run_child("coarsenet", args.batch)
    stats = cn_result["stats"]
    print(f"ResNet-18 CIFAR batch {args.batch}: executor memory plan (training)")
    for key in ("naive_bytes", "planned_bytes", "param_bytes", "grad_bytes", "workspace_bytes"):
        print(f"  {key:16s}: {stats[key] / MB:8.1f} MB")
    print(f"  inplace_count   : {stats['inplace_count']}   reused_count: {stats['reused_count']}")
    print(f"  planned / naive : {stats['planned_bytes'] / stats['naive_bytes']:.3f}"
          "   (target <= 0.5)")
    results = {"coarsenet": cn_result}
    try:
        results["PyTorch"] = run_child("torch", args.batch)
    except subprocess.CalledProcessError as err:
        print(f"PyTorch run failed: {err.stderr[-500:]}")
    print("Peak RSS growth of a training step (fresh subprocess each)")
    for name, r in results.items():
        growth = (r["peak"] - r["before"]) / MB
        note = "" if r["reset"] else " (peak counter not resettable: includes setup)"
        print(f"  {name:10s}: {growth:8.1f} MB{note}")
    if "PyTorch" in results:
        g_cn = results["coarsenet"]["peak"] - results["coarsenet"]["before"]
        g_pt = results["PyTorch"]["peak"] - results["PyTorch"]["before"]
        print(f"  ratio coarsenet / PyTorch: {g_cn / max(g_pt, 1):.2f}")


if __name__ == "__main__":
    main()
