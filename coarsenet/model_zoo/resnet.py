"""ResNet v1 (He et al. 2015) in MXNet's symbol style.

resnet_cifar: the 6n+2-layer CIFAR nets (20, 56, 110): 3x3/16 stem, three stages of n basic
blocks with 16/32/64 filters. resnet: the ImageNet nets (18/34 basic, 50/101/152 bottleneck)
with a 7x7/2 stem and max pool, or a 3x3/1 stem (`small_input=True`) for CIFAR-size images;
global average pooling makes any input size work.
"""
from __future__ import annotations

from ..base import CoarsenetError

_IMAGENET_UNITS = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3], 101: [3, 4, 23, 3],
                   152: [3, 8, 36, 3]}


def _conv_bn(sym, data, filters, kernel, stride, name, relu=True, bn_mom=0.9):
    pad = (kernel // 2, kernel // 2)
    net = sym.Convolution(data, num_filter=filters, kernel=(kernel, kernel), stride=(stride, stride),
                          pad=pad, no_bias=True, name=f"{name}_conv")
    net = sym.BatchNorm(net, fix_gamma=False, eps=2e-5, momentum=bn_mom, name=f"{name}_bn")
    return sym.Activation(net, act_type="relu", name=f"{name}_relu") if relu else net


def _unit(sym, data, filters, stride, dim_match, name, bottleneck):
    if bottleneck:
        net = _conv_bn(sym, data, filters // 4, 1, 1, f"{name}_a")
        net = _conv_bn(sym, net, filters // 4, 3, stride, f"{name}_b")
        net = _conv_bn(sym, net, filters, 1, 1, f"{name}_c", relu=False)
    else:
        net = _conv_bn(sym, data, filters, 3, stride, f"{name}_a")
        net = _conv_bn(sym, net, filters, 3, 1, f"{name}_b", relu=False)
    shortcut = data if dim_match else _conv_bn(sym, data, filters, 1, stride, f"{name}_sc",
                                               relu=False)
    return sym.Activation(net + shortcut, act_type="relu", name=f"{name}_out")


def _head(sym, net, num_classes):
    net = sym.Pooling(net, global_pool=True, pool_type="avg", kernel=(1, 1), name="pool_global")
    net = sym.Flatten(net, name="flatten")
    net = sym.FullyConnected(net, num_hidden=num_classes, name="fc")
    return sym.SoftmaxOutput(net, name="softmax")


def resnet_cifar(num_classes: int = 10, num_layers: int = 20):
    from .. import symbol as sym

    if (num_layers - 2) % 6:
        raise CoarsenetError(f"resnet_cifar: num_layers must be 6n+2 (20, 56, 110), found {num_layers}")
    n = (num_layers - 2) // 6
    net = _conv_bn(sym, sym.Variable("data"), 16, 3, 1, "stem")
    for stage, filters in enumerate((16, 32, 64)):
        for i in range(n):
            stride = 2 if stage > 0 and i == 0 else 1
            net = _unit(sym, net, filters, stride, stride == 1, f"stage{stage + 1}_unit{i + 1}",
                        bottleneck=False)
    return _head(sym, net, num_classes)


def resnet(num_classes: int = 1000, num_layers: int = 50, small_input: bool = False):
    from .. import symbol as sym

    if num_layers not in _IMAGENET_UNITS:
        raise CoarsenetError(f"resnet: num_layers must be one of {sorted(_IMAGENET_UNITS)}, "
                             f"found {num_layers}")
    bottleneck = num_layers >= 50
    widths = (256, 512, 1024, 2048) if bottleneck else (64, 128, 256, 512)
    data = sym.Variable("data")
    if small_input:
        net = _conv_bn(sym, data, 64, 3, 1, "stem")
    else:
        net = _conv_bn(sym, data, 64, 7, 2, "stem")
        net = sym.Pooling(net, kernel=(3, 3), stride=(2, 2), pad=(1, 1), pool_type="max",
                          name="stem_pool")
    in_filters = 64
    for stage, (units, filters) in enumerate(zip(_IMAGENET_UNITS[num_layers], widths)):
        for i in range(units):
            stride = 2 if stage > 0 and i == 0 else 1
            net = _unit(sym, net, filters, stride, stride == 1 and in_filters == filters,
                        f"stage{stage + 1}_unit{i + 1}", bottleneck)
            in_filters = filters
    return _head(sym, net, num_classes)
