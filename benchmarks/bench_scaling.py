"""Thread scaling: training-step time of ResNet-18 (CIFAR, batch 32, 32x32) and ResNet-50
(batch 32, 224x224) for 1, 2, 4, 8 and 16 threads (counts above os.cpu_count() are skipped),
coarsenet next to PyTorch eager in the same run.

    PYTHONPATH=. python benchmarks/bench_scaling.py [--models resnet18,resnet50]
        [--threads 1,2,4,8,16] [--repeat 3] [--batch 32]

For each thread count both frameworks are set to it (cn.set_num_threads, which the executor's
plans are bound for; torch.set_num_threads), then steps alternate between them and the median
is printed with the speed-up over one thread and the ratio to PyTorch (< 1: coarsenet is
faster). Prints figures only, never asserts: on a shared machine timings are indications.
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
from models_common import (SGDMomentum, init_executor, resnet18_symbol,  # noqa: E402
                           torch_resnet18)


def torch_resnet50(num_classes: int = 1000):
    """PyTorch twin of cn.model_zoo resnet(num_layers=50): ResNet v1 bottlenecks with the
    stride on the 3x3 conv, a 1x1 conv + BN shortcut where the shape changes."""
    import torch.nn as nn

    def conv_bn(cin, cout, k, s, relu=True):
        layers = [nn.Conv2d(cin, cout, k, s, k // 2, bias=False), nn.BatchNorm2d(cout)]
        return nn.Sequential(*layers, nn.ReLU(inplace=True)) if relu else nn.Sequential(*layers)

    class Bottleneck(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            mid = cout // 4
            self.body = nn.Sequential(conv_bn(cin, mid, 1, 1), conv_bn(mid, mid, 3, stride),
                                      conv_bn(mid, cout, 1, 1, relu=False))
            self.shortcut = (nn.Identity() if stride == 1 and cin == cout
                             else conv_bn(cin, cout, 1, stride, relu=False))
            self.relu = nn.ReLU(inplace=True)

        def forward(self, x):
            return self.relu(self.body(x) + self.shortcut(x))

    layers = [conv_bn(3, 64, 7, 2), nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for stage, (units, width) in enumerate(zip((3, 4, 6, 3), (256, 512, 1024, 2048))):
        for i in range(units):
            layers.append(Bottleneck(cin, width, 2 if stage > 0 and i == 0 else 1))
            cin = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, num_classes)]
    return nn.Sequential(*layers)


MODELS = {
    # name: (coarsenet symbol, torch module, image side, classes)
    "resnet18": (lambda: resnet18_symbol(10), lambda: torch_resnet18(10), 32, 10),
    "resnet50": (lambda: cn.model_zoo.resnet(num_classes=1000, num_layers=50),
                 lambda: torch_resnet50(1000), 224, 1000),
}


def step_functions(model: str, batch: int):
    """(coarsenet step, PyTorch step) for one training step on a fixed random batch. The
    coarsenet executor is bound now, so its plans are sized for the current thread count."""
    import torch
    import torch.nn.functional as F

    make_sym, make_torch, side, classes = MODELS[model]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 3, side, side)).astype(np.float32)
    y = rng.integers(0, classes, size=batch).astype(np.float32)
    net = make_sym()
    req = {n: "write" for n in net.list_arguments() if n not in ("data", "softmax_label")}
    exe = net.simple_bind(grad_req=req, data=x.shape, softmax_label=y.shape)
    init_executor(exe)
    opt = SGDMomentum(exe)

    def cn_step():
        exe.forward(is_train=True, data=x, softmax_label=y)
        exe.backward()
        opt.step()

    module = make_torch()
    topt = torch.optim.SGD(module.parameters(), lr=0.05, momentum=0.9)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y).long()

    def torch_step():
        module.train()
        topt.zero_grad(set_to_none=False)
        F.cross_entropy(module(xt), yt).backward()
        topt.step()

    return cn_step, torch_step


def median_times(fns: dict, repeat: int, warmup: int = 1) -> dict:
    """Median seconds of each fn, alternating them so drifts in machine load hit both."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times = {k: [] for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="resnet18,resnet50")
    parser.add_argument("--threads", default="1,2,4,8,16")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    import torch

    cores = os.cpu_count() or 1
    counts = [n for n in (int(v) for v in args.threads.split(",")) if n <= cores]
    skipped = [v for v in args.threads.split(",") if int(v) > cores]
    print(f"{cores} CPUs (os.cpu_count); load average {os.getloadavg()[0]:.1f}; "
          f"PyTorch {torch.__version__}; batch {args.batch}; median of {args.repeat} steps"
          + (f"; skipped thread counts {','.join(skipped)}" if skipped else ""))
    for model in args.models.split(","):
        print(f"\n{model} training step")
        print(f"{'threads':>7s} {'coarsenet ms':>13s} {'speed-up':>9s} {'PyTorch ms':>11s} "
              f"{'speed-up':>9s} {'ratio':>6s}")
        first = None
        for n in counts:
            cn.set_num_threads(n)
            torch.set_num_threads(n)
            cn_step, torch_step = step_functions(model, args.batch)
            t = median_times({"cn": cn_step, "torch": torch_step}, args.repeat)
            first = first or t
            print(f"{n:7d} {t['cn'] * 1e3:13.1f} {first['cn'] / t['cn']:8.2f}x "
                  f"{t['torch'] * 1e3:11.1f} {first['torch'] / t['torch']:8.2f}x "
                  f"{t['cn'] / t['torch']:6.2f}", flush=True)


if __name__ == "__main__":
    main()
