"""export_model: a coarsenet/MXNet symbol and its params as an ONNX model (MXNet 1.9 mx2onnx).

The graph is walked in topological order; each op node is handed to the translator registered
for its op (see _export_ops.py), which appends ONNX nodes and initializers to an _Exporter.
Shapes come from coarsenet's own shape inference on the given input shapes, so MXNet's special
reshape codes and `full` pooling are resolved statically. Every op that has no translator, or a
translator that refuses its params, is collected and reported in one error.
"""
from __future__ import annotations

import os
import warnings

import numpy as np

from .. import ops as _ops
from ..base import CoarsenetError
from ..graph import OP, VARIABLE, Entry
from ..passes.infer_shape import infer_shape
from ..passes.infer_type import infer_type
from . import _export_math, _export_ops, _export_tensor  # noqa: F401  (they register)
from ._common import _TRANSLATORS, Unsupported, onnx_module, opset_range  # noqa: F401
from ._common import register_export  # noqa: F401  (cn.onnx.register_export)

class _Exporter:
    """What translators see: shapes/dtypes of entries, node and initializer builders."""

    def __init__(self, onnx, opset: int, shapes: dict, dtypes: dict, dynamic: bool):
        self.onnx, self.helper = onnx, onnx.helper
        self.opset = opset
        self.shapes, self.dtypes = shapes, dtypes
        self.dynamic = dynamic
        self.nodes: list = []
        self.initializers: dict = {}
        self.domains: dict = {}
        self._used: set = set()        # value names
        self._node_names: set = set()  # node names: a namespace of their own

    def shape(self, entry: Entry) -> tuple:
        return tuple(self.shapes[entry])

    def dtype(self, entry: Entry) -> np.dtype:
        return np.dtype(self.dtypes.get(entry, np.float32))

    def fresh(self, hint: str, used: set | None = None) -> str:
        used = self._used if used is None else used
        name, i = hint, 1
        while name in used:
            name, i = f"{hint}{i}", i + 1
        used.add(name)
        return name

    def const(self, hint: str, value, dtype=None) -> str:
        """An initializer holding `value`; returns its name."""
        name = self.fresh(hint)
        self.initializers[name] = np.asarray(value, dtype=dtype)
        return name

    def ints(self, hint: str, values) -> str:
        return self.const(hint, np.asarray(list(values), dtype=np.int64))

    def add(self, op_type: str, inputs: list, outputs, name: str, domain: str = "",
            **attrs) -> list:
        """Appends one ONNX node; `outputs` may be an int (that many fresh names)."""
        if isinstance(outputs, int):
            outputs = [self.fresh(f"{name}_out{k}") for k in range(outputs)]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        if domain:
            self.domains.setdefault(domain, 1)
        self.nodes.append(self.helper.make_node(op_type, list(inputs), list(outputs),
                                                name=self.fresh(name, self._node_names), domain=domain, **attrs))
        return list(outputs)


def custom_domain_translator(domain: str, onnx_op: str, version: int = 1):
    """Writes a node as `onnx_op` of a custom domain, its params as string attributes."""
    def translate(ex, node, ins, outs):
        ex.domains[domain] = version
        ex.add(onnx_op, ins, outs, node.name, domain=domain,
               **{k: str(v) for k, v in node.params.items()})

    return translate


def _translator(op_name: str):
    """The registered translator, else the mapping a user op declared through the SDK."""
    fn = _TRANSLATORS.get(op_name)
    if fn is None:
        info = _ops.info(op_name)
        if info.onnx_domain:
            fn = custom_domain_translator(info.onnx_domain, info.onnx_op_type)
    return fn


