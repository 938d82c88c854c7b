"""Models shared by the model and memory benchmarks: CIFAR ResNet-18 for coarsenet (a Symbol)
and for PyTorch (an nn.Module) with the same layers, plus the training-step helpers."""
from __future__ import annotations

import numpy as np

import coarsenet as cn

STAGES = ((64, 1), (128, 2), (256, 2), (512, 2))


def _conv_bn(x, filters, kernel, stride, pad, name, relu=True):
    x = cn.sym.Convolution(x, num_filter=filters, kernel=(kernel, kernel),
                           stride=(stride, stride), pad=(pad, pad), no_bias=True,
                           name=f"{name}_conv")
    x = cn.sym.BatchNorm(x, fix_gamma=False, eps=1e-5, momentum=0.9, name=f"{name}_bn")
    return cn.sym.Activation(x, act_type="relu", name=f"{name}_relu") if relu else x


def resnet18_symbol(num_classes: int = 10):
    """3x3/64 stem, four stages of two BasicBlocks, global average pool, FC, softmax loss."""
    x = _conv_bn(cn.sym.Variable("data"), 64, 3, 1, 1, "stem")
    in_filters = 64
    for s, (filters, stride) in enumerate(STAGES):
        for u in range(2):
            name = f"stage{s + 1}_unit{u + 1}"
            st = stride if u == 0 else 1
            body = _conv_bn(x, filters, 3, st, 1, f"{name}_a")
            body = _conv_bn(body, filters, 3, 1, 1, f"{name}_b", relu=False)
            if st != 1 or in_filters != filters:
                shortcut = _conv_bn(x, filters, 1, st, 0, f"{name}_sc", relu=False)
            else:
                shortcut = x
            x = cn.sym.Activation(body + shortcut, act_type="relu", name=f"{name}_relu")
            in_filters = filters
    x = cn.sym.Pooling(x, kernel=(1, 1), global_pool=True, pool_type="avg", name="pool")
    x = cn.sym.FullyConnected(x, num_hidden=num_classes, name="fc")
    return cn.sym.SoftmaxOutput(x, name="softmax")


def init_executor(exe, seed: int = 0) -> None:
    """He-normal weights, BN gamma 1 / beta 0, moving var 1."""
    rng = np.random.default_rng(seed)
    for name, arr in exe.arg_dict.items():
        a = arr.asnumpy()
        if name in ("data", "softmax_label"):
            continue
        if name.endswith("_weight"):
            fan_in = int(np.prod(a.shape[1:]))
            a[:] = rng.normal(0, np.sqrt(2.0 / fan_in), size=a.shape)
        elif name.endswith("_gamma"):
            a[:] = 1
        else:
            a[:] = 0
    for name, arr in exe.aux_dict.items():
        arr.asnumpy()[:] = 1 if name.endswith("_var") else 0


class SGDMomentum:
    """w += m, m = momentum * m - lr * g, in place with numpy (no allocation per step)."""

    def __init__(self, exe, lr=0.05, momentum=0.9):
        self.pairs = [(exe.arg_dict[n].asnumpy(), g.asnumpy()) for n, g in exe.grad_dict.items()
                      if n not in ("data", "softmax_label")]
        self.moms = [np.zeros_like(w) for w, _ in self.pairs]
        self.lr, self.momentum = lr, momentum

    def step(self) -> None:
        for (w, g), m in zip(self.pairs, self.moms):
            m *= self.momentum
            g *= self.lr
            m -= g
            w += m


def train_executor(batch: int, grad_req=None, mirror=None):
    net = resnet18_symbol()
    req = grad_req or {n: "write" for n in net.list_arguments() if n not in ("data",
                                                                               "softmax_label")}
    exe = net.simple_bind(grad_req=req, mirror=mirror, data=(batch, 3, 32, 32),
                          softmax_label=(batch,))
    init_executor(exe)
    return exe


def cifar_batch(batch: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, size=batch).astype(np.float32)
    return x, y


# ------------------------------------------------------------------------ PyTorch peer


def torch_resnet(num_classes: int = 10, stem: int = 64, stages=STAGES, units: int = 2):
    """PyTorch twin of the coarsenet CIFAR ResNets: 3x3 stem, BasicBlocks with a 1x1 conv + BN
    shortcut where the shape changes, global average pool, linear classifier."""
    import torch.nn as nn

    class BasicBlock(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.a = nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
                                   nn.BatchNorm2d(cout, momentum=0.1), nn.ReLU(inplace=True),
                                   nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
                                   nn.BatchNorm2d(cout, momentum=0.1))
            self.shortcut = nn.Identity()
            if stride != 1 or cin != cout:
                self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, 0, bias=False),
                                              nn.BatchNorm2d(cout, momentum=0.1))
            self.relu = nn.ReLU(inplace=True)

        def forward(self, x):
            return self.relu(self.a(x) + self.shortcut(x))

    layers = [nn.Conv2d(3, stem, 3, 1, 1, bias=False), nn.BatchNorm2d(stem), nn.ReLU(inplace=True)]
    cin = stem
    for filters, stride in stages:
        layers.append(BasicBlock(cin, filters, stride))
        layers += [BasicBlock(filters, filters, 1) for _ in range(units - 1)]
        cin = filters
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, num_classes)]
    return nn.Sequential(*layers)


def torch_resnet18(num_classes: int = 10):
    return torch_resnet(num_classes)


def torch_resnet20(num_classes: int = 10):
    """The model_zoo's resnet20: 16-channel stem, stages 16/32/64 of three blocks each."""
    return torch_resnet(num_classes, 16, [(16, 1), (32, 2), (64, 2)], 3)
