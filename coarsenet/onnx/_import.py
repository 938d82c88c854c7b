"""import_model / import_to_gluon: an ONNX model as a coarsenet symbol and its params.

Values are either symbolic (a Symbol) or constant (a numpy array: initializers, Constant nodes,
and anything computed only from constants — Shape/Gather/Unsqueeze/Concat chains that build a
static reshape target fold here, with Shape answered by coarsenet's shape inference). An
initializer becomes a variable (an arg or aux param) only where an op uses it as a tensor input;
where an op needs it as an attribute (Reshape's shape, Pad's pads, a scalar operand) its value is
read. Nodes with no mapping are collected and reported in one error.
"""
from __future__ import annotations

import os

import numpy as np

from ..base import CoarsenetError
from . import _import_ops, _import_tensor
from ._common import _Unmapped, onnx_module  # noqa: F401
from ._custom import custom_import


class Importer:
    """What the node translators (_import_ops.py) see."""

    def __init__(self, onnx, model):
        from .. import symbol

        self.onnx, self.sym = onnx, symbol
        self.model = model
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
                          13)
        self.consts: dict = {}     # value name -> numpy array
        self.values: dict = {}     # value name -> Symbol
        self.params: dict = {}     # variable name -> numpy array (initializers used as tensors)
        self.cast_of: dict = {}    # value name -> the value a Cast node read (Embedding indices)
        # Constants folded from a Shape node: they hold sizes of this import's input shapes
        # (a dynamic dim taken as 1), so a Reshape reading one copies matching dims instead.
        self.from_shape: set = set()
        self.input_shapes: dict = {}
        self._names: set = set()

    # ---------------------------------------------------------------- values
    def is_const(self, name: str) -> bool:
        return name in self.consts

    def const(self, name: str) -> np.ndarray:
        if name not in self.consts:
            raise _Unmapped(f"input '{name}' must be a constant (an initializer or folded value)")
        return self.consts[name]

    def tensor(self, name: str):
        """The Symbol for value `name`; a constant used as a tensor becomes a parameter."""
        if name in self.values:
            return self.values[name]
        if name in self.consts:
            self.params[name] = np.ascontiguousarray(self.consts[name])
            v = self.sym.Variable(name, shape=self.consts[name].shape)
            self.values[name] = v
            return v
        raise _Unmapped(f"input '{name}' is produced by a node that was not imported")

    def shape(self, name: str) -> tuple:
        """Static shape of a value (constants directly, symbols by shape inference)."""
        if name in self.consts:
            return self.consts[name].shape
        if name not in self.values:
            raise _Unmapped(f"input '{name}' is produced by a node that was not imported")
        s = self.values[name]
        known = {k: v for k, v in self.input_shapes.items() if k in s.list_arguments()}
        known.update({k: v.shape for k, v in self.params.items() if k in s.list_inputs()})
        _, out, _ = s.infer_shape_partial(**known)
        if out[0] is None:
            raise _Unmapped(f"the shape of '{name}' is not static")
        return tuple(out[0])

    def node_name(self, node) -> str:
        base = node.name or (node.output[0] if node.output else node.op_type.lower())
        name, i = base, 1
        while name in self._names:
            name, i = f"{base}_{i}", i + 1
        self._names.add(name)
        return name

    def call(self, op: str, inputs: list, name: str, **params):
        from ..symbol import _invoke

        return _invoke(op, inputs, params, name=name)


def _attrs(onnx, node) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _load_model(onnx, model):
    if isinstance(model, (str, os.PathLike)):
        try:
            return onnx.load(os.fspath(model))
        except Exception as err:  # noqa: BLE001 - protobuf raises several types
            raise CoarsenetError(f"cannot read ONNX file '{model}': {err}") from None
    return model