def _load(sym, params):
    from .. import mxnet_format
    from ..symbol import Symbol, load

    if isinstance(sym, (str, os.PathLike)):
        sym = load(sym)
    if not isinstance(sym, Symbol):
        raise CoarsenetError(f"export_model: sym must be a Symbol or a symbol file path, found "
                             f"{type(sym).__name__}")
    if isinstance(params, (str, os.PathLike)):
        loaded = mxnet_format.load_arrays(params)
        if not isinstance(loaded, dict):
            raise CoarsenetError(f"export_model: params file '{params}' holds unnamed arrays")
        params = loaded
    elif isinstance(params, (list, tuple)) and len(params) == 2:
        params = {**params[0], **params[1]}
    if not isinstance(params, dict):
        raise CoarsenetError("export_model: params must be a dict, [arg_params, aux_params] or a "
                             f".params file path, found {type(params).__name__}")
    clean = {}
    for k, v in params.items():
        key = k.split(":", 1)[1] if k.startswith(("arg:", "aux:")) else k
        clean[key] = v.asnumpy() if hasattr(v, "asnumpy") else np.asarray(v)
    return sym, clean


def _label_names(graph, params: dict) -> set:
    """Variables feeding only the label slot of loss ops (SoftmaxOutput's softmax_label): they
    are not graph inputs of the exported (inference) model, as in MXNet's export."""
    labels, other = set(), set()
    for node in graph.nodes:
        if node.kind != OP:
            continue
        loss = bool(_ops.info(node.op.name).flags & _ops.LOSS)
        data = node.data_inputs()
        for i, e in enumerate(node.inputs):
            if e.node.is_variable and e.node.name not in params:
                (labels if loss and i == len(data) - 1 and i > 0 else other).add(e.node.name)
    return labels - other


def build_model(sym, params, in_shapes, in_types=np.float32, opset_version=None, dynamic=False,
                dynamic_input_shapes=None):
    """The ONNX ModelProto for export_model (not written, not checked)."""
    onnx = onnx_module()

    low, high = opset_range()
    opset = high if opset_version is None else int(opset_version)
    if not low <= opset <= high:
        raise CoarsenetError(f"export_model: opset_version {opset} is outside the supported "
                             f"range {low}..{high}")
    sym, params = _load(sym, params)
    graph = sym._graph()
    labels = _label_names(graph, params)
    input_names = [n.name for n in graph.variables()
                   if n.name not in params and n.name not in labels]
    in_shapes = [tuple(s) for s in (in_shapes or [])]
    if len(in_shapes) != len(input_names):
        raise CoarsenetError(f"export_model: {len(in_shapes)} input shapes for "
                             f"{len(input_names)} inputs ({', '.join(input_names)})")
    if not isinstance(in_types, (list, tuple)):
        in_types = [in_types] * len(input_names)
    if len(in_types) != len(input_names):
        raise CoarsenetError(f"export_model: {len(in_types)} input types for "
                             f"{len(input_names)} inputs ({', '.join(input_names)})")
    known = dict(zip(input_names, in_shapes))
    known.update({k: v.shape for k, v in params.items()})
    for name in labels:
        known.setdefault(name, None)
    known = {k: v for k, v in known.items() if v is not None}
    shapes = infer_shape(graph, known)
    type_known = {n: np.dtype(t) for n, t in zip(input_names, in_types)}
    type_known.update({k: v.dtype for k, v in params.items()})
    dtypes = {e: t for e, t in infer_type(graph, type_known, np.float32).items() if t is not None}
    missing = [e for e in sym._heads if e not in shapes]
    if missing:
        raise CoarsenetError("export_model: cannot infer the output shapes from in_shapes "
                             f"{in_shapes} for inputs {input_names}")
    ex = _Exporter(onnx, opset, shapes, dtypes, dynamic)
    names: dict = {}
    graph_inputs, problems = [], []
    if dynamic:
        dyn = dynamic_input_shapes or [tuple(None for _ in s) for s in in_shapes]
    for node in graph.nodes:
        if node.kind == VARIABLE:
            names[Entry(node, 0)] = ex.fresh(node.name)
            if node.name in params:
                ex.initializers[node.name] = params[node.name]
            elif node.name in input_names:
                k = input_names.index(node.name)
                shape = list(dyn[k]) if dynamic else list(in_shapes[k])
                elem = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(in_types[k]))
                graph_inputs.append(onnx.helper.make_tensor_value_info(node.name, elem, shape))
            continue
        translator = _translator(node.op.name)
        n_out = node.op.num_visible_outputs
        outs = [ex.fresh(node.name if n_out == 1 else f"{node.name}_output{k}")
                for k in range(n_out)]
        for k, o in enumerate(outs):
            names[Entry(node, k)] = o
        if translator is None:
            problems.append(f"{node.op.name} (node '{node.name}'): no ONNX mapping")
            continue
        ins = [names[e] for e in node.inputs]
        try:
            translator(ex, node, ins, outs)
        except Unsupported as why:
            problems.append(f"{node.op.name} (node '{node.name}'): {why}")
    if problems:
        raise CoarsenetError(f"export_model: {len(problems)} node(s) cannot be exported to ONNX "
                             f"opset {opset}:\n  " + "\n  ".join(problems))
    outputs = []
    for e in sym._heads:
        elem = onnx.helper.np_dtype_to_tensor_dtype(ex.dtype(e))
        shape = [None] * len(shapes[e]) if dynamic else list(shapes[e])
        outputs.append(onnx.helper.make_tensor_value_info(names[e], elem, shape))
    inits = [onnx.numpy_helper.from_array(np.array(v, order="C"), k)
             for k, v in ex.initializers.items()]
    onnx_graph = onnx.helper.make_graph(ex.nodes, "coarsenet", graph_inputs, outputs, inits)
    opsets = [onnx.helper.make_opsetid("", opset)]
    opsets += [onnx.helper.make_opsetid(d, v) for d, v in ex.domains.items()]
    model = onnx.helper.make_model(onnx_graph, opset_imports=opsets, producer_name="coarsenet")
    model.ir_version = min(model.ir_version, _ir_version_for(onnx, opset))
    return model


