"""PyTorch twins of the networks timed by bench_nets.py (torchvision is not a dependency): the
same layers, shapes and parameter counts as coarsenet's model_zoo / gluon model_zoo nets."""
from __future__ import annotations


def _cbr(cin, cout, k, stride=1, pad=0, groups=1, act="relu"):
    import torch.nn as nn

    layers = [nn.Conv2d(cin, cout, k, stride, pad, groups=groups, bias=False),
              nn.BatchNorm2d(cout)]
    if act == "relu":
        layers.append(nn.ReLU(inplace=True))
    elif act == "relu6":
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


def torch_inception_bn(num_classes: int = 1000):
    """MXNet example's Inception-BN (symbols/inception-bn.py) for 224x224 inputs."""
    import torch
    import torch.nn as nn

    class BlockA(nn.Module):
        def __init__(self, cin, n1, n3r, n3, nd3r, nd3, pool, proj):
            super().__init__()
            self.b1 = _cbr(cin, n1, 1)
            self.b3 = nn.Sequential(_cbr(cin, n3r, 1), _cbr(n3r, n3, 3, 1, 1))
            self.bd = nn.Sequential(_cbr(cin, nd3r, 1), _cbr(nd3r, nd3, 3, 1, 1),
                                    _cbr(nd3, nd3, 3, 1, 1))
            pool_layer = (nn.AvgPool2d(3, 1, 1, count_include_pad=True) if pool == "avg"
                          else nn.MaxPool2d(3, 1, 1))
            self.bp = nn.Sequential(pool_layer, _cbr(cin, proj, 1))
            self.cout = n1 + n3 + nd3 + proj

        def forward(self, x):
            return torch.cat([self.b1(x), self.b3(x), self.bd(x), self.bp(x)], 1)

    class BlockB(nn.Module):
        def __init__(self, cin, n3r, n3, nd3r, nd3):
            super().__init__()
            self.b3 = nn.Sequential(_cbr(cin, n3r, 1), _cbr(n3r, n3, 3, 2, 1))
            self.bd = nn.Sequential(_cbr(cin, nd3r, 1), _cbr(nd3r, nd3, 3, 1, 1),
                                    _cbr(nd3, nd3, 3, 2, 1))
            self.bp = nn.MaxPool2d(3, 2, 1)
            self.cout = n3 + nd3 + cin

        def forward(self, x):
            return torch.cat([self.b3(x), self.bd(x), self.bp(x)], 1)

    layers = [_cbr(3, 64, 7, 2, 3), nn.MaxPool2d(3, 2), _cbr(64, 64, 1), _cbr(64, 192, 3, 1, 1),
              nn.MaxPool2d(3, 2)]
    cin = 192
    for spec in INCEPTION_BN_BLOCKS:
        block = BlockA(cin, *spec[1:]) if spec[0] == "A" else BlockB(cin, *spec[1:])
        layers.append(block)
        cin = block.cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, num_classes)]
    return nn.Sequential(*layers)


# (kind, filters...) of the ten inception blocks, in MXNet example order (3a..5b).
INCEPTION_BN_BLOCKS = [
    ("A", 64, 64, 64, 64, 96, "avg", 32), ("A", 64, 64, 96, 64, 96, "avg", 64),
    ("B", 128, 160, 64, 96),
    ("A", 224, 64, 96, 96, 128, "avg", 128), ("A", 192, 96, 128, 96, 128, "avg", 128),
    ("A", 160, 128, 160, 128, 160, "avg", 128), ("A", 96, 128, 192, 160, 192, "avg", 128),
    ("B", 128, 192, 192, 256),
    ("A", 352, 192, 320, 160, 224, "avg", 128), ("A", 352, 192, 320, 192, 224, "max", 128)]


