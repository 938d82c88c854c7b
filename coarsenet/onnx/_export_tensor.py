"""Translators for activations, softmax, shape ops, elementwise/scalar math and reductions."""
from __future__ import annotations

import numpy as np

from ._common import Unsupported, param, register_export


def _reg(*names):
    def wrap(fn):
        for n in names:
            register_export(n, fn)
        return fn
    return wrap


# ------------------------------------------------------------------ activations
_ACT = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "softrelu": "Softplus",
        "softsign": "Softsign"}


@_reg("Activation")
def _activation(ex, node, ins, outs):
    act = param(node, "act_type")
    if act not in _ACT:
        raise Unsupported(f"act_type {act}")
    ex.add(_ACT[act], ins, outs, node.name)


@_reg("LeakyReLU")
def _leaky(ex, node, ins, outs):
    act, slope = param(node, "act_type"), float(param(node, "slope"))
    if act == "leaky":
        ex.add("LeakyRelu", ins[:1], outs, node.name, alpha=slope)
    elif act == "elu":
        ex.add("Elu", ins[:1], outs, node.name, alpha=slope)
    elif act == "selu":
        ex.add("Selu", ins[:1], outs, node.name)
    elif act == "prelu":
        # gamma has shape (C,): broadcast over axis 1 of NC... data.
        nd = len(ex.shape(node.inputs[0]))
        slope_in = ins[1]
        if nd > 2:
            axes = ex.ints(f"{node.name}_axes", range(1, nd - 1))
            slope_in = ex.add("Unsqueeze", [ins[1], axes], 1, f"{node.name}_slope")[0]
        ex.add("PRelu", [ins[0], slope_in], outs, node.name)
    elif act == "gelu":
        if ex.opset < 20:
            raise Unsupported("gelu needs opset 20")
        ex.add("Gelu", ins[:1], outs, node.name)
    else:
        raise Unsupported(f"act_type {act}")


@_reg("SoftmaxOutput", "Softmax")
def _softmax_output(ex, node, ins, outs):
    nd = len(ex.shape(node.inputs[0]))
    if param(node, "multi_output"):
        axis = 1
    elif param(node, "preserve_shape") or nd == 2:
        axis = -1
    else:
        raise Unsupported(f"{nd}-d input without multi_output/preserve_shape (MXNet flattens)")
    ex.add("Softmax", ins[:1], outs, node.name, axis=axis)


@_reg("SoftmaxActivation")
def _softmax_activation(ex, node, ins, outs):
    nd = len(ex.shape(node.inputs[0]))
    if param(node, "mode") == "instance" and nd != 2:
        raise Unsupported("instance mode on non-2-d input")
    ex.add("Softmax", ins[:1], outs, node.name, axis=1)


@_reg("softmax", "log_softmax")
def _softmax(ex, node, ins, outs):
    if param(node, "use_length"):
        raise Unsupported("use_length")
    data = ins[0]
    t = param(node, "temperature")
    if t is not None and float(t) != 1.0:
        c = ex.const(f"{node.name}_temperature", float(t), ex.dtype(node.inputs[0]))
        data = ex.add("Div", [data, c], 1, f"{node.name}_scaled")[0]
    op = "Softmax" if node.op.name == "softmax" else "LogSoftmax"
    ex.add(op, [data], outs, node.name, axis=int(param(node, "axis")))


# ------------------------------------------------------------------ shapes
@_reg("Flatten", "flatten")
def _flatten(ex, node, ins, outs):
    ex.add("Flatten", ins, outs, node.name, axis=1)


@_reg("Reshape", "reshape")
def _reshape(ex, node, ins, outs):
    # MXNet's codes (0, -1, -2, -3, -4, reverse) are resolved by shape inference.
    from ..graph import Entry

    target = list(ex.shape(Entry(node, 0)))
    src = ex.shape(node.inputs[0])
    if ex.dynamic and src and target and src[0] == target[0]:
        target[0] = 0  # keep the (dynamic) batch dim
    ex.add("Reshape", [ins[0], ex.ints(f"{node.name}_shape", target)], outs, node.name)


@_reg("Concat", "concat")
def _concat(ex, node, ins, outs):
    ex.add("Concat", ins, outs, node.name, axis=int(param(node, "dim")))


