"""User ops (built with the SDK, loaded with cn.load_op_library / cpp_extension.load) in ONNX.

register_custom_op("ScaledTanh", domain="com.example") makes export write each ScaledTanh node as
a node of that domain whose attributes are the op's params (MXNet strings, as the JSON stores
them), and makes import turn such nodes back into the op. A runtime that executes the file then
needs a kernel for that domain; onnx's checker accepts unknown domains.
"""
from __future__ import annotations

from .. import ops as _ops
from ..base import CoarsenetError
from ._export import custom_domain_translator, register_export

# (domain, ONNX op type) -> coarsenet op name, for import
CUSTOM_IMPORTS: dict = {}


def register_custom_op(op_name: str, domain: str, onnx_op: str | None = None,
                       version: int = 1) -> None:
    """Maps coarsenet op `op_name` to/from node `onnx_op` (default: the same name) of `domain`."""
    if op_name not in _ops.list():
        raise CoarsenetError(f"register_custom_op: no op named '{op_name}' is registered "
                             "(load its library first)")
    if not domain or domain in ("ai.onnx", "ai.onnx.ml"):
        raise CoarsenetError(f"register_custom_op: '{op_name}' needs a custom domain, found "
                             f"'{domain}'")
    onnx_op = onnx_op or op_name
    register_export(op_name, custom_domain_translator(domain, onnx_op, version))
    CUSTOM_IMPORTS[(domain, onnx_op)] = op_name


def custom_import(domain: str, onnx_op: str) -> str | None:
    """The coarsenet op for a custom-domain node: registered here, or declared by the op
    itself through the SDK (`.onnx(domain, op_type)` in its C++ registration)."""
    name = CUSTOM_IMPORTS.get((domain, onnx_op))
    if name is None:
        name = next((n for n in _ops.list()
                     if (_ops.info(n).onnx_domain, _ops.info(n).onnx_op_type) == (domain, onnx_op)),
                    None)
    return name
