"""LeNet-5 as in MXNet's examples (conv 5x5 x20, pool, conv 5x5 x50, pool, FC 500, FC).

`pad` keeps small inputs (the 8x8 digits) from shrinking to nothing: pad=2 keeps each conv's
output the size of its input.
"""
from __future__ import annotations


def lenet(num_classes: int = 10, pad: int = 2, act_type: str = "tanh"):
    from .. import symbol as sym

    net = sym.Variable("data")
    for i, filters in enumerate((20, 50)):
        net = sym.Convolution(net, kernel=(5, 5), pad=(pad, pad), num_filter=filters,
                              name=f"conv{i + 1}")
        net = sym.Activation(net, act_type=act_type, name=f"{act_type}{i + 1}")
        net = sym.Pooling(net, pool_type="max", kernel=(2, 2), stride=(2, 2), name=f"pool{i + 1}")
    net = sym.Flatten(net, name="flatten")
    net = sym.FullyConnected(net, num_hidden=500, name="fc1")
    net = sym.Activation(net, act_type=act_type, name=f"{act_type}3")
    net = sym.FullyConnected(net, num_hidden=num_classes, name="fc2")
    return sym.SoftmaxOutput(net, name="softmax")