@_reg("SliceChannel", "split")
def _split(ex, node, ins, outs):
    shape = ex.shape(node.inputs[0])
    axis = int(param(node, "axis")) % len(shape)
    n = int(param(node, "num_outputs"))
    sizes = ex.ints(f"{node.name}_split", [shape[axis] // n] * n)
    if not param(node, "squeeze_axis"):
        ex.add("Split", [ins[0], sizes], outs, node.name, axis=axis)
        return
    parts = ex.add("Split", [ins[0], sizes], n, f"{node.name}_parts", axis=axis)
    axes = ex.ints(f"{node.name}_axes", [axis])
    for k, (p, o) in enumerate(zip(parts, outs)):
        ex.add("Squeeze", [p, axes], [o], f"{node.name}_squeeze{k}")


@_reg("transpose")
def _transpose(ex, node, ins, outs):
    axes = param(node, "axes")
    nd = len(ex.shape(node.inputs[0]))
    perm = list(axes) if axes else list(reversed(range(nd)))
    ex.add("Transpose", ins, outs, node.name, perm=perm)


@_reg("SwapAxis", "swapaxes")
def _swapaxes(ex, node, ins, outs):
    nd = len(ex.shape(node.inputs[0]))
    perm = list(range(nd))
    a, b = int(param(node, "dim1")) % nd, int(param(node, "dim2")) % nd
    perm[a], perm[b] = perm[b], perm[a]
    ex.add("Transpose", ins, outs, node.name, perm=perm)


@_reg("expand_dims")
def _expand_dims(ex, node, ins, outs):
    ex.add("Unsqueeze", [ins[0], ex.ints(f"{node.name}_axes", [int(param(node, "axis"))])],
           outs, node.name)


@_reg("squeeze")
def _squeeze(ex, node, ins, outs):
    axis = param(node, "axis")
    inputs = ins[:1]
    if axis is not None:
        axis = [axis] if isinstance(axis, int) else list(axis)
        inputs.append(ex.ints(f"{node.name}_axes", axis))
    ex.add("Squeeze", inputs, outs, node.name)


@_reg("slice_axis")
def _slice_axis(ex, node, ins, outs):
    shape = ex.shape(node.inputs[0])
    axis = int(param(node, "axis")) % len(shape)
    end = param(node, "end")
    end = shape[axis] if end is None else int(end)
    ex.add("Slice", [ins[0], ex.ints(f"{node.name}_starts", [int(param(node, "begin"))]),
                     ex.ints(f"{node.name}_ends", [end]), ex.ints(f"{node.name}_axes", [axis])],
           outs, node.name)


@_reg("tile")
def _tile(ex, node, ins, outs):
    reps = list(param(node, "reps"))
    nd = len(ex.shape(node.inputs[0]))
    reps = [1] * (nd - len(reps)) + reps
    if len(reps) != nd:
        raise Unsupported("reps longer than the input's rank")
    ex.add("Tile", [ins[0], ex.ints(f"{node.name}_reps", reps)], outs, node.name)


@_reg("broadcast_to")
def _broadcast_to(ex, node, ins, outs):
    from ..graph import Entry

    ex.add("Expand", [ins[0], ex.ints(f"{node.name}_shape", ex.shape(Entry(node, 0)))], outs,
           node.name)


@_reg("Cast", "cast")
def _cast(ex, node, ins, outs):
    to = ex.onnx.helper.np_dtype_to_tensor_dtype(np.dtype(param(node, "dtype")))
    ex.add("Cast", ins, outs, node.name, to=to)


@_reg("clip")
def _clip(ex, node, ins, outs):
    dt = ex.dtype(node.inputs[0])
    lo = ex.const(f"{node.name}_min", float(param(node, "a_min")), dt)
    hi = ex.const(f"{node.name}_max", float(param(node, "a_max")), dt)
    ex.add("Clip", [ins[0], lo, hi], outs, node.name)


@_reg("dot", "batch_dot")
def _dot(ex, node, ins, outs):
    a, b = ins[0], ins[1]
    nd = len(ex.shape(node.inputs[0]))
    if node.op.name == "dot" and nd != 2:
        raise Unsupported("dot of inputs other than 2-d")
    perm = list(range(nd - 2)) + [nd - 1, nd - 2]
    if param(node, "transpose_a"):
        a = ex.add("Transpose", [a], 1, f"{node.name}_a_t", perm=perm)[0]
    if param(node, "transpose_b"):
        b = ex.add("Transpose", [b], 1, f"{node.name}_b_t", perm=perm)[0]
    ex.add("MatMul", [a, b], outs, node.name)


@_reg("slice", "crop")
def _slice(ex, node, ins, outs):
    shape = ex.shape(node.inputs[0])
    begin, end = list(param(node, "begin")), list(param(node, "end"))
    step = list(param(node, "step") or ()) + [None] * len(begin)
    starts, ends, axes, steps = [], [], [], []
    for ax, (b, e, s) in enumerate(zip(begin, end, step)):
        s = 1 if s is None else int(s)
        if s < 0 and (b is None or e is None):
            raise Unsupported("negative step with an open begin/end")
        starts.append(0 if b is None else int(b))
        ends.append(shape[ax] if e is None else int(e))
        axes.append(ax)
        steps.append(s)
    ex.add("Slice", [ins[0], ex.ints(f"{node.name}_starts", starts),
                     ex.ints(f"{node.name}_ends", ends), ex.ints(f"{node.name}_axes", axes),
                     ex.ints(f"{node.name}_steps", steps)], outs, node.name)