def inception_bn_symbol(sym, num_classes: int = 1000):
    """The same Inception-BN as a Symbol of `sym` (coarsenet's or MXNet's symbol module)."""

    def conv(x, filters, k, name, stride=1, pad=0):
        x = sym.Convolution(x, num_filter=filters, kernel=(k, k), stride=(stride, stride),
                            pad=(pad, pad), no_bias=True, name=f"{name}_conv")
        x = sym.BatchNorm(x, fix_gamma=False, eps=1e-5, name=f"{name}_bn")
        return sym.Activation(x, act_type="relu", name=f"{name}_relu")

    def block_a(x, n1, n3r, n3, nd3r, nd3, pool, proj, name):
        b1 = conv(x, n1, 1, f"{name}_1x1")
        b3 = conv(conv(x, n3r, 1, f"{name}_3x3r"), n3, 3, f"{name}_3x3", pad=1)
        bd = conv(conv(x, nd3r, 1, f"{name}_d3x3r"), nd3, 3, f"{name}_d3x3a", pad=1)
        bd = conv(bd, nd3, 3, f"{name}_d3x3b", pad=1)
        bp = sym.Pooling(x, kernel=(3, 3), stride=(1, 1), pad=(1, 1), pool_type=pool,
                         name=f"{name}_pool")
        return sym.Concat(b1, b3, bd, conv(bp, proj, 1, f"{name}_proj"), dim=1,
                          name=f"{name}_concat")

    def block_b(x, n3r, n3, nd3r, nd3, name):
        b3 = conv(conv(x, n3r, 1, f"{name}_3x3r"), n3, 3, f"{name}_3x3", stride=2, pad=1)
        bd = conv(conv(x, nd3r, 1, f"{name}_d3x3r"), nd3, 3, f"{name}_d3x3a", pad=1)
        bd = conv(bd, nd3, 3, f"{name}_d3x3b", stride=2, pad=1)
        bp = sym.Pooling(x, kernel=(3, 3), stride=(2, 2), pad=(1, 1), pool_type="max",
                         name=f"{name}_pool")
        return sym.Concat(b3, bd, bp, dim=1, name=f"{name}_concat")

    x = conv(sym.Variable("data"), 64, 7, "s1", stride=2, pad=3)
    x = sym.Pooling(x, kernel=(3, 3), stride=(2, 2), pool_type="max", name="pool1")
    x = conv(conv(x, 64, 1, "s2r"), 192, 3, "s2", pad=1)
    x = sym.Pooling(x, kernel=(3, 3), stride=(2, 2), pool_type="max", name="pool2")
    for i, spec in enumerate(INCEPTION_BN_BLOCKS):
        x = (block_a(x, *spec[1:], name=f"in{i}") if spec[0] == "A"
             else block_b(x, *spec[1:], name=f"in{i}"))
    x = sym.Pooling(x, kernel=(1, 1), global_pool=True, pool_type="avg", name="pool_global")
    x = sym.FullyConnected(sym.Flatten(x), num_hidden=num_classes, name="fc")
    return sym.SoftmaxOutput(x, name="softmax")


def torch_mobilenet_v2(num_classes: int = 1000):
    """MobileNet v2 1.0 as in the gluon model zoo (ReLU6, 1x1 conv classifier without bias)."""
    import torch.nn as nn

    class Bottleneck(nn.Module):
        def __init__(self, cin, cout, t, stride):
            super().__init__()
            mid = cin * t
            self.shortcut = stride == 1 and cin == cout
            self.body = nn.Sequential(_cbr(cin, mid, 1, act="relu6"),
                                      _cbr(mid, mid, 3, stride, 1, groups=mid, act="relu6"),
                                      _cbr(mid, cout, 1, act=None))

        def forward(self, x):
            return self.body(x) + x if self.shortcut else self.body(x)

    ins = [32, 16, 24, 24, 32, 32, 32, 64, 64, 64, 64, 96, 96, 96, 160, 160, 160]
    outs = [16, 24, 24, 32, 32, 32, 64, 64, 64, 64, 96, 96, 96, 160, 160, 160, 320]
    ts = [1] + [6] * 16
    strides = [1, 2] * 2 + [1, 1, 2] + [1] * 6 + [2] + [1] * 3
    layers = [_cbr(3, 32, 3, 2, 1, act="relu6")]
    layers += [Bottleneck(i, o, t, s) for i, o, t, s in zip(ins, outs, ts, strides)]
    layers += [_cbr(320, 1280, 1, act="relu6"), nn.AdaptiveAvgPool2d(1),
               nn.Conv2d(1280, num_classes, 1, bias=False), nn.Flatten()]
    return nn.Sequential(*layers)


def torch_lenet(num_classes: int = 10, pad: int = 2):
    """model_zoo.lenet: conv5x5x20, tanh, max pool 2, conv5x5x50, tanh, pool, FC500, tanh, FC."""
    import torch.nn as nn

    side = 28 + 2 * pad - 4  # 28x28 input
    side = (side // 2 + 2 * pad - 4) // 2
    return nn.Sequential(nn.Conv2d(1, 20, 5, padding=pad), nn.Tanh(), nn.MaxPool2d(2, 2),
                         nn.Conv2d(20, 50, 5, padding=pad), nn.Tanh(), nn.MaxPool2d(2, 2),
                         nn.Flatten(), nn.Linear(50 * side * side, 500), nn.Tanh(),
                         nn.Linear(500, num_classes))
