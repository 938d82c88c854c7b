"""coarsenet: a deep-learning framework of coarse-grained C++ operators.

Symbolic graphs are planned (buffer reuse, in-place, recomputation) and executed by a thin Python
layer; the same ops run imperatively through coarsenet.nd. API and files follow Apache MXNet 1.x.
"""
from __future__ import annotations

import os as _os

# Idle OpenMP threads must sleep, not spin: ops alternate OpenMP loops with OpenBLAS GEMMs, and
# spinning workers slow every GEMM. libgomp reads this when it loads, i.e. with _core below.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import scipy_openblas32 as _openblas  # noqa: F401  loads OpenBLAS before _core needs it

from . import (  # noqa: F401  # noqa: E402,F401  # noqa: E402,F401  # noqa: E402,F401  # noqa: E402,F401
    _core,
    autograd,
    callback,
    cpp_extension,
    datasets,
    gluon,
    initializer,
    io,
    kvstore,
    lr_scheduler,
    metric,
    model,
    model_zoo,
    module,
    ndarray,
    nn,
    operator,
    ops,
    optimizer,
    random,
    symbol,
    viz,
)
from . import initializer as init  # noqa: F401
from . import kvstore as kv  # noqa: F401  MXNet's name, as mx.kv
from . import module as mod  # noqa: F401
from . import ndarray as nd  # noqa: F401
from . import symbol as sym  # noqa: F401
from .base import CoarsenetError, MXNetError  # noqa: F401
from .context import Context, cpu, current_context, gpu, num_gpus  # noqa: F401
from .executor import Executor  # noqa: F401

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


def __getattr__(name: str):
    # cn.onnx is imported on first use: `import coarsenet` stays cheap and works without onnx.
    if name == "onnx":
        import importlib

        return importlib.import_module(".onnx", __name__)
    raise AttributeError(f"module 'coarsenet' has no attribute '{name}'")
