"""coarsenet: a deep-learning framework of coarse-grained C++ operators.

Symbolic graphs are planned (buffer reuse, in-place, recomputation) and executed by a thin Python
layer; the same ops run imperatively through coarsenet.nd. API and files follow Apache MXNet 1.x.
"""
from __future__ import annotations

import os as _os

# Idle OpenMP threads must sleep, not spin: ops alternate OpenMP loops with OpenBLAS GEMMs, and
# spinning workers slow every GEMM. libgomp reads this when it loads, i.e. with _core below.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import scipy_openblas32 as _openblas  # noqa: E402,F401  loads OpenBLAS before _core needs it

from . import _core  # noqa: E402
from . import ops, random  # noqa: E402,F401
from . import ndarray  # noqa: E402
from . import ndarray as nd  # noqa: E402,F401
from . import symbol  # noqa: E402
from . import symbol as sym  # noqa: E402,F401
from . import autograd  # noqa: E402,F401  (adds attach_grad / backward to NDArray)
from . import callback, io, kvstore, lr_scheduler, metric, model, optimizer  # noqa: E402,F401
from . import initializer, nn, gluon  # noqa: E402,F401
from . import initializer as init  # noqa: E402,F401
from . import cpp_extension, operator  # noqa: E402,F401
from . import datasets, model_zoo, viz  # noqa: E402,F401
from . import module  # noqa: E402
from . import kvstore as kv  # noqa: E402,F401  MXNet's name, as mx.kv
from . import module as mod  # noqa: E402,F401
from .base import CoarsenetError, MXNetError  # noqa: E402,F401
from .executor import Executor  # noqa: E402,F401
from .context import Context, cpu, cpu_pinned, current_context, gpu, num_gpus  # noqa: E402,F401

__version__ = "0.1.0"

_PACKAGE_DIR = _os.path.dirname(_os.path.abspath(__file__))


def get_include() -> str:
    """Directory holding the op SDK headers (coarsenet/op.h) for building user ops."""
    installed = _os.path.join(_PACKAGE_DIR, "include")
    if _os.path.isdir(installed):
        return installed
    # A source checkout built with tools/build_inplace.sh keeps the headers under src/.
    return _os.path.join(_os.path.dirname(_PACKAGE_DIR), "src", "include")


def get_cmake_dir() -> str:
    """Directory holding coarsenetConfig.cmake: put it in CMAKE_PREFIX_PATH (or pass it as
    coarsenet_DIR) and `find_package(coarsenet CONFIG)` gives the target coarsenet::sdk."""
    installed = _os.path.join(_PACKAGE_DIR, "cmake")
    if _os.path.isdir(installed):
        return installed
    return _os.path.join(_os.path.dirname(_PACKAGE_DIR), "src", "cmake")


def set_num_threads(n: int) -> None:
    """Threads used by op kernels and GEMM."""
    _core.set_num_threads(int(n))


def get_num_threads() -> int:
    return _core.get_num_threads()


def load_op_library(path: str) -> list[str]:
    """Loads a plugin library of ops (built with the SDK); returns the op names it added.
    Loading the same library again is harmless."""
    names = _core.load_library(_os.fspath(path))
    _on_ops_added()
    return names


def _on_ops_added() -> None:
    """Regenerates the per-op wrappers in cn.nd (and cn.sym once loaded)."""
    for hook in _ops_added_hooks:
        hook()


_ops_added_hooks: list = [ndarray._install_op_functions, symbol._install_op_functions]

from . import random_functions as _random_functions  # noqa: E402  nd.random, sym.random

_random_functions.install()

from . import ndarray_fluent as _ndarray_fluent  # noqa: E402  x.exp(), x.abs(), ...

_ndarray_fluent.install()

from . import test_utils, util  # noqa: E402,F401  mx.test_utils, mx.util
