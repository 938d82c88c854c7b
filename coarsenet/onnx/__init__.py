"""ONNX export and import, as MXNet 1.9's `mx.onnx` (mx2onnx) plus the reverse direction.

    cn.onnx.export_model(sym, params, in_shapes=[(1, 3, 224, 224)], onnx_file_path="m.onnx")
    sym, arg_params, aux_params = cn.onnx.import_model("m.onnx")
    net = cn.onnx.import_to_gluon("m.onnx")          # a SymbolBlock, trainable

The `onnx` package is needed only here (install the `onnx` extra); `import coarsenet` does not
import this module until `cn.onnx` is first used.
"""
from __future__ import annotations

from ._common import opset_range
from ._custom import register_custom_op
from ._export import export_model, register_export
from ._import import get_model_metadata, import_model, import_to_gluon

__all__ = [
           "export_model",
           "get_model_metadata",
           "import_model",
           "import_to_gluon",
           "opset_range",
           "register_custom_op",
           "register_export",
]
