"""Translators: coarsenet (MXNet 1.x) ops -> ONNX nodes, registered with register_export.

Each translator reads its node's params (MXNet strings, parsed by `param`), the inferred shapes of
its inputs and outputs, and appends ONNX nodes; it raises Unsupported for params ONNX cannot
express, and export_model reports all of those together.
"""
from __future__ import annotations

import numpy as np

from ._common import Unsupported, as_tuple, param, register_export


def _reg(*names):
    def wrap(fn):
        for n in names:
            register_export(n, fn)
        return fn
    return wrap


def _in_shape(ex, node, i=0):
    return ex.shape(node.inputs[i])


# ------------------------------------------------------------------ layers
@_reg("Convolution")
def _conv(ex, node, ins, outs):
    kernel = list(param(node, "kernel"))
    nd = len(kernel)
    pad = list(as_tuple(param(node, "pad"), nd, 0)) or [0] * nd
    inputs = ins[:2] if param(node, "no_bias") else ins[:3]
    ex.add("Conv", inputs, outs, node.name, kernel_shape=kernel,
           strides=list(as_tuple(param(node, "stride"), nd, 1)) or [1] * nd,
           dilations=list(as_tuple(param(node, "dilate"), nd, 1)) or [1] * nd,
           pads=pad + pad, group=int(param(node, "num_group")))


@_reg("Deconvolution")
def _deconv(ex, node, ins, outs):
    kernel = list(param(node, "kernel"))
    nd = len(kernel)
    pad = list(as_tuple(param(node, "pad"), nd, 0)) or [0] * nd
    adj = list(as_tuple(param(node, "adj"), nd, 0)) or [0] * nd
    target = param(node, "target_shape")
    if target and any(target):
        raise Unsupported("target_shape is not exported; give pad and adj instead")
    inputs = ins[:2] if param(node, "no_bias") else ins[:3]
    ex.add("ConvTranspose", inputs, outs, node.name, kernel_shape=kernel,
           strides=list(as_tuple(param(node, "stride"), nd, 1)) or [1] * nd,
           dilations=list(as_tuple(param(node, "dilate"), nd, 1)) or [1] * nd,
           pads=pad + pad, output_padding=adj if any(adj) else None,
           group=int(param(node, "num_group")))


@_reg("FullyConnected")
def _fc(ex, node, ins, outs):
    shape = _in_shape(ex, node)
    bias = None if param(node, "no_bias") else ins[2]
    if param(node, "flatten"):
        data = ins[0]
        if len(shape) != 2:
            data = ex.add("Flatten", [ins[0]], 1, f"{node.name}_flatten", axis=1)[0]
        ex.add("Gemm", [data, ins[1]] + ([bias] if bias else []), outs, node.name,
               alpha=1.0, beta=1.0, transA=0, transB=1)
        return
    wt = ex.add("Transpose", [ins[1]], 1, f"{node.name}_weight_t", perm=[1, 0])[0]
    if bias is None:
        ex.add("MatMul", [ins[0], wt], outs, node.name)
        return
    mm = ex.add("MatMul", [ins[0], wt], 1, f"{node.name}_matmul")[0]
    ex.add("Add", [mm, bias], outs, node.name)


@_reg("BatchNorm")
def _bn(ex, node, ins, outs):
    if int(param(node, "axis")) != 1:
        raise Unsupported(f"axis={param(node, 'axis')} (ONNX normalises axis 1)")
    gamma = ins[1]
    if param(node, "fix_gamma"):
        # fix_gamma: MXNet uses gamma = 1 whatever the stored value.
        c = _in_shape(ex, node)[1]
        ones = np.ones(c, dtype=ex.dtype(node.inputs[1]))
        if gamma in ex.initializers:
            ex.initializers[gamma] = ones  # as MXNet's export: the stored gamma is ignored
        else:
            gamma = ex.const(f"{node.name}_gamma_fixed", ones)
    if len(outs) > 1:
        raise Unsupported("output_mean_var outputs are training-only")
    ex.add("BatchNormalization", [ins[0], gamma, ins[2], ins[3], ins[4]], outs[:1], node.name,
           epsilon=float(param(node, "eps")), momentum=float(param(node, "momentum")))


