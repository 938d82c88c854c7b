"""Layers in the MXNet Gluon style: Blocks owning Parameters, a Trainer, losses.

`cn.nn` is also reachable as `cn.gluon.nn`; `cn.gluon.Trainer`, `cn.gluon.loss` as in MXNet.
"""
from . import loss  # noqa: F401
from .basic_layers import (  # noqa: F401
    Activation, AvgPool2D, BatchNorm, Conv2D, Conv2DTranspose, Dense, Dropout, Embedding,
    Flatten, GlobalAvgPool2D, GlobalMaxPool2D, InstanceNorm, LayerNorm, LeakyReLU, MaxPool2D)
from .block import Block, HybridBlock, HybridSequential, Sequential  # noqa: F401
from .parameter import DeferredInitializationError, Parameter, ParameterDict  # noqa: F401
from .symbol_block import SymbolBlock  # noqa: F401
from .trainer import Trainer  # noqa: F401
from .activations import ELU, GELU, SELU, PReLU, Swish  # noqa: F401,E402
from .conv_1d import (  # noqa: F401,E402
    AvgPool1D, Conv1D, GlobalAvgPool1D, GlobalAvgPool3D, GlobalMaxPool1D, GlobalMaxPool3D,
    MaxPool1D)
from .lambda_layers import HybridLambda, Lambda  # noqa: F401,E402
from .conv_3d import AvgPool3D, Conv3D, MaxPool3D  # noqa: F401,E402
