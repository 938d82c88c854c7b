"""mx.test_utils: the namespace. The basic helpers live in test_utils_base, the gradient and
data helpers in test_utils_extra (built on it): imports go one way.
"""
from .test_utils_base import *  # noqa: F401,F403  the base classes and the basic ones
from .test_utils_extra import (check_consistency, check_numeric_gradient,  # noqa: F401
                               check_symbolic_backward, download, get_cifar10, get_mnist,
                               get_mnist_iterator, get_mnist_ubyte)
