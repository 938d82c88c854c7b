"""mx.init: the namespace. Initializer, the registry and the basic initializers live in
initializer_base, the others in initializer_extra (built on it): imports go one way.
"""
from .initializer_base import *  # noqa: F401,F403  the base classes and the basic ones
from .initializer_extra import (Bilinear, Load, LSTMBias, Mixed, Orthogonal,  # noqa: F401
                                register)
