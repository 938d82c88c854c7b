"""MobileNet v1 (Howard et al. 2017), MXNet-example style: depthwise 3x3 + pointwise 1x1
blocks, each convolution followed by BatchNorm and ReLU. `multiplier` scales every width."""
from __future__ import annotations

from ..base import CoarsenetError

# (output channels, stride) of the 13 depthwise-separable blocks.
_BLOCKS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + \
    [(1024, 2), (1024, 1)]


def _conv_bn_relu(sym, net, channels, kernel, stride, pad, group, name):
    net = sym.Convolution(net, num_filter=channels, kernel=(kernel, kernel),
                          stride=(stride, stride), pad=(pad, pad), num_group=group, no_bias=True,
                          name=f"{name}_conv")
    net = sym.BatchNorm(net, fix_gamma=False, name=f"{name}_bn")
    return sym.Activation(net, act_type="relu", name=f"{name}_relu")


def mobilenet(num_classes: int = 1000, multiplier: float = 1.0):
    from .. import symbol as sym

    if not 0 < multiplier <= 4:
        raise CoarsenetError(f"mobilenet: multiplier must lie in (0, 4], found {multiplier}")

    def width(c):
        return max(8, int(c * multiplier))

    net = _conv_bn_relu(sym, sym.Variable("data"), width(32), 3, 2, 1, 1, "conv1")
    channels = width(32)
    for i, (out, stride) in enumerate(_BLOCKS, start=2):
        net = _conv_bn_relu(sym, net, channels, 3, stride, 1, channels, f"conv{i}_dw")
        channels = width(out)
        net = _conv_bn_relu(sym, net, channels, 1, 1, 0, 1, f"conv{i}_pw")
    net = sym.Pooling(net, global_pool=True, pool_type="avg", kernel=(1, 1), name="pool")
    net = sym.Flatten(net, name="flatten")
    net = sym.FullyConnected(net, num_hidden=num_classes, name="fc")
    return sym.SoftmaxOutput(net, name="softmax")
