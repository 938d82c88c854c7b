"""Shared by export and import: the onnx import with a clear error, opsets, param parsing."""
from __future__ import annotations

import ast

from .. import ops as _ops
from ..base import CoarsenetError

MIN_OPSET = 13


def onnx_module():
    """The `onnx` package, or a CoarsenetError saying how to get it."""
    try:
        import onnx
    except ImportError:
        raise CoarsenetError("coarsenet.onnx needs the 'onnx' package: pip install "
                             "'coarsenet[onnx]' (or pip install onnx onnxruntime)") from None
    return onnx


def opset_range() -> tuple[int, int]:
    """(oldest, newest) default-domain opset the exporter writes: 13 up to what onnx knows."""
    return MIN_OPSET, onnx_module().defs.onnx_opset_version()


def param(node, name: str):
    """Param `name` of an op node as a Python value (MXNet strings parsed, defaults filled)."""
    text = node.params.get(name)
    if text is None:
        for p in _ops.info(node.op.name).params:
            if p.name == name:
                text = p.default
                break
    return parse_value(text)


def parse_value(text):
    if text is None:
        return None
    if not isinstance(text, str):
        return text
    s = text.strip()
    if s in ("None", ""):
        return None
    if s in ("True", "true"):
        return True
    if s in ("False", "false"):
        return False
    try:
        return ast.literal_eval(s)
    except (ValueError, SyntaxError):
        return s


def as_tuple(value, n: int | None = None, fill=None) -> tuple:
    if value is None:
        return tuple([fill] * n) if n is not None else ()
    if isinstance(value, (int, float)):
        return tuple([value] * (n or 1))
    return tuple(value)


# ---------------------------------------------------------------- export translators
# (here, below _export.py and the _export_* translator modules that register into it)

_TRANSLATORS: dict = {}


class Unsupported(Exception):
    """Raised by a translator for params it cannot express in ONNX; collected, not fatal."""


def register_export(op_name: str, translator=None):
    """Registers translator(exporter, node, inputs, outputs) for `op_name` (decorator form too).

    inputs / outputs are ONNX value names; the translator calls exporter.add(...) and
    exporter.const(...). This is how a user op (built with the SDK) maps to a custom-domain node:
        register_export("MyOp", lambda ex, node, i, o: ex.add("MyOp", i, o, node.name,
                                                            domain="my.domain", scale=2.0))
    """
    def wrap(fn):
        _TRANSLATORS[op_name] = fn
        return fn
    return wrap(translator) if translator is not None else wrap


class _Unmapped(Exception):
    """A node the importer cannot express; collected, not fatal."""