@_reg("InstanceNorm")
def _instnorm(ex, node, ins, outs):
    ex.add("InstanceNormalization", ins[:3], outs, node.name, epsilon=float(param(node, "eps")))


@_reg("LayerNorm")
def _layernorm(ex, node, ins, outs):
    if ex.opset < 17:
        raise Unsupported("LayerNormalization needs opset 17")
    if len(outs) > 1:
        raise Unsupported("output_mean_var is not exported")
    ex.add("LayerNormalization", ins[:3], outs, node.name, axis=int(param(node, "axis")),
           epsilon=float(param(node, "eps")))


@_reg("Pooling")
def _pool(ex, node, ins, outs):
    ptype = param(node, "pool_type")
    if param(node, "global_pool"):
        op = {"max": "GlobalMaxPool", "avg": "GlobalAveragePool", "lp": "GlobalLpPool"}.get(ptype)
        if op is None:
            raise Unsupported(f"global pool_type {ptype}")
        p = int(param(node, "p_value") or 2) if ptype == "lp" else None
        ex.add(op, ins[:1], outs, node.name, p=p)
        return
    kernel = list(param(node, "kernel"))
    nd = len(kernel)
    pad = list(as_tuple(param(node, "pad"), nd, 0)) or [0] * nd
    stride = list(as_tuple(param(node, "stride"), nd, 1)) or [1] * nd
    ceil = 1 if param(node, "pooling_convention") == "full" else 0
    if param(node, "pooling_convention") not in ("valid", "full"):
        raise Unsupported(f"pooling_convention {param(node, 'pooling_convention')}")
    common = {"kernel_shape": kernel, "strides": stride, "pads": pad + pad, "ceil_mode": ceil}
    if ptype == "max":
        ex.add("MaxPool", ins[:1], outs, node.name, **common)
    elif ptype == "avg":
        cip = param(node, "count_include_pad")
        ex.add("AveragePool", ins[:1], outs, node.name,
               count_include_pad=0 if cip is False else 1, **common)
    elif ptype == "lp":
        ex.add("LpPool", ins[:1], outs, node.name, p=int(param(node, "p_value") or 2), **common)
    else:
        raise Unsupported(f"pool_type {ptype}")


@_reg("Dropout")
def _dropout(ex, node, ins, outs):
    ex.add("Identity", ins[:1], outs[:1], node.name)


@_reg("Embedding")
def _embedding(ex, node, ins, outs):
    idx = ex.add("Cast", ins[:1], 1, f"{node.name}_indices", to=7)[0]  # INT64
    ex.add("Gather", [ins[1], idx], outs, node.name, axis=0)


@_reg("LRN")
def _lrn(ex, node, ins, outs):
    ex.add("LRN", ins[:1], outs, node.name, alpha=float(param(node, "alpha")),
           beta=float(param(node, "beta")), bias=float(param(node, "knorm")),
           size=int(param(node, "nsize")))


@_reg("Pad", "pad")
def _pad(ex, node, ins, outs):
    mode = param(node, "mode")
    if mode not in ("constant", "edge", "reflect"):
        raise Unsupported(f"mode {mode}")
    width = list(param(node, "pad_width"))
    pads = width[0::2] + width[1::2]
    inputs = [ins[0], ex.ints(f"{node.name}_pads", pads)]
    if mode == "constant":
        inputs.append(ex.const(f"{node.name}_value", float(param(node, "constant_value")),
                               ex.dtype(node.inputs[0])))
    ex.add("Pad", inputs, outs, node.name, mode=mode)


@_reg("UpSampling")
def _upsampling(ex, node, ins, outs):
    if param(node, "sample_type") != "nearest" or len(ins) != 1:
        raise Unsupported(f"sample_type {param(node, 'sample_type')} with {len(ins)} inputs "
                          "(only single-input nearest is exported)")
    s = float(param(node, "scale"))
    scales = ex.const(f"{node.name}_scales", np.array([1, 1, s, s], dtype=np.float32))
    ex.add("Resize", [ins[0], "", scales], outs, node.name, mode="nearest",
           coordinate_transformation_mode="asymmetric", nearest_mode="floor")
