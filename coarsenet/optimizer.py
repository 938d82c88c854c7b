"""mx.optimizer: the namespace. Optimizer lives in optimizer_base; SGD, NAG, Adam, AdamW,
RMSProp, create and the Updater in optimizer_common; the other rules in optimizer_rules,
optimizer_lbsgd and optimizer_layerwise, built on those two: imports go one way.
"""
from . import optimizer_lbsgd, optimizer_rules  # noqa: F401  registering their rules
from .optimizer_base import Optimizer, _array  # noqa: F401  (the base class, as in MXNet)
from .optimizer_common import *  # noqa: F401,F403
from .optimizer_layerwise import LAMB, LARS, ccSGD  # noqa: F401  registers them
from .optimizer_lbsgd import LBSGD  # noqa: F401
from .optimizer_rules import (DCASGD, FTML, SGLD, AdaDelta, AdaGrad, Adamax,  # noqa: F401
                              Ftrl, Nadam, Signum)

register = Optimizer.register  # mx.optimizer.register(klass), MXNet's decorator
