"""`mx.contrib.svrg_optimization`: SVRGModule (stochastic variance-reduced gradient)."""
from .svrg_module import SVRGModule  # noqa: F401
