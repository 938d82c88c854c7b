"""Model benchmarks: CIFAR ResNet-18 (batch 32, 32x32) training step and inference, coarsenet
executor vs PyTorch eager measured in the same run with 2 threads each, and the executor's
per-op dispatch overhead on a graph of many tiny ops.

    PYTHONPATH=. python benchmarks/bench_models.py [--batch 32] [--repeat 5]

Prints figures and ratios (coarsenet time / PyTorch time; < 1 means coarsenet is faster).
Never asserts timings: the machine is shared and noisy, so runs alternate the two frameworks
and report medians.
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
from models_common import (SGDMomentum, cifar_batch, init_executor, resnet18_symbol,  # noqa: E402
                           torch_resnet18, train_executor)


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def alternate(fns: dict, repeat: int, warmup: int = 2) -> dict:
    """Median seconds per call of each fn, running them in turn so drifts hit both alike."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times = {k: [] for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            times[k].append(_timed(fn))
    return {k: statistics.median(v) for k, v in times.items()}


def bench_resnet(batch: int, repeat: int, profile: bool = False) -> None:
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(2)
    cn.set_num_threads(2)
    x, y = cifar_batch(batch)
    exe = train_executor(batch)
    opt = SGDMomentum(exe)
    infer = resnet18_symbol().simple_bind(grad_req="null", data=(batch, 3, 32, 32),
                                          softmax_label=(batch,))
    init_executor(infer)

    def cn_train():
        exe.forward(is_train=True, data=x, softmax_label=y)
        exe.backward()
        opt.step()

    def cn_infer():
        infer.forward(is_train=False, data=x)

    model = torch_resnet18()
    topt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y).long()

    def torch_train():
        model.train()
        topt.zero_grad(set_to_none=False)
        F.cross_entropy(model(xt), yt).backward()
        topt.step()

    def torch_infer():
        model.eval()
        with torch.no_grad():
            model(xt)

    if profile:
        print_profile(exe, model, xt, yt)
    t = alternate({"cn_train": cn_train, "torch_train": torch_train}, repeat)
    i = alternate({"cn_infer": cn_infer, "torch_infer": torch_infer}, repeat)
    print(f"ResNet-18 CIFAR batch {batch}, 2 threads, median of {repeat}")
    print(f"  training step : coarsenet {t['cn_train'] * 1e3:8.1f} ms   PyTorch "
          f"{t['torch_train'] * 1e3:8.1f} ms   ratio {t['cn_train'] / t['torch_train']:.2f}")
    print(f"  inference     : coarsenet {i['cn_infer'] * 1e3:8.1f} ms   PyTorch "
          f"{i['torch_infer'] * 1e3:8.1f} ms   ratio {i['cn_infer'] / i['torch_infer']:.2f}")
    print(f"  images/s train: coarsenet {batch / t['cn_train']:.0f}   PyTorch "
          f"{batch / t['torch_train']:.0f}")


def print_profile(exe, model, xt, yt, rounds: int = 3) -> None:
    """Seconds per op type (forward and backward), coarsenet next to PyTorch's profiler."""
    import torch
    import torch.nn.functional as F

    totals: dict = {}
    for _ in range(rounds):
        for label, _, seconds in exe.profile(is_train=True):
            totals[label] = totals.get(label, 0.0) + seconds / rounds
    print("coarsenet time per op type (training step, ms):")
    for label, seconds in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"  {label:34s} {seconds * 1e3:8.1f}")
    with torch.profiler.profile() as prof:
        for _ in range(rounds):
            model.zero_grad(set_to_none=False)
            F.cross_entropy(model(xt), yt).backward()
    print("PyTorch time per op (training step, ms, self CPU):")
    events = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[:12]
    for e in events:
        print(f"  {e.key:34s} {e.self_cpu_time_total / 1e3 / rounds:8.1f}")


def _tiny_chain(n: int):
    """n tiny ops in a chain, using the cheapest op available."""
    h = cn.sym.Variable("data")
    if "Activation" in cn.ops.list():
        for _ in range(n):
            h = cn.sym.Activation(h, act_type="relu")
        return h, "Activation(relu)"
    for _ in range(n):
        h = cn.sym.FullyConnected(h, num_hidden=1, no_bias=True)
    return h, "FullyConnected(num_hidden=1)"


def bench_dispatch(n: int = 2000, repeat: int = 20) -> None:
    net, label = _tiny_chain(n)
    exe = net.simple_bind(grad_req="null", data=(1, 1))
    for name, arr in exe.arg_dict.items():
        arr[:] = 0.5
    per_call = statistics.median(_timed(lambda: exe.forward(is_train=False))
                                 for _ in range(repeat)) / n
    train = net.simple_bind(data=(1, 1))
    for arr in train.arg_dict.values():
        arr[:] = 0.5

    def step():
        train.forward(is_train=True)
        train.backward()

    per_train_call = statistics.median(_timed(step) for _ in range(repeat)) / (2 * n)
    x = cn.nd.ones((1, 1))
    op_name = label.split("(")[0]
    params = {"act_type": "relu"} if op_name == "Activation" else {"num_hidden": 1,
                                                                     "no_bias": True}
    extra = [] if op_name == "Activation" else [cn.nd.ones((1, 1))]
    fn = getattr(cn.nd, op_name)
    imperative = statistics.median(
        _timed(lambda: [fn(x, *extra, **params) for _ in range(200)]) for _ in range(5)) / 200
    print(f"Dispatch overhead ({label} on 1 element, {n}-op chain)")
    print(f"  executor forward : {per_call * 1e6:6.2f} us/op")
    print(f"  executor fwd+bwd : {per_train_call * 1e6:6.2f} us/call")
    print(f"  imperative cn.nd : {imperative * 1e6:6.2f} us/op")
    try:
        import torch

        t = torch.ones(1)
        per_torch = statistics.median(
            _timed(lambda: [torch.relu(t) for _ in range(2000)]) for _ in range(5)) / 2000
        print(f"  PyTorch eager relu: {per_torch * 1e6:6.2f} us/op (peer reference)")
    except ImportError:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-resnet", action="store_true")
    parser.add_argument("--profile", action="store_true", help="time per op type, both sides")
    args = parser.parse_args()
    bench_dispatch()
    if not args.skip_resnet:
        missing = [op for op in ("Convolution", "BatchNorm", "Pooling", "Activation",
                                 "elemwise_add", "SoftmaxOutput") if op not in cn.ops.list()]
        if missing:
            print(f"ResNet-18 skipped: ops not registered yet: {', '.join(missing)}")
            return
        bench_resnet(args.batch, args.repeat, args.profile)


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
