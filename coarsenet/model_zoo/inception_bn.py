"""Inception with batch normalisation (Ioffe & Szegedy 2015), MXNet-example style.

Exercises Concat: each inception block runs 1x1, 3x3, double-3x3 and pooled branches side by
side and concatenates them along the channels.
"""
from __future__ import annotations


def _conv(sym, data, filters, kernel, name, stride=1, pad=0):
    net = sym.Convolution(data, num_filter=filters, kernel=(kernel, kernel), stride=(stride, stride),
                          pad=(pad, pad), no_bias=True, name=f"{name}_conv")
    net = sym.BatchNorm(net, fix_gamma=False, name=f"{name}_bn")
    return sym.Activation(net, act_type="relu", name=f"{name}_relu")


def inception_block(sym, data, f1, f3r, f3, fd3r, fd3, pool_proj, name, pool="avg"):
    b1 = _conv(sym, data, f1, 1, f"{name}_1x1")
    b3 = _conv(sym, _conv(sym, data, f3r, 1, f"{name}_3x3r"), f3, 3, f"{name}_3x3", pad=1)
    bd = _conv(sym, data, fd3r, 1, f"{name}_d3x3r")
    bd = _conv(sym, _conv(sym, bd, fd3, 3, f"{name}_d3x3a", pad=1), fd3, 3, f"{name}_d3x3b", pad=1)
    bp = sym.Pooling(data, kernel=(3, 3), stride=(1, 1), pad=(1, 1), pool_type=pool,
                     name=f"{name}_pool")
    bp = _conv(sym, bp, pool_proj, 1, f"{name}_proj")
    return sym.Concat(b1, b3, bd, bp, dim=1, name=f"{name}_concat")


def inception_bn(num_classes: int = 10, blocks: int = 2):
    """A small Inception-BN: a 3x3 stem, `blocks` inception blocks, global pool, FC."""
    from .. import symbol as sym

    net = _conv(sym, sym.Variable("data"), 32, 3, "stem", pad=1)
    for i in range(blocks):
        net = inception_block(sym, net, 16, 16, 24, 16, 24, 16, f"in{i + 1}",
                              pool="max" if i % 2 else "avg")
    net = sym.Pooling(net, global_pool=True, pool_type="avg", kernel=(1, 1), name="pool_global")
    net = sym.Flatten(net, name="flatten")
    net = sym.FullyConnected(net, num_hidden=num_classes, name="fc")
    return sym.SoftmaxOutput(net, name="softmax")
