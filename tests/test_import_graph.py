"""The package's imports run one way.

(a) Every module imports alone: a fresh child process (forked from a driver that has loaded
    only NumPy, OpenBLAS and Pillow, never a coarsenet module) imports just that module, with the
    package's __init__ bypassed, so a module that works only because something else was
    imported first fails here.
(b) The module graph, read from the source with ast (top-level AND in-function imports), has
    no cycles beyond the explicit allow-list below.
(c) Lower layers never import the layers above them.
"""
import ast
import functools
import os
import subprocess
import sys

import coarsenet

PACKAGE_DIRS = list(coarsenet.__path__)
SOURCE_DIR = os.path.dirname(os.path.abspath(coarsenet.__file__))

# Cycles that stay, each an explicit frozenset of the modules involved and the reason. Empty:
# MXNet namespaces whose base class is subclassed by modules they re-export (mx.mod, mx.model,
# mx.metric, mx.init, mx.optimizer, mx.profiler, mx.test_utils) keep the base in a lower module
# (module_core, model_base, metric_base, ...) that both the namespace and the extensions import.
# A listed cycle that no longer exists fails the test (remove it then).
ALLOWED_CYCLES: dict = {}


def _modules() -> dict:
    """dotted name -> (path, is_package) for every .py module of the package."""
    found = {}
    for folder, _, files in os.walk(SOURCE_DIR):
        for f in files:
            if not f.endswith(".py"):
                continue
            path = os.path.join(folder, f)
            rel = os.path.relpath(path, os.path.dirname(SOURCE_DIR))[:-3].replace(os.sep, ".")
            is_package = rel.endswith(".__init__")
            found[rel[: -len(".__init__")] if is_package else rel] = (path, is_package)
    return found


def _resolve(known: set, name: str) -> str:
    """The module an imported dotted name lives in (coarsenet.nn.Block -> coarsenet.nn)."""
    while name not in known and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


@functools.lru_cache(maxsize=1)
def _graph() -> dict:
    """module -> {imported coarsenet module: first line}. `from .pkg import name` counts as an
    import of pkg.name when that is a module, else of pkg. A submodule's implicit import of
    its parent packages is not an edge (every module would then depend on coarsenet/__init__)."""
    mods = _modules()
    known = set(mods) | {"coarsenet._core"}
    edges = {}
    for mod, (path, is_package) in mods.items():
        tree = ast.parse(open(path, encoding="utf-8").read(), path)
        here = mod.split(".") if is_package else mod.split(".")[:-1]
        out = {}
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.split(".")[0] == "coarsenet"]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = ".".join(here[: len(here) - node.level + 1]
                                    + ([node.module] if node.module else []))
                elif (node.module or "").split(".")[0] == "coarsenet":
                    base = node.module
                else:
                    continue
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                           for a in node.names]
            for t in targets:
                t = _resolve(known, t)
                if t != mod:
                    out.setdefault(t, node.lineno)
        edges[mod] = out
    return edges


def _cycles(edges: dict) -> list:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, stack, on_stack, result = {}, {}, [], set(), []
    counter = 0
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(edges.get(root, ())))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            advanced = False
            for w in children:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(edges.get(w, ()))))
                    advanced = True
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = set()
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.add(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    result.append(frozenset(comp))
    return result


def test_the_module_graph_has_no_cycles():
    edges = _graph()
    assert "coarsenet.ndarray" in edges and edges["coarsenet.ndarray"]  # the parser reads
    found = set(_cycles(edges))
    unexpected = found - set(ALLOWED_CYCLES)
    details = []
    for comp in unexpected:
        details.append(", ".join(f"{m} -> {t} (line {line})" for m in sorted(comp)
                                 for t, line in sorted(edges[m].items()) if t in comp))
    assert not unexpected, "import cycles:\n" + "\n".join(details)
    stale = set(ALLOWED_CYCLES) - found
    assert not stale, f"allowed cycles that no longer exist (remove them): {stale}"


def test_the_cycle_finder_finds_cycles():
    edges = {"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1, "d": 1}, "d": {}}
    assert _cycles(edges) == [frozenset("abc")]


# Modules of a lower layer and what they must never import (directly or through others).
_LAYERS = {
    "coarsenet.graph": ("coarsenet.symbol", "coarsenet.executor", "coarsenet.ndarray"),
    "coarsenet.passes.pipeline": ("coarsenet.symbol", "coarsenet.executor", "coarsenet.ndarray",
                                  "coarsenet.bind"),
    "coarsenet.executor": ("coarsenet.symbol", "coarsenet.nn", "coarsenet.module",
                           "coarsenet.autograd"),
    "coarsenet.autograd_state": ("coarsenet.ndarray", "coarsenet.autograd"),
    "coarsenet.nd_functions": ("coarsenet.ndarray",),
    "coarsenet.sym_functions": ("coarsenet.symbol",),
    "coarsenet.ndarray": ("coarsenet.autograd", "coarsenet.symbol", "coarsenet.executor"),
    "coarsenet.sdk": ("coarsenet.cpp_extension",),
}


def test_lower_layers_do_not_import_upper_ones():
    edges = _graph()
    for low, banned in _LAYERS.items():
        reached, todo = set(), [low]
        while todo:
            for t in edges.get(todo.pop(), ()):
                if t not in reached:
                    reached.add(t)
                    todo.append(t)
        assert not reached & set(banned), (low, sorted(reached & set(banned)))


_DRIVER = r"""
import importlib, os, sys, types
import numpy  # noqa: F401  third-party, shared by every child
import PIL.Image  # noqa: F401
import scipy_openblas32  # noqa: F401  coarsenet/__init__ loads OpenBLAS before _core; so here
path = sys.argv[1].split(os.pathsep)
failed, running = 0, 0
for name in sys.stdin.read().split():
    if running >= (os.cpu_count() or 1):  # a few children at a time
        failed += os.wait()[1] != 0
        running -= 1
    if os.fork() == 0:
        # The package without its __init__: only what `name` itself imports runs.
        pkg = types.ModuleType("coarsenet")
        pkg.__path__ = path
        sys.modules["coarsenet"] = pkg
        try:
            importlib.import_module(name)
        except BaseException as e:
            print(f"{name}: {type(e).__name__}: {e}", flush=True)
            os._exit(1)
        os._exit(0)
    running += 1
for _ in range(running):
    failed += os.wait()[1] != 0
sys.exit(1 if failed else 0)
"""


def test_every_module_imports_alone():
    # A member of an allowed cycle may need its namespace imported first (that is the cost of
    # the cycle); the package itself and `python -m coarsenet` are not modules to import alone.
    in_cycles = set().union(*ALLOWED_CYCLES)
    names = sorted(m for m in _modules()
                   if m not in ("coarsenet", "coarsenet.__main__") and m not in in_cycles)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_WAIT_POLICY="PASSIVE")
    run = subprocess.run([sys.executable, "-c", _DRIVER, os.pathsep.join(PACKAGE_DIRS)],
                         input="\n".join(names), capture_output=True, text=True, env=env,
                         timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr


def test_ndarray_defines_its_autograd_methods():
    """attach_grad / backward / detach are NDArray's own (coarsenet.autograd no longer adds
    them from outside); autograd only registers its backward walk in autograd_state."""
    from coarsenet import autograd_state
    from coarsenet.ndarray import NDArray

    for name in ("attach_grad", "backward", "detach"):
        method = vars(NDArray)[name]
        assert (method.__module__, method.__qualname__) == ("coarsenet.ndarray",
                                                            f"NDArray.{name}")
    assert autograd_state.Engine.backward is coarsenet.autograd.backward
