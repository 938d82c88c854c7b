"""Per-layer forward and backward time of the small nets of issue 20 (LeNet b64, one unit of
the 100-residual-unit net on 16x32x32x32), coarsenet next to PyTorch 2.13 with the same shapes.

    PYTHONPATH=. python benchmarks/bench_layers.py [--threads 1] [--repeat 50] [--only lenet]

Groups (--only, comma-separated): lenet, unit, resnet18 (BatchNorm, ReLU, add of ResNet-18
CIFAR b32, and its SGD momentum update over all parameters).

Each layer is bound alone (coarsenet: a one-op executor, so the executor's per-call cost is
included as it is in a net; PyTorch: eager autograd). The two alternate call by call in one
process; the minimum wall time of `repeat` calls is printed for forward and backward, with the
ratio coarsenet / PyTorch of forward + backward and the minimum CPU time of forward + backward
of each (on a loaded machine CPU time is the steadier figure). Every argument gets a gradient
on both sides (also the data of LeNet's first layer, which the net itself does not need).
Prints figures, asserts nothing.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _time(fns: dict, repeat: int) -> dict:
    """{key: min seconds} and {key: min CPU seconds}, the callables run in turn."""
    best = {k: float("inf") for k in fns}
    cpu = dict(best)
    for fn in fns.values():
        fn()
    for _ in range(repeat):
        for k, fn in fns.items():
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            best[k] = min(best[k], time.perf_counter() - t0)
            cpu[k] = min(cpu[k], time.process_time() - c0)
    return best, cpu


def _cn_layer(cn, build, shape, **params):
    """(forward fn, backward fn) of a one-op executor, gradients written for every argument."""
    x = cn.sym.Variable("data")
    net = build(cn, x, **params)
    args = net.list_arguments()
    exe = net.simple_bind(grad_req={a: "write" for a in args}, data=shape)
    rng = np.random.default_rng(0)
    for a in args:
        exe.arg_dict[a][:] = rng.standard_normal(exe.arg_dict[a].shape).astype(np.float32) * 0.1
    out_shape = exe.outputs[0].shape
    g = cn.nd.array(rng.standard_normal(out_shape).astype(np.float32))
    return (lambda: exe.forward(is_train=True)), (lambda: exe.backward(g)), out_shape


def _torch_layer(module_or_fn, shape, params=()):
    import torch

    x = torch.randn(*shape, requires_grad=True)
    state = {}

    def fwd():
        x.grad = None
        for p in params:
            p.grad = None
        state["y"] = module_or_fn(x)

    def bwd():
        state["y"].backward(state["g"])

    fwd()
    state["g"] = torch.randn_like(state["y"])
    return fwd, bwd


def layers(cn, torch):
    """[(label, coarsenet (builder, shape, params), torch (module/fn, shape))]."""
    import torch.nn as nn
    import torch.nn.functional as F

    sym = cn.sym

    def conv(cn, x, **p):
        return sym.Convolution(x, name="c", **p)

    def act(cn, x, **p):
        return sym.Activation(x, **p)

    def pool(cn, x, **p):
        return sym.Pooling(x, **p)

    def fc(cn, x, **p):
        return sym.FullyConnected(x, name="f", **p)

    def bn(cn, x, **p):
        return sym.BatchNorm(x, name="bn", fix_gamma=False, **p)

    def add(cn, x):
        return x + sym.Activation(x, act_type="relu")

    def softmax(cn, x):
        return sym.SoftmaxOutput(x, name="softmax")

    c1 = nn.Conv2d(1, 20, 5, padding=2)
    c2 = nn.Conv2d(20, 50, 5, padding=2)
    f1 = nn.Linear(2450, 500)
    f2 = nn.Linear(500, 10)
    c3 = nn.Conv2d(32, 32, 3, padding=1, bias=False)
    b3 = nn.BatchNorm2d(32)
    b3.train()
    lenet = [
        ("conv1 5x5 1->20 28x28", (conv, (64, 1, 28, 28), dict(kernel=(5, 5), pad=(2, 2),
                                                                num_filter=20)),
         (c1, (64, 1, 28, 28), list(c1.parameters()))),
        ("tanh 64x20x28x28", (act, (64, 20, 28, 28), dict(act_type="tanh")),
         (torch.tanh, (64, 20, 28, 28), [])),
        ("maxpool2 64x20x28x28", (pool, (64, 20, 28, 28), dict(kernel=(2, 2), stride=(2, 2),
                                                               pool_type="max")),
         (lambda t: F.max_pool2d(t, 2, 2), (64, 20, 28, 28), [])),
        ("conv2 5x5 20->50 14x14", (conv, (64, 20, 14, 14), dict(kernel=(5, 5), pad=(2, 2),
                                                                  num_filter=50)),
         (c2, (64, 20, 14, 14), list(c2.parameters()))),
        ("tanh 64x50x14x14", (act, (64, 50, 14, 14), dict(act_type="tanh")),
         (torch.tanh, (64, 50, 14, 14), [])),
        ("maxpool2 64x50x14x14", (pool, (64, 50, 14, 14), dict(kernel=(2, 2), stride=(2, 2),
                                                               pool_type="max")),
         (lambda t: F.max_pool2d(t, 2, 2), (64, 50, 14, 14), [])),
        ("fc1 2450->500", (fc, (64, 2450), dict(num_hidden=500)),
         (f1, (64, 2450), list(f1.parameters()))),
        ("tanh 64x500", (act, (64, 500), dict(act_type="tanh")), (torch.tanh, (64, 500), [])),
        ("fc2 500->10", (fc, (64, 500), dict(num_hidden=10)),
         (f2, (64, 500), list(f2.parameters()))),
    ]
    unit = [
        ("conv 3x3 32->32 32x32", (conv, (16, 32, 32, 32), dict(kernel=(3, 3), pad=(1, 1),
                                                                 num_filter=32, no_bias=True)),
         (c3, (16, 32, 32, 32), list(c3.parameters()))),
        ("BatchNorm train 16x32x32x32", (bn, (16, 32, 32, 32), {}),
         (b3, (16, 32, 32, 32), list(b3.parameters()))),
        ("relu 16x32x32x32", (act, (16, 32, 32, 32), dict(act_type="relu")),
         (F.relu, (16, 32, 32, 32), [])),
        ("x + relu(x) 16x32x32x32", (add, (16, 32, 32, 32), {}),
         (lambda t: t + F.relu(t), (16, 32, 32, 32), [])),
    ]
    # ResNet-18 CIFAR b32's layers besides its convolutions (bench_conv_passes.py has those):
    # BatchNorm in training at each stage's shape, ReLU and the residual add at the largest
    resnet18 = []
    for ch, hw in [(64, 32), (128, 16), (256, 8), (512, 4)]:
        b = nn.BatchNorm2d(ch)
        b.train()
        shape = (32, ch, hw, hw)
        resnet18.append((f"BatchNorm train 32x{ch}x{hw}x{hw}", (bn, shape, {}),
                         (b, shape, list(b.parameters()))))
    big = (32, 64, 32, 32)
    resnet18 += [
        ("relu 32x64x32x32", (act, big, dict(act_type="relu")), (F.relu, big, [])),
        ("x + relu(x) 32x64x32x32", (add, big, {}), (lambda t: t + F.relu(t), big, [])),
    ]
    return {"lenet": lenet, "unit": unit, "resnet18": resnet18}


def sgd_update(cn, torch, repeat: int) -> None:
    """sgd_mom_update over ResNet-18 CIFAR's parameters (one call per array, as bench_nets.py
    runs it) against torch.optim.SGD(momentum=0.9).step() on the same arrays."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from models_common import resnet18_symbol

    net = resnet18_symbol()
    shapes, _, _ = net.infer_shape(data=(32, 3, 32, 32), softmax_label=(32,))
    names = [n for n in net.list_arguments() if n not in ("data", "softmax_label")]
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(np.float32)
              for n, s in zip(net.list_arguments(), shapes) if n in names]
    triples = [(cn.nd.array(a), cn.nd.array(a * 0.01), cn.nd.zeros(a.shape)) for a in arrays]
    params = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in arrays]
    for p, a in zip(params, arrays):
        p.grad = torch.from_numpy(a * 0.01)
    opt = torch.optim.SGD(params, lr=0.01, momentum=0.9)

    def ours():
        for w, g, m in triples:
            cn.nd.sgd_mom_update(w, g, m, lr=0.01, momentum=0.9, out=w)

    t, c = _time({"cn": ours, "pt": opt.step}, repeat)
    count = sum(a.size for a in arrays)
    print(f"  {'SGD momentum, all params':30s} cn {t['cn'] * 1e6:8.0f}  pt {t['pt'] * 1e6:8.0f}  "
          f"ratio {t['cn'] / t['pt']:5.2f}   CPU {c['cn'] * 1e6:7.0f} {c['pt'] * 1e6:7.0f}   "
          f"({len(arrays)} arrays, {count / 1e6:.1f}M values)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--only", default="lenet,unit")
    args = parser.parse_args()
    import torch

    import coarsenet as cn

    cn.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    print(f"{args.threads} thread(s); min of {args.repeat} calls, microseconds; "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"  {'layer':30s} {'cn fwd':>8s} {'cn bwd':>8s} {'pt fwd':>8s} {'pt bwd':>8s} "
          f"{'ratio':>6s}   CPU fwd+bwd cn, pt")
    table = layers(cn, torch)
    for group in args.only.split(","):
        tot = [0.0, 0.0]
        for label, (build, shape, params), (tmod, tshape, tparams) in table[group]:
            cf, cb, _ = _cn_layer(cn, build, shape, **params)
            tf, tb = _torch_layer(tmod, tshape, tparams)
            t, _ = _time({"cf": cf, "tf": tf}, args.repeat)
            u, c = _time({"cb": lambda: (cf(), cb()), "tb": lambda: (tf(), tb())},
                         args.repeat)
            cbw, tbw = u["cb"] - t["cf"], u["tb"] - t["tf"]
            tot[0] += u["cb"]
            tot[1] += u["tb"]
            print(f"  {label:30s} {t['cf'] * 1e6:8.0f} {cbw * 1e6:8.0f} {t['tf'] * 1e6:8.0f} "
                  f"{tbw * 1e6:8.0f} {u['cb'] / u['tb']:6.2f}   CPU {c['cb'] * 1e6:7.0f} "
                  f"{c['tb'] * 1e6:7.0f}", flush=True)
        print(f"  {group + ' sum':30s} cn {tot[0] * 1e6:8.0f}  pt {tot[1] * 1e6:8.0f}  "
              f"ratio {tot[0] / tot[1]:5.2f}")
        if group == "resnet18":
            sgd_update(cn, torch, args.repeat)


if __name__ == "__main__":
    main()
