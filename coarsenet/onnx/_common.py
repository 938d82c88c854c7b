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
