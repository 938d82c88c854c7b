"""ONNX -> coarsenet translators for activations, math, shapes, reductions; constant folding."""
from __future__ import annotations

import numpy as np

from ._common import _Unmapped
from ._import_ops import TRANSLATORS, _reg

_ACT = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Softplus": "softrelu",
        "Softsign": "softsign"}
_UNARY = {"Abs": "abs", "Exp": "exp", "Log": "log", "Sqrt": "sqrt", "Neg": "negative",
          "Reciprocal": "reciprocal", "Sin": "sin", "Cos": "cos", "Sign": "sign",
          "Identity": "identity", "Dropout": "identity"}
# ONNX binary op -> (broadcast op, scalar op with the scalar on the right, on the left)
_BINARY = {"Add": ("broadcast_add", "_plus_scalar", "_plus_scalar"),
           "Sub": ("broadcast_sub", "_minus_scalar", "_rminus_scalar"),
           "Mul": ("broadcast_mul", "_mul_scalar", "_mul_scalar"),
           "Div": ("broadcast_div", "_div_scalar", "_rdiv_scalar"),
           "Pow": ("broadcast_power", "_power_scalar", "_rpower_scalar"),
           "Max": ("broadcast_maximum", "_maximum_scalar", "_maximum_scalar"),
           "Min": ("broadcast_minimum", "_minimum_scalar", "_minimum_scalar")}
_REDUCE = {"ReduceSum": "sum", "ReduceMean": "mean", "ReduceMax": "max", "ReduceMin": "min",
           "ReduceProd": "prod"}


def _act(kind):
    return lambda im, node, a: im.call("Activation", [im.tensor(node.input[0])],
                                       im.node_name(node), act_type=kind)


def _unary(op):
    return lambda im, node, a: im.call(op, [im.tensor(node.input[0])], im.node_name(node))


def _binary(onnx_op):
    broadcast, right, left = _BINARY[onnx_op]

    def translate(im, node, a):
        x, y = node.input[0], node.input[1]
        for sym_in, c_in, op in ((x, y, right), (y, x, left)):
            if im.is_const(c_in) and im.const(c_in).size == 1 and not im.is_const(sym_in) and \
                    im.const(c_in).ndim <= len(im.shape(sym_in)):
                return im.call(op, [im.tensor(sym_in)], im.node_name(node),
                               scalar=float(im.const(c_in).reshape(())))
        return im.call(broadcast, [im.tensor(x), im.tensor(y)], im.node_name(node))
    return translate


for _k, _v in _ACT.items():
    TRANSLATORS[_k] = _act(_v)
for _k, _v in _UNARY.items():
    TRANSLATORS[_k] = _unary(_v)
for _k in _BINARY:
    TRANSLATORS[_k] = _binary(_k)


@_reg("Sum")
def _sum(im, node, a):
    ins = [im.tensor(i) for i in node.input]
    return ins[0] if len(ins) == 1 else im.call("add_n", ins, im.node_name(node))


@_reg("LeakyRelu", "Elu", "Selu")
def _leaky(im, node, a):
    kind = {"LeakyRelu": "leaky", "Elu": "elu", "Selu": "selu"}[node.op_type]
    params = {"slope": a.get("alpha", 0.01 if kind == "leaky" else 1.0)} if kind != "selu" else {}
    if kind == "selu" and ("alpha" in a or "gamma" in a):
        raise _Unmapped("Selu with non-default alpha/gamma")
    return im.call("LeakyReLU", [im.tensor(node.input[0])], im.node_name(node), act_type=kind,
                   **params)


@_reg("PRelu")
def _prelu(im, node, a):
    slope = node.input[1]
    if im.is_const(slope):
        flat = f"{slope}_channel"
        im.consts[flat] = im.const(slope).reshape(-1)
        slope = flat
    return im.call("LeakyReLU", [im.tensor(node.input[0]), im.tensor(slope)], im.node_name(node),
                   act_type="prelu")


@_reg("Softmax", "LogSoftmax")
def _softmax(im, node, a):
    op = "softmax" if node.op_type == "Softmax" else "log_softmax"
    return im.call(op, [im.tensor(node.input[0])], im.node_name(node), axis=a.get("axis", -1))


@_reg("Flatten")
def _flatten(im, node, a):
    axis = a.get("axis", 1)
    if axis == 1:
        return im.call("Flatten", [im.tensor(node.input[0])], im.node_name(node))
    s = im.shape(node.input[0])
    axis %= len(s)
    shape = (int(np.prod(s[:axis])), int(np.prod(s[axis:])))
    return im.call("Reshape", [im.tensor(node.input[0])], im.node_name(node), shape=shape)


