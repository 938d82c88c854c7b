"""Run unchanged MXNet 1.x code on coarsenet.

`alias_mxnet()` installs an import hook so that `import mxnet`, `from mxnet import nd, gluon`,
`import mxnet.ndarray as nd` and every other `mxnet.X.Y` path resolve to coarsenet's own modules
(the very same module objects, so isinstance checks and module state are shared). Nothing named
`mxnet` is installed anywhere: the hook lives in this process only.

A name coarsenet lacks fails at once with an AttributeError (or ModuleNotFoundError for a module
path) that says "coarsenet does not implement mxnet.X", instead of a confusing error later.
`python -m coarsenet run script.py [args]` calls alias_mxnet() and runs the script as __main__.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import os
import runpy
import sys
import types

_PREFIX = "mxnet"
_TARGET = "coarsenet"

# MXNet module paths whose coarsenet module has another name (the value is a coarsenet path).
_RENAMES = {
    "mxnet.nd": "coarsenet.ndarray",
    "mxnet.sym": "coarsenet.symbol",
    "mxnet.mod": "coarsenet.module",
    "mxnet.init": "coarsenet.initializer",
    "mxnet.kv": "coarsenet.kvstore",
    "mxnet.gluon.nn": "coarsenet.nn",
    "mxnet.mon": "coarsenet.monitor",
    "mxnet.visualization": "coarsenet.viz",
    "mxnet.module.base_module": "coarsenet.base_module",
    "mxnet.module.module": "coarsenet.module",
    "mxnet.module.bucketing_module": "coarsenet.bucketing_module",
    "mxnet.module.sequential_module": "coarsenet.sequential_module",
    "mxnet.module.python_module": "coarsenet.python_module",
}


def _target_name(fullname: str) -> str:
    for mx_name, cn_name in _RENAMES.items():
        if fullname == mx_name or fullname.startswith(mx_name + "."):
            return cn_name + fullname[len(mx_name):]
    return _TARGET + fullname[len(_PREFIX):]


def _resolve(fullname: str):
    """The coarsenet module (or module-like object) standing for the MXNet path `fullname`."""
    target = _target_name(fullname)
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as e:
        if e.name is None or not target.startswith(e.name):
            raise  # a real missing dependency inside coarsenet, not a missing mxnet path
    # Some MXNet submodules are attributes in coarsenet (e.g. mxnet.ndarray.random).
    parent_name, _, leaf = fullname.rpartition(".")
    if parent_name:
        parent = sys.modules.get(parent_name) or _resolve(parent_name)
        obj = getattr(parent, leaf, None)
        if isinstance(obj, types.ModuleType) or (obj is not None and not callable(obj)):
            return obj
    raise ModuleNotFoundError(f"coarsenet does not implement {fullname}", name=fullname)


class _MXNetFinder(importlib.abc.MetaPathFinder):
    """Maps `mxnet` and `mxnet.*` imports to the coarsenet module of the same role."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != _PREFIX and not fullname.startswith(_PREFIX + "."):
            return None
        module = _resolve(fullname)
        # The import system overwrites these on the returned module; keep coarsenet's own names.
        saved = {k: getattr(module, k, None) for k in ("__spec__", "__loader__")}
        return importlib.util.spec_from_loader(fullname, _Restoring(module, saved, fullname))


class _Restoring(importlib.abc.Loader):
    """Hands back the existing coarsenet module, restoring the attributes that module_from_spec
    would overwrite, so coarsenet's own imports and reloads keep working."""

    def __init__(self, module, saved, fullname):
        self._module, self._saved, self._fullname = module, saved, fullname

    def create_module(self, spec):
        return self._module

    def exec_module(self, module):
        if isinstance(module, types.ModuleType) and not hasattr(module, "__path__"):
            # `import mxnet.gluon.nn` needs mxnet.gluon to look like a package before the
            # finder is asked for the submodule; an empty path finds nothing else.
            module.__path__ = []
        for k, v in self._saved.items():
            if v is not None:
                try:
                    setattr(module, k, v)
                except (AttributeError, TypeError):
                    pass
        _guard_missing(module, self._fullname)


def _guard_missing(module, mx_name: str) -> None:
    """Gives `module` a __getattr__ that names the missing MXNet attribute (PEP 562)."""
    if not isinstance(module, types.ModuleType) or "__mx_missing__" in module.__dict__:
        return
    previous = module.__dict__.get("__getattr__")

    def __getattr__(name, _prev=previous, _mx=mx_name):
        if _prev is not None:  # the module's own lazy attributes (coarsenet.testing, ...)
            try:
                return _prev(name)
            except AttributeError:
                pass
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeError(f"coarsenet does not implement {_mx}.{name}")

    module.__getattr__ = __getattr__
    module.__mx_missing__ = True


_finder = _MXNetFinder()


def alias_mxnet() -> types.ModuleType:
    """Makes `import mxnet` (and every `mxnet.X.Y`) give coarsenet's modules in this process.

    Returns the module `mxnet` now names (coarsenet itself). Calling it again is harmless.
    """
    import coarsenet

    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)
    mod = sys.modules.get(_PREFIX)
    if mod is not coarsenet:
        sys.modules[_PREFIX] = coarsenet
        _guard_missing(coarsenet, _PREFIX)
        # The short names MXNet scripts use as attributes name their long modules in messages.
        for short, long in (("nd", "ndarray"), ("sym", "symbol"), ("mod", "module"),
                            ("init", "initializer"), ("kv", "kvstore"), ("mon", "monitor")):
            m = getattr(coarsenet, short, None)
            if isinstance(m, types.ModuleType):
                _guard_missing(m, f"mxnet.{long}")
        for name in ("gluon", "io", "metric", "optimizer", "autograd", "random", "callback",
                     "lr_scheduler", "model", "viz", "operator", "context", "profiler"):
            m = getattr(coarsenet, name, None)
            if isinstance(m, types.ModuleType):
                _guard_missing(m, f"mxnet.{name}")
    return coarsenet


def run_script(path: str, args: list[str]) -> None:
    """Runs the MXNet script at `path` as __main__ with `args` as its sys.argv[1:]."""
    if not os.path.isfile(path):
        from .base import CoarsenetError

        raise CoarsenetError(f"run: script '{path}' not found")  # before the hook is installed
    alias_mxnet()
    sys.argv = [path] + list(args)
    # As `python script.py` does: the script's directory comes first on the import path.
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    runpy.run_path(path, run_name="__main__")
