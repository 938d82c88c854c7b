"""mx.mod: the namespace. Module (one bound executor per shape) lives in module_core; the
other modules build on it or on base_module: imports go one way.
"""
# MXNet's submodule names, as attributes of mx.module (mx.module.base_module.BaseModule)
from . import base_module, bucketing_module, python_module, sequential_module  # noqa: F401
from .base_module import BaseModule, BatchEndParam  # noqa: F401
from .bucketing_module import BucketingModule  # noqa: F401  mx.mod.BucketingModule
from .module_core import *  # noqa: F401,F403  Module
from .module_core import _create_kvstore, _descs  # noqa: F401
from .python_module import PythonLossModule, PythonModule  # noqa: F401
from .sequential_module import SequentialModule  # noqa: F401
