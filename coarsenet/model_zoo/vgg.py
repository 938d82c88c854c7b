"""VGG with batch normalisation (Simonyan & Zisserman 2014), MXNet-example style.

The classifier's two 4096-wide FC layers follow a global pool here, so any input size works.
"""
from __future__ import annotations

from ..base import CoarsenetError

_LAYOUT = {11: [1, 1, 2, 2, 2], 13: [2, 2, 2, 2, 2], 16: [2, 2, 3, 3, 3], 19: [2, 2, 4, 4, 4]}


def vgg(num_classes: int = 1000, num_layers: int = 16, fc_width: int = 4096, dropout: float = 0.5):
    from .. import symbol as sym

    if num_layers not in _LAYOUT:
        raise CoarsenetError(f"vgg: num_layers must be one of {sorted(_LAYOUT)}, found {num_layers}")
    net = sym.Variable("data")
    for stage, (convs, filters) in enumerate(zip(_LAYOUT[num_layers], (64, 128, 256, 512, 512))):
        for i in range(convs):
            name = f"conv{stage + 1}_{i + 1}"
            net = sym.Convolution(net, kernel=(3, 3), pad=(1, 1), num_filter=filters, name=name)
            net = sym.BatchNorm(net, fix_gamma=False, name=f"{name}_bn")
            net = sym.Activation(net, act_type="relu", name=f"{name}_relu")
        net = sym.Pooling(net, pool_type="max", kernel=(2, 2), stride=(2, 2),
                          pooling_convention="full", name=f"pool{stage + 1}")
    net = sym.Pooling(net, global_pool=True, pool_type="avg", kernel=(1, 1), name="pool_global")
    net = sym.Flatten(net, name="flatten")
    for i in (6, 7):
        net = sym.FullyConnected(net, num_hidden=fc_width, name=f"fc{i}")
        net = sym.Activation(net, act_type="relu", name=f"relu{i}")
        net = sym.Dropout(net, p=dropout, name=f"drop{i}")
    net = sym.FullyConnected(net, num_hidden=num_classes, name="fc8")
    return sym.SoftmaxOutput(net, name="softmax")