def _build(model_file):
    onnx = onnx_module()
    model = _load_model(onnx, model_file)
    im = Importer(onnx, model)
    graph = model.graph
    for init in graph.initializer:
        im.consts[init.name] = np.array(onnx.numpy_helper.to_array(init))  # owned, writable
    inputs = []
    for vi in graph.input:
        if vi.name in im.consts:
            continue
        dims = vi.type.tensor_type.shape.dim
        im.input_shapes[vi.name] = tuple(d.dim_value if d.HasField("dim_value") else 1
                                         for d in dims)
        im.values[vi.name] = im.sym.Variable(vi.name)
        inputs.append(vi.name)
    problems = []
    for node in graph.node:
        if node.domain not in ("", "ai.onnx"):
            op = custom_import(node.domain, node.op_type)
            if op is None:
                problems.append(f"{node.domain}::{node.op_type} (node '{node.name}'): custom "
                                "domain op neither declared (SDK .onnx()) nor registered with "
                                "cn.onnx.register_custom_op")
                continue
            try:
                attrs = {k: v.decode() if isinstance(v, bytes) else v
                         for k, v in _attrs(onnx, node).items()}
                ins = [im.tensor(i) for i in node.input if i]
                result = im.call(op, ins, im.node_name(node), **attrs)
            except _Unmapped as why:
                problems.append(f"{node.op_type} (node '{node.name}'): {why}")
                continue
            for k, o in enumerate(node.output):
                im.values[o] = result[k]
            continue
        fn = _import_ops.TRANSLATORS.get(node.op_type)
        # Constant, and Shape (answered by shape inference), always fold.
        always_fold = node.op_type in ("Constant", "Shape")
        if fn is None and not always_fold:
            problems.append(f"{node.op_type} (node '{node.name}'): no coarsenet mapping")
            continue
        try:
            if always_fold or (node.op_type in _import_tensor.FOLDABLE and
                               all(i == "" or i in im.consts for i in node.input)):
                outs = _import_tensor.fold(im, node, _attrs(onnx, node))
                for o, v in zip(node.output, outs):
                    im.consts[o] = v
                if node.op_type == "Shape" or any(i in im.from_shape for i in node.input):
                    im.from_shape.update(node.output)
                continue
            result = fn(im, node, _attrs(onnx, node))
        except _Unmapped as why:
            problems.append(f"{node.op_type} (node '{node.name}'): {why}")
            continue
        results = result if isinstance(result, list) else [result[k] for k in range(len(result))]
        for o, r in zip(node.output, results):
            im.values[o] = r
    if problems:
        raise CoarsenetError(f"import_model: {len(problems)} ONNX node(s) cannot be imported:\n  "
                             + "\n  ".join(problems))
    outs = [im.tensor(o.name) for o in graph.output]
    sym = outs[0] if len(outs) == 1 else im.sym.Group(outs)
    return im, sym, inputs


def import_model(model_file):
    """(sym, arg_params, aux_params) of an ONNX model (a path or a ModelProto), as MXNet's
    mx.contrib.onnx.import_model; params are NDArrays keyed by the initializers' names."""
    from .. import ndarray as nd

    im, sym, _ = _build(model_file)
    aux_names = set(sym.list_auxiliary_states())
    used = set(sym.list_inputs())
    arg = {k: nd.array(v) for k, v in im.params.items() if k in used and k not in aux_names}
    aux = {k: nd.array(v) for k, v in im.params.items() if k in aux_names}
    return sym, arg, aux


def import_to_gluon(model_file, ctx=None):
    """A trainable SymbolBlock running the ONNX model, its params loaded."""
    from ..nn import SymbolBlock

    im, sym, inputs = _build(model_file)
    block = SymbolBlock(sym, [im.sym.Variable(n) for n in inputs])
    for name, p in block.collect_params().items():
        value = im.params.get(name)
        if value is None:
            raise CoarsenetError(f"import_to_gluon: no initializer for parameter '{name}'")
        p.shape = value.shape
        p.initialize(ctx=ctx)
        p.set_data(value)
    return block


def get_model_metadata(model_file) -> dict:
    """{'input_tensor_data': [(name, shape)], 'output_tensor_data': [(name, shape)]}."""
    onnx = onnx_module()
    model = _load_model(onnx, model_file)
    inits = {i.name for i in model.graph.initializer}

    def rows(values):
        return [(v.name, tuple(d.dim_value if d.HasField("dim_value") else d.dim_param
                               for d in v.type.tensor_type.shape.dim))
                for v in values if v.name not in inits]
    return {"input_tensor_data": rows(model.graph.input),
            "output_tensor_data": rows(model.graph.output)}
