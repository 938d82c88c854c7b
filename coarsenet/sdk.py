"""The op SDK from Python: where its headers and CMake config are, and loading op libraries
built with it (cn.get_include, cn.get_cmake_dir, cn.load_op_library re-export these).

Below cpp_extension.py, which builds libraries with these headers and loads them here.
"""
from __future__ import annotations

import os

from . import _core
from . import ops as _ops

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def get_include() -> str:
    """Directory holding the op SDK headers (coarsenet/op.h) for building user ops."""
    installed = os.path.join(_PACKAGE_DIR, "include")
    if os.path.isdir(installed):
        return installed
    # A source checkout built with tools/build_inplace.sh keeps the headers under src/.
    return os.path.join(os.path.dirname(_PACKAGE_DIR), "src", "include")


def get_cmake_dir() -> str:
    """Directory holding coarsenetConfig.cmake: put it in CMAKE_PREFIX_PATH (or pass it as
    coarsenet_DIR) and `find_package(coarsenet CONFIG)` gives the target coarsenet::sdk."""
    installed = os.path.join(_PACKAGE_DIR, "cmake")
    if os.path.isdir(installed):
        return installed
    return os.path.join(os.path.dirname(_PACKAGE_DIR), "src", "cmake")


def load_op_library(path: str) -> list[str]:
    """Loads a plugin library of ops (built with the SDK); returns the op names it added.
    Loading the same library again is harmless."""
    names = _core.load_library(os.fspath(path))
    _ops.ops_added()
    return names
