"""MXNet's `mxnet.gluon` names: gluon.nn, gluon.loss, gluon.Trainer, gluon.Parameter."""
from . import nn  # noqa: F401
from .nn import Block, HybridBlock, Parameter, ParameterDict, Trainer, loss  # noqa: F401
