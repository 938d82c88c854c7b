"""Symbol builders for common networks (MXNet-example style), by name through get_symbol."""
from __future__ import annotations

from ..base import CoarsenetError
from .inception_bn import inception_bn
from .lenet import lenet
from .lstm_lm import lstm_lm
from .mlp import mlp
from .mobilenet import mobilenet
from .resnet import resnet, resnet_cifar
from .vgg import vgg

# name -> (builder, fixed keyword arguments)
_MODELS = {
    "mlp": (mlp, {}),
    "lenet": (lenet, {}),
    "resnet20": (resnet_cifar, {"num_layers": 20}),
    "resnet56": (resnet_cifar, {"num_layers": 56}),
    "resnet110": (resnet_cifar, {"num_layers": 110}),
    "resnet18": (resnet, {"num_layers": 18}),
    "resnet34": (resnet, {"num_layers": 34}),
    "resnet50": (resnet, {"num_layers": 50}),
    "resnet101": (resnet, {"num_layers": 101}),
    "resnet152": (resnet, {"num_layers": 152}),
    "vgg11": (vgg, {"num_layers": 11}),
    "vgg16": (vgg, {"num_layers": 16}),
    "inception-bn": (inception_bn, {}),
    "mobilenet": (mobilenet, {}),
    "lstm_lm": (lstm_lm, {}),
}


def list_models() -> list[str]:
    return sorted(_MODELS)


def get_symbol(name: str, num_classes: int = 10, **kwargs):
    """The training symbol (ending in SoftmaxOutput named 'softmax') of model `name`."""
    if name not in _MODELS:
        raise CoarsenetError(f"unknown model '{name}'; expected one of: {', '.join(list_models())}")
    builder, fixed = _MODELS[name]
    return builder(num_classes=num_classes, **fixed, **kwargs)
