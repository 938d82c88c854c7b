"""One CIFAR ResNet-18 training step (forward, loss, backward, SGD update): coarsenet imperative
(cn.nn + autograd) vs hybridized (one traced graph through the planned executor) vs PyTorch eager.

Run: PYTHONPATH=. python benchmarks/bench_resnet_step.py [batch] [steps]
Wall-clock seconds per step, best of `steps` after one warm-up step; the three runs alternate in
one process so load from other jobs hits them alike.
"""
from __future__ import annotations

import sys
import time

import numpy as np

import coarsenet as cn
from coarsenet import autograd, nn


class BasicBlock(nn.HybridBlock):
    def __init__(self, channels, stride, downsample, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.conv1 = nn.Conv2D(channels, 3, stride, 1, use_bias=False)
            self.bn1 = nn.BatchNorm()
            self.conv2 = nn.Conv2D(channels, 3, 1, 1, use_bias=False)
            self.bn2 = nn.BatchNorm()
            self.down = None
            if downsample:
                self.down = nn.HybridSequential()
                self.down.add(nn.Conv2D(channels, 1, stride, use_bias=False), nn.BatchNorm())

    def hybrid_forward(self, F, x):  # noqa: N803
        y = F.Activation(self.bn1(self.conv1(x)), act_type="relu")
        y = self.bn2(self.conv2(y))
        shortcut = self.down(x) if self.down is not None else x
        return F.Activation(y + shortcut, act_type="relu")


def resnet18_cifar() -> nn.HybridSequential:
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Conv2D(64, 3, 1, 1, use_bias=False), nn.BatchNorm(), nn.Activation("relu"))
        in_ch = 64
        for channels, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            net.add(BasicBlock(channels, stride, stride != 1 or in_ch != channels),
                    BasicBlock(channels, 1, False))
            in_ch = channels
        net.add(nn.GlobalAvgPool2D(), nn.Dense(10))
    return net


def coarsenet_step(hybridize: bool, x: np.ndarray, y: np.ndarray):
    cn.random.seed(0)
    net = resnet18_cifar()
    net.initialize(cn.initializer.Xavier(magnitude=2))
    if hybridize:
        net.hybridize()
    trainer = nn.Trainer(net.collect_params(), "sgd", dict(learning_rate=0.01, momentum=0.9))
    loss_fn = nn.loss.SoftmaxCrossEntropyLoss()
    xs, ys = cn.nd.array(x), cn.nd.array(y)

    def step():
        with autograd.record():
            loss = loss_fn(net(xs), ys)
        loss.backward()
        trainer.step(len(x))
        return float(loss.asnumpy().mean())

    return step


def torch_step(x: np.ndarray, y: np.ndarray):
    import torch
    from torch import nn as tnn

    torch.set_num_threads(cn.get_num_threads())

    class Block(tnn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.c1 = tnn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.b1 = tnn.BatchNorm2d(cout)
            self.c2 = tnn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.b2 = tnn.BatchNorm2d(cout)
            self.down = None
            if stride != 1 or cin != cout:
                self.down = tnn.Sequential(tnn.Conv2d(cin, cout, 1, stride, bias=False),
                                           tnn.BatchNorm2d(cout))

        def forward(self, x):
            y = torch.relu(self.b1(self.c1(x)))
            y = self.b2(self.c2(y))
            return torch.relu(y + (self.down(x) if self.down is not None else x))

    layers = [tnn.Conv2d(3, 64, 3, 1, 1, bias=False), tnn.BatchNorm2d(64), tnn.ReLU()]
    cin = 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [Block(cin, cout, stride), Block(cout, cout, 1)]
        cin = cout
    layers += [tnn.AdaptiveAvgPool2d(1), tnn.Flatten(), tnn.Linear(512, 10)]
    net = tnn.Sequential(*layers)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))

    def step():
        opt.zero_grad()
        loss = tnn.functional.cross_entropy(net(xt), yt)
        loss.backward()
        opt.step()
        return float(loss.detach())

    return step


def main() -> None:
    batch = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, batch).astype(np.float32)
    runs = {"coarsenet imperative": coarsenet_step(False, x, y),
            "coarsenet hybridized": coarsenet_step(True, x, y)}
    try:
        runs["pytorch eager"] = torch_step(x, y)
    except ImportError:
        pass
    best = {name: float("inf") for name in runs}
    for name, step in runs.items():
        step()  # warm-up: deferred init, tracing, binding
    for _ in range(steps):
        for name, step in runs.items():
            t0 = time.perf_counter()
            step()
            best[name] = min(best[name], time.perf_counter() - t0)
    print(f"CIFAR ResNet-18 training step, batch {batch}, {cn.get_num_threads()} threads")
    base = best.get("pytorch eager")
    for name, t in best.items():
        ratio = f"{t / base:5.2f}x pytorch" if base else ""
        print(f"  {name:22s} {t * 1000:8.1f} ms   {ratio}")


if __name__ == "__main__":
    main()