def _ir_version_for(onnx, opset: int) -> int:
    """The IR version that came with `opset` (older runtimes refuse newer IR versions)."""
    for row in onnx.helper.VERSION_TABLE:
        # (release, ir_version, default opset, ...)
        if row[2] >= opset:
            return row[1]
    return onnx.IR_VERSION


def export_model(sym, params, in_shapes=None, in_types=np.float32, onnx_file_path="model.onnx",
                 verbose=False, dynamic=False, dynamic_input_shapes=None,
                 run_shape_inference=False, input_type=None, input_shape=None,
                 opset_version=None) -> str:
    """Exports `sym` with `params` to `onnx_file_path` (MXNet 1.9's mx.onnx.export_model).

    sym: a Symbol or a `-symbol.json` path; params: a dict (arg and aux together), a list
    [arg_params, aux_params], or a `.params` path. in_shapes / in_types: one per input (the
    arguments that are neither params nor loss labels), in list_arguments order. dynamic: the
    inputs get symbolic dims (dynamic_input_shapes, None for a dynamic dim). opset_version:
    13..the newest the installed onnx knows (default). Returns onnx_file_path.
    """
    if input_type is not None:
        in_types = input_type
    if input_shape is not None:
        in_shapes = input_shape
    if dynamic_input_shapes is not None and not dynamic:
        raise CoarsenetError("export_model: dynamic_input_shapes given but dynamic=False")
    onnx = onnx_module()
    model = build_model(sym, params, in_shapes, in_types, opset_version, dynamic,
                        dynamic_input_shapes)
    if run_shape_inference:
        try:
            model = onnx.shape_inference.infer_shapes(model)
        except Exception as err:  # noqa: BLE001 - as MXNet: keep the model if inference fails
            warnings.warn(f"export_model: onnx shape inference failed ({err}); the model is "
                          "written without inferred shapes", stacklevel=2)
    if verbose:
        print(onnx.helper.printable_graph(model.graph))
    onnx.save(model, os.fspath(onnx_file_path))
    return onnx_file_path
