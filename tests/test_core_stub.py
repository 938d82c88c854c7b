"""coarsenet/_core.pyi names exactly the compiled module's API, and the constants Python uses
are the ones _core exports (one source of truth for c_api.h's numbers)."""
import ast
import os

import numpy as np

import coarsenet as cn
from coarsenet import _core

STUB = os.path.join(os.path.dirname(cn.__file__), "_core.pyi")


def _stub_names():
    tree = ast.parse(open(STUB, encoding="utf-8").read())
    top, members = set(), {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            top.add(node.name)
        elif isinstance(node, ast.AnnAssign) and not node.target.id.startswith("_"):
            top.add(node.target.id)
        if isinstance(node, ast.ClassDef):
            members[node.name] = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
    return top, members


def test_stub_matches_module():
    top, members = _stub_names()
    compiled = {n for n in dir(_core) if not n.startswith("__")}
    assert top == compiled
    for cls, names in members.items():
        if cls == "CoarsenetError":
            continue
        public = {n for n in vars(getattr(_core, cls)) if not n.startswith("_")} | {"__init__"}
        assert names == public, cls


def test_python_constants_come_from_core():
    assert (cn.base.REQ_NULL, cn.base.REQ_WRITE, cn.base.REQ_INPLACE, cn.base.REQ_ADD) == (
        _core.REQ_NULL, _core.REQ_WRITE, _core.REQ_INPLACE, _core.REQ_ADD)
    assert cn.ops.NO_GRAD == _core.FLAG_NO_GRAD and cn.ops.LOSS == _core.FLAG_LOSS
    assert cn.ops.info("Dropout").flags & _core.FLAG_NONDETERMINISTIC
    assert cn.ops.info("Convolution").flags & _core.FLAG_EXPENSIVE
    assert {np.dtype(k): v for k, v in _core.DTYPE_CODES.items()} == cn.base.DTYPE_TO_CODE
    assert cn.base.dtype_code(np.float64) == _core.DTYPE_CODES["float64"] == 1


def test_version_is_defined_once_in_pyproject():
    # The checkout's coarsenet reads pyproject.toml; an installed one its build's version.txt,
    # which CMake wrote from the same pyproject (SKBUILD_PROJECT_VERSION). `pytest tests` imports
    # the installed package (pytest puts tests/, not the root, on sys.path), so the pyproject to
    # compare with is the one next to this test, not next to cn.__file__.
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    text = open(os.path.join(root, "pyproject.toml"), encoding="utf-8").read()
    assert f'\nversion = "{cn.__version__}"\n' in text
    assert cn.__version__.count(".") == 2