@_reg("Reshape")
def _reshape(im, node, a):
    if a.get("allowzero", 0):
        raise _Unmapped("allowzero=1")
    shape = [int(v) for v in im.const(node.input[1])]
    if node.input[1] in im.from_shape:
        # A target computed from Shape: a dim equal to the input's at the same position is that
        # dim (possibly dynamic, e.g. the batch), so copy it (code 0) instead of fixing it.
        src = im.shape(node.input[0])
        shape = [0 if i < len(src) and d == src[i] else d for i, d in enumerate(shape)]
    return im.call("Reshape", [im.tensor(node.input[0])], im.node_name(node), shape=tuple(shape))


@_reg("Concat")
def _concat(im, node, a):
    ins = [im.tensor(i) for i in node.input]
    return im.call("Concat", ins, im.node_name(node), dim=a["axis"], num_args=len(ins))


@_reg("Split")
def _split(im, node, a):
    n = len(node.output)
    dim = im.shape(node.input[0])[a.get("axis", 0)]
    if len(node.input) > 1 and node.input[1]:
        sizes = [int(v) for v in im.const(node.input[1])]
    else:
        sizes = list(a.get("split", [dim // n] * n))
    if len(set(sizes)) != 1:
        raise _Unmapped(f"unequal split sizes {sizes}")
    out = im.call("SliceChannel", [im.tensor(node.input[0])], im.node_name(node),
                  num_outputs=n, axis=a.get("axis", 0))
    return [out[k] for k in range(n)]


@_reg("Transpose")
def _transpose(im, node, a):
    perm = a.get("perm")
    params = {"axes": tuple(perm)} if perm is not None else {}
    return im.call("transpose", [im.tensor(node.input[0])], im.node_name(node), **params)


def _axes(im, node, a):
    if len(node.input) > 1 and node.input[1]:
        return [int(v) for v in im.const(node.input[1])]
    return list(a["axes"]) if "axes" in a else None


@_reg("Unsqueeze")
def _unsqueeze(im, node, a):
    out, name = im.tensor(node.input[0]), im.node_name(node)
    axes = sorted(_axes(im, node, a))
    for k, ax in enumerate(axes):
        out = im.call("expand_dims", [out], name if k == len(axes) - 1 else f"{name}_{k}",
                      axis=ax)
    return out


@_reg("Squeeze")
def _squeeze(im, node, a):
    axes = _axes(im, node, a)
    params = {"axis": tuple(axes)} if axes is not None else {}
    return im.call("squeeze", [im.tensor(node.input[0])], im.node_name(node), **params)


@_reg("Slice")
def _slice(im, node, a):
    starts = [int(v) for v in im.const(node.input[1])]
    ends = [int(v) for v in im.const(node.input[2])]
    nd = len(im.shape(node.input[0]))
    axes = [int(v) for v in im.const(node.input[3])] if len(node.input) > 3 and node.input[3] \
        else list(range(len(starts)))
    steps = [int(v) for v in im.const(node.input[4])] if len(node.input) > 4 and node.input[4] \
        else [1] * len(starts)
    if any(s != 1 for s in steps):
        raise _Unmapped("steps other than 1")
    shape = im.shape(node.input[0])
    if len(axes) == 1:
        ax = axes[0] % nd
        end = min(ends[0], shape[ax]) if ends[0] >= 0 else ends[0]
        return im.call("slice_axis", [im.tensor(node.input[0])], im.node_name(node), axis=ax,
                       begin=starts[0], end=end)
    begin, end = [None] * nd, [None] * nd
    for s, e, ax in zip(starts, ends, axes):
        ax %= nd
        begin[ax], end[ax] = s, min(e, shape[ax]) if e >= 0 else e
    return im.call("slice", [im.tensor(node.input[0])], im.node_name(node), begin=tuple(begin),
                   end=tuple(end))


@_reg("Tile")
def _tile(im, node, a):
    reps = tuple(int(v) for v in im.const(node.input[1]))
    return im.call("tile", [im.tensor(node.input[0])], im.node_name(node), reps=reps)


@_reg("Expand")
def _expand(im, node, a):
    shape = tuple(int(v) for v in im.const(node.input[1]))
    src = im.shape(node.input[0])
    out = np.broadcast_shapes(src, shape)
    return im.call("broadcast_to", [im.tensor(node.input[0])], im.node_name(node), shape=out)


@_reg("Cast")
def _cast(im, node, a):
    dtype = np.dtype(im.onnx.helper.tensor_dtype_to_np_dtype(a["to"]))
    if dtype.kind in "iub":
        # Integer / bool casts feed Embedding indices and Where conditions, which coarsenet takes
        # as float: those readers use the uncast value (see cast_of).
        im.cast_of[node.output[0]] = node.input[0]
    if dtype == np.dtype(np.bool_):
        dtype = np.dtype(np.float32)
    return im.call("Cast", [im.tensor(node.input[0])], im.node_name(node), dtype=dtype.name)


@_reg("Clip")
def _clip(im, node, a):
    lo = float(im.const(node.input[1])) if len(node.input) > 1 and node.input[1] else -np.inf
    hi = float(im.const(node.input[2])) if len(node.input) > 2 and node.input[2] else np.inf
    lo, hi = a.get("min", lo), a.get("max", hi)
    return im.call("clip", [im.tensor(node.input[0])], im.node_name(node), a_min=lo, a_max=hi)


@_reg("Where")
def _where(im, node, a):
    cond = im.cast_of.get(node.input[0], node.input[0])
    ins = [im.tensor(cond), im.tensor(node.input[1]), im.tensor(node.input[2])]
    return im.call("where", ins, im.node_name(node))


def _reduce(op):
    def translate(im, node, a):
        axes = _axes(im, node, a)
        params = {"keepdims": bool(a.get("keepdims", 1))}
        if axes is not None:
            params["axis"] = tuple(axes)
        elif a.get("noop_with_empty_axes", 0):
            return im.call("identity", [im.tensor(node.input[0])], im.node_name(node))
        return im.call(op, [im.tensor(node.input[0])], im.node_name(node), **params)
    return translate


for _k, _v in _REDUCE.items():
    TRANSLATORS[_k] = _reduce(_v)


# ------------------------------------------------------------------ constant folding
FOLDABLE = {"Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Cast", "Reshape", "Transpose",
            "Identity", "Add", "Sub", "Mul", "Div", "Slice", "Constant", "ReduceProd", "Sqrt",
            "Neg", "Flatten"}


def fold(im, node, a):
    """Outputs (numpy) of a node whose inputs are all constant (Shape: statically known)."""
    op = node.op_type
    if op == "Constant":
        out = im.onnx.numpy_helper.to_array(a["value"]) if "value" in a else None
        if out is None:
            raise _Unmapped(f"Constant attributes {sorted(a)}")
    elif op == "Shape":
        out = np.array(im.shape(node.input[0]), dtype=np.int64)
        out = out[a.get("start", 0):a.get("end", None)]
    else:
        c = [im.const(i) if i else None for i in node.input]
        out = _FOLD[op](c, a)
    return [out]


def _fold_unsqueeze(c, a):
    axes = [int(v) for v in c[1]] if len(c) > 1 else list(a["axes"])
    out = c[0]
    for ax in sorted(axes):
        out = np.expand_dims(out, ax)
    return out


def _fold_slice(c, a):
    out = c[0]
    axes = c[3] if len(c) > 3 and c[3] is not None else range(len(c[1]))
    steps = c[4] if len(c) > 4 and c[4] is not None else [1] * len(c[1])
    idx = [slice(None)] * out.ndim
    for s, e, ax, st in zip(c[1], c[2], axes, steps):
        idx[int(ax)] = slice(int(s), int(e), int(st))
    return out[tuple(idx)]


_FOLD = {
    "Gather": lambda c, a: np.take(c[0], c[1].astype(np.int64), axis=a.get("axis", 0)),
    "Unsqueeze": _fold_unsqueeze,
    "Squeeze": lambda c, a: np.squeeze(c[0], axis=tuple(int(v) for v in c[1]) if len(c) > 1
                                       else a.get("axes")),
    "Concat": lambda c, a: np.concatenate(c, axis=a["axis"]),
    "Cast": lambda c, a: c[0].astype(__import__("onnx").helper.tensor_dtype_to_np_dtype(a["to"])),
    "Reshape": lambda c, a: c[0].reshape([d if d != 0 else c[0].shape[i]
                                          for i, d in enumerate(int(v) for v in c[1])]),
    "Transpose": lambda c, a: np.transpose(c[0], a.get("perm")),
    "Identity": lambda c, a: c[0],
    "Add": lambda c, a: c[0] + c[1], "Sub": lambda c, a: c[0] - c[1],
    "Mul": lambda c, a: c[0] * c[1],
    "Div": lambda c, a: (c[0] // c[1]) if c[0].dtype.kind in "iu" else c[0] / c[1],
    "Slice": _fold_slice,
    "ReduceProd": lambda c, a: np.prod(c[0], keepdims=bool(a.get("keepdims", 1))),
    "Sqrt": lambda c, a: np.sqrt(c[0]), "Neg": lambda c, a: -c[0],
    "Flatten": lambda c, a: c[0].reshape(int(np.prod(c[0].shape[:a.get("axis", 1)])), -1),
}
