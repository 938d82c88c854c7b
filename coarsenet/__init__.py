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

_PACKAGE_DIR = _os.path.dirname(_os.path.abspath(__file__))


def _find_installed_core() -> None:
    """Lets a source checkout run on the extension `pip install .` put in site-packages.

    Python puts the current directory first on sys.path, so `python -m coarsenet ...` or
    `pytest` in the checkout's root imports this source folder, not the installed package, and
    the source folder holds no compiled _core unless tools/build_inplace.sh made one. Then the
    installed package's directory joins this package's search path, so `from . import _core`
    finds the installed extension; the Python code that runs is the checkout's."""
    import importlib.machinery
    import sys

    suffixes = importlib.machinery.EXTENSION_SUFFIXES
    def has_core(folder):
        return any(_os.path.isfile(_os.path.join(folder, "_core" + s)) for s in suffixes)

    if has_core(_PACKAGE_DIR):
        return
    for entry in sys.path:
        folder = _os.path.join(_os.path.abspath(entry or "."), "coarsenet")
        if folder != _PACKAGE_DIR and has_core(folder):
            __path__.append(folder)
            return


_find_installed_core()
try:
    from . import _core  # noqa: E402
except ImportError as e:
    raise ImportError(
        f"coarsenet's compiled module _core is missing: neither {_PACKAGE_DIR} nor an installed "
        "coarsenet holds it. Install with `pip install .` (or build in place for development: "
        f"tools/build_inplace.sh). Import error: {e}") from None
if _core.kernel_variant()["error"]:  # a bad COARSENET_KERNEL_ISA (src/core/kernel_variant.h)
    raise _core.CoarsenetError(_core.kernel_variant()["error"])
from . import ops, random  # noqa: E402,F401
from . import ndarray  # noqa: E402,F401
from . import ndarray as nd  # noqa: E402,F401
from . import symbol  # noqa: E402,F401
from . import symbol as sym  # noqa: E402,F401
from . import autograd  # noqa: E402,F401  (also gives NDArray.backward its tape walk)
from . import callback, io, kvstore, lr_scheduler, metric, model, optimizer  # noqa: E402,F401
from . import initializer, nn, gluon  # noqa: E402,F401
from . import initializer as init  # noqa: E402,F401
from . import cpp_extension, operator  # noqa: E402,F401
from .sdk import get_cmake_dir, get_include, load_op_library  # noqa: E402,F401
from . import datasets, model_zoo, viz  # noqa: E402,F401
from . import mirror  # noqa: E402,F401  cn.mirror.tradeoff
from . import image, recordio  # noqa: E402,F401  mx.image, mx.recordio
from . import module  # noqa: E402,F401  mx.module
from . import kvstore as kv  # noqa: E402,F401  MXNet's name, as mx.kv
from . import module as mod  # noqa: E402,F401
from .base import CoarsenetError, MXNetError  # noqa: E402,F401
from .executor import Executor  # noqa: E402,F401
from .context import Context, cpu, cpu_pinned, current_context, gpu, num_gpus  # noqa: E402,F401
from . import rnn  # noqa: E402,F401  legacy mx.rnn cells, BucketSentenceIter
from . import monitor, profiler  # noqa: E402,F401  mx.mon.Monitor, mx.profiler
from . import monitor as mon  # noqa: E402,F401
from .attribute import AttrScope  # noqa: E402,F401  mx.AttrScope



def _read_version() -> str:
    """The version is defined once, in pyproject.toml: an installed package carries it in
    cmake/version.txt (written by the build); a source checkout reads pyproject.toml."""
    installed = _os.path.join(_PACKAGE_DIR, "cmake", "version.txt")
    if _os.path.isfile(installed):
        with open(installed, encoding="utf-8") as f:
            return f.read().strip()
    import re

    with open(_os.path.join(_os.path.dirname(_PACKAGE_DIR), "pyproject.toml"),
              encoding="utf-8") as f:
        return re.search(r'^version = "([^"]+)"', f.read(), re.M).group(1)


__version__ = _read_version()


def __getattr__(name: str):
    """Submodules not imported above (coarsenet.testing, coarsenet.passes, ...) load on first
    use, so `import coarsenet as cn; cn.testing.check_op(...)` works as documented without
    making every import of coarsenet pay for them."""
    if not name.startswith("_") and (
            _os.path.isfile(_os.path.join(_PACKAGE_DIR, name + ".py"))
            or _os.path.isfile(_os.path.join(_PACKAGE_DIR, name, "__init__.py"))):
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'coarsenet' has no attribute '{name}'")


def set_num_threads(n: int) -> None:
    """Threads used by op kernels and GEMM from now on (GEMMs inside a parallel kernel loop
    stay single-threaded). Executors bound earlier keep the plans (and workspace) they were
    bound with: their kernels split work as planned and the new count runs it."""
    import numbers

    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise CoarsenetError(f"set_num_threads: expected an integer >= 1, found {n!r}")
    _core.set_num_threads(int(n))


def get_num_threads() -> int:
    return _core.get_num_threads()


def thread_info() -> dict:
    """The thread settings in effect: num_threads (what kernels plan for), omp_max_threads,
    blas_threads, and measured inside a parallel kernel loop: parallel_team (its threads) and
    blas_threads_in_parallel (1: no nested BLAS threads)."""
    return _core.thread_info()


def _threads_from_env() -> None:
    """The thread count at import, as users of OpenMP and MXNet expect: OMP_NUM_THREADS (its
    first entry when it lists several levels), else MXNET_CPU_WORKER_NTHREADS, else OpenMP's
    default (the machine's cores). A value that is not a positive integer is ignored with a
    warning naming the variable, like OpenMP runtimes do, rather than failing the import."""
    import warnings

    for var in ("OMP_NUM_THREADS", "MXNET_CPU_WORKER_NTHREADS"):
        raw = _os.environ.get(var, "").strip()
        if not raw:
            continue
        first = raw.split(",")[0].strip()
        if first.isdigit() and int(first) >= 1:
            _core.set_num_threads(int(first))
            return
        warnings.warn(f"coarsenet: ignoring {var}={raw!r}: expected a positive integer",
                      RuntimeWarning, stacklevel=3)
    _core.set_num_threads(_core.get_num_threads())  # OpenBLAS follows OpenMP's default


_threads_from_env()


from . import random_functions as _random_functions  # noqa: E402  nd.random, sym.random

_random_functions.install()
from . import linalg_functions as _linalg_functions  # noqa: E402  nd.linalg, sym.linalg

_linalg_functions.install()


from . import test_utils, util  # noqa: E402,F401  mx.test_utils, mx.util
