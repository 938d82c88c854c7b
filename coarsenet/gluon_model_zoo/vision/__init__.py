"""MXNet's `gluon.model_zoo.vision`: the networks by name through get_model."""
from __future__ import annotations

from .alexnet import *  # noqa: F401,F403
from .alexnet import alexnet
from .densenet import *  # noqa: F401,F403
from .densenet import densenet121, densenet161, densenet169, densenet201
from .inception import *  # noqa: F401,F403
from .inception import inception_v3
from .mobilenet import *  # noqa: F401,F403
from .mobilenet import (mobilenet0_5, mobilenet0_25, mobilenet0_75, mobilenet1_0,
                        mobilenet_v2_0_5, mobilenet_v2_0_25, mobilenet_v2_0_75, mobilenet_v2_1_0)
from .resnet import *  # noqa: F401,F403
from .resnet import get_resnet
from .squeezenet import *  # noqa: F401,F403
from .squeezenet import squeezenet1_0, squeezenet1_1
from .vgg import *  # noqa: F401,F403
from .vgg import get_vgg


def _models() -> dict:
    models = {f"resnet{n}_v{v}": (lambda v=v, n=n, **kw: get_resnet(v, n, **kw))
              for v in (1, 2) for n in (18, 34, 50, 101, 152)}
    for n in (11, 13, 16, 19):
        models[f"vgg{n}"] = lambda n=n, **kw: get_vgg(n, **kw)
        models[f"vgg{n}_bn"] = lambda n=n, **kw: get_vgg(n, batch_norm=True, **kw)
    models.update({
        "alexnet": alexnet, "densenet121": densenet121, "densenet161": densenet161,
        "densenet169": densenet169, "densenet201": densenet201,
        "squeezenet1.0": squeezenet1_0, "squeezenet1.1": squeezenet1_1,
        "inceptionv3": inception_v3, "mobilenet1.0": mobilenet1_0,
        "mobilenet0.75": mobilenet0_75, "mobilenet0.5": mobilenet0_5,
        "mobilenet0.25": mobilenet0_25, "mobilenetv2_1.0": mobilenet_v2_1_0,
        "mobilenetv2_0.75": mobilenet_v2_0_75, "mobilenetv2_0.5": mobilenet_v2_0_5,
        "mobilenetv2_0.25": mobilenet_v2_0_25})
    return models


def get_model(name: str, **kwargs):
    """A model zoo network by MXNet's name ('resnet50_v1', 'mobilenet0.25', ...); kwargs go to
    its constructor (classes=, pretrained=, root=, ctx=)."""
    models = _models()
    name = name.lower()
    if name not in models:
        raise ValueError("Model %s is not supported. Available options are\n\t%s"
                         % (name, "\n\t".join(sorted(models))))
    return models[name](**kwargs)
