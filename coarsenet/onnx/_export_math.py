"""Translators for elementwise, broadcast, scalar and unary math and for reductions."""
from __future__ import annotations

from ._common import Unsupported, param, register_export

_BINARY = {
    "Add": ("_plus", "_Plus", "_add", "elemwise_add", "broadcast_add", "broadcast_plus"),
    "Sub": ("_minus", "_Minus", "_sub", "elemwise_sub", "broadcast_sub", "broadcast_minus"),
    "Mul": ("_mul", "_Mul", "elemwise_mul", "broadcast_mul"),
    "Div": ("_div", "_Div", "elemwise_div", "broadcast_div"),
    "Pow": ("_power", "_Power", "broadcast_power"),
    "Max": ("_maximum", "_Maximum", "broadcast_maximum"),
    "Min": ("_minimum", "_Minimum", "broadcast_minimum"),
}
# scalar op -> (ONNX op, scalar on the left)
_SCALAR = {}
for _onnx, _names in {
        "Add": ("_plus_scalar", "_PlusScalar"), "Sub": ("_minus_scalar", "_MinusScalar"),
        "Mul": ("_mul_scalar", "_MulScalar"), "Div": ("_div_scalar", "_DivScalar"),
        "Pow": ("_power_scalar", "_PowerScalar"), "Max": ("_maximum_scalar", "_MaximumScalar"),
        "Min": ("_minimum_scalar", "_MinimumScalar")}.items():
    for _n in _names:
        _SCALAR[_n] = (_onnx, False)
for _onnx, _names in {"Sub": ("_rminus_scalar", "_RMinusScalar"),
                      "Div": ("_rdiv_scalar", "_RDivScalar"),
                      "Pow": ("_rpower_scalar", "_RPowerScalar")}.items():
    for _n in _names:
        _SCALAR[_n] = (_onnx, True)
_UNARY = {"abs": "Abs", "exp": "Exp", "log": "Log", "sqrt": "Sqrt", "negative": "Neg",
          "reciprocal": "Reciprocal", "relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh",
          "sin": "Sin", "cos": "Cos", "sign": "Sign", "identity": "Identity", "_copy": "Identity",
          "BlockGrad": "Identity", "stop_gradient": "Identity"}
_REDUCE = {"sum": "ReduceSum", "sum_axis": "ReduceSum", "mean": "ReduceMean",
           "max": "ReduceMax", "max_axis": "ReduceMax", "min": "ReduceMin",
           "min_axis": "ReduceMin", "prod": "ReduceProd"}


def _binary(onnx_op):
    def translate(ex, node, ins, outs):
        ex.add(onnx_op, ins[:2], outs, node.name)
    return translate


def _scalar(onnx_op, left):
    def translate(ex, node, ins, outs):
        c = ex.const(f"{node.name}_scalar", float(param(node, "scalar")),
                     ex.dtype(node.inputs[0]))
        ex.add(onnx_op, [c, ins[0]] if left else [ins[0], c], outs, node.name)
    return translate


def _unary(onnx_op):
    def translate(ex, node, ins, outs):
        ex.add(onnx_op, ins[:1], outs, node.name)
    return translate


for _onnx, _names in _BINARY.items():
    for _n in _names:
        register_export(_n, _binary(_onnx))
for _n, (_onnx, _left) in _SCALAR.items():
    register_export(_n, _scalar(_onnx, _left))
for _n, _onnx in _UNARY.items():
    register_export(_n, _unary(_onnx))


@register_export("ElementWiseSum")
@register_export("add_n")
def _sum(ex, node, ins, outs):
    ex.add("Sum", ins, outs, node.name)


@register_export("square")
def _square(ex, node, ins, outs):
    ex.add("Mul", [ins[0], ins[0]], outs, node.name)


@register_export("rsqrt")
def _rsqrt(ex, node, ins, outs):
    root = ex.add("Sqrt", ins[:1], 1, f"{node.name}_sqrt")[0]
    ex.add("Reciprocal", [root], outs, node.name)


@register_export("where")
def _where(ex, node, ins, outs):
    cond = ex.add("Cast", ins[:1], 1, f"{node.name}_cond", to=9)[0]  # BOOL
    ex.add("Where", [cond, ins[1], ins[2]], outs, node.name)


def _reduce(onnx_op):
    def translate(ex, node, ins, outs):
        nd = len(ex.shape(node.inputs[0]))
        axis = param(node, "axis")
        axes = None if axis is None else ([axis] if isinstance(axis, int) else list(axis))
        if param(node, "exclude"):
            if axes is None:
                raise Unsupported("exclude without axis")
            keep = {a % nd for a in axes}
            axes = [a for a in range(nd) if a not in keep]
        keepdims = 1 if param(node, "keepdims") else 0
        # ReduceSum takes axes as an input from opset 13, the others from opset 18.
        as_input = onnx_op == "ReduceSum" or ex.opset >= 18
        if axes is None:
            ex.add(onnx_op, ins[:1], outs, node.name, keepdims=keepdims)
        elif as_input:
            ex.add(onnx_op, [ins[0], ex.ints(f"{node.name}_axes", axes)], outs, node.name,
                   keepdims=keepdims)
        else:
            ex.add(onnx_op, ins[:1], outs, node.name, axes=axes, keepdims=keepdims)
    return translate


for _n, _onnx in _REDUCE.items():
    register_export(_n, _reduce(_onnx))
