"""A multi-layer perceptron: (FC + ReLU) per hidden layer, then FC to the classes."""
from __future__ import annotations


def mlp(num_classes: int = 10, hidden=(128, 64)):
    from .. import symbol as sym

    net = sym.Flatten(sym.Variable("data"), name="flatten")
    for i, width in enumerate(hidden):
        net = sym.FullyConnected(net, num_hidden=width, name=f"fc{i + 1}")
        net = sym.Activation(net, act_type="relu", name=f"relu{i + 1}")
    net = sym.FullyConnected(net, num_hidden=num_classes, name=f"fc{len(hidden) + 1}")
    return sym.SoftmaxOutput(net, name="softmax")
