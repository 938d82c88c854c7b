"""ONNX node -> coarsenet op translators, and numpy folding of all-constant nodes.

A translator gets (importer, node, attrs) and returns a Symbol (or a list, one per output).
"""
from __future__ import annotations

import numpy as np

from ._common import _Unmapped

TRANSLATORS: dict = {}


def _reg(*names):
    def wrap(fn):
        for n in names:
            TRANSLATORS[n] = fn
        return fn
    return wrap


def _sym_pads(pads, op):
    if not pads:
        return None
    n = len(pads) // 2
    if list(pads[:n]) != list(pads[n:]):
        raise _Unmapped(f"asymmetric pads {list(pads)} ({op} pads both sides equally)")
    return tuple(int(p) for p in pads[:n])


def _auto_pad(a):
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET", b"VALID", "VALID"):
        raise _Unmapped(f"auto_pad {a['auto_pad']!r}")


# ------------------------------------------------------------------ layers
@_reg("Conv")
def _conv(im, node, a):
    _auto_pad(a)
    w = im.shape(node.input[1])
    kernel = tuple(a.get("kernel_shape", w[2:]))
    n = len(kernel)
    ins = [im.tensor(i) for i in node.input if i]
    return im.call("Convolution", ins, im.node_name(node), kernel=kernel,
                   stride=tuple(a.get("strides", [1] * n)),
                   dilate=tuple(a.get("dilations", [1] * n)),
                   pad=_sym_pads(a.get("pads"), "Convolution") or (0,) * n,
                   num_filter=w[0], num_group=a.get("group", 1), no_bias=len(ins) == 2)


@_reg("ConvTranspose")
def _deconv(im, node, a):
    _auto_pad(a)
    if "output_shape" in a:
        raise _Unmapped("output_shape (give pads and output_padding)")
    w = im.shape(node.input[1])
    kernel = tuple(a.get("kernel_shape", w[2:]))
    n = len(kernel)
    group = a.get("group", 1)
    ins = [im.tensor(i) for i in node.input if i]
    return im.call("Deconvolution", ins, im.node_name(node), kernel=kernel,
                   stride=tuple(a.get("strides", [1] * n)),
                   dilate=tuple(a.get("dilations", [1] * n)),
                   pad=_sym_pads(a.get("pads"), "Deconvolution") or (0,) * n,
                   adj=tuple(a.get("output_padding", [0] * n)),
                   num_filter=w[1] * group, num_group=group, no_bias=len(ins) == 2)


@_reg("Gemm")
def _gemm(im, node, a):
    name = im.node_name(node)
    x = im.tensor(node.input[0])
    if a.get("transA", 0):
        x = im.call("transpose", [x], f"{name}_a_t")
    alpha, beta = a.get("alpha", 1.0), a.get("beta", 1.0)
    if a.get("transB", 0):
        w = im.tensor(node.input[1])
        num_hidden = im.shape(node.input[1])[0]
    elif im.is_const(node.input[1]):
        wname = f"{node.input[1]}_T"
        im.consts[wname] = np.ascontiguousarray(im.const(node.input[1]).T)
        w, num_hidden = im.tensor(wname), im.consts[wname].shape[0]
    else:
        w = im.call("transpose", [im.tensor(node.input[1])], f"{name}_b_t")
        num_hidden = im.shape(node.input[1])[1]
    if alpha != 1.0:
        x = im.call("_mul_scalar", [x], f"{name}_alpha", scalar=alpha)
    bias = node.input[2] if len(node.input) > 2 and node.input[2] else None
    if bias is not None and (beta != 1.0 or len(im.shape(bias)) != 1):
        raise _Unmapped("a bias that is not a vector, or beta != 1")
    ins = [x, w] + ([im.tensor(bias)] if bias else [])
    return im.call("FullyConnected", ins, name, num_hidden=num_hidden, no_bias=bias is None,
                   flatten=True)


@_reg("MatMul")
def _matmul(im, node, a):
    name = im.node_name(node)
    sa, sb = im.shape(node.input[0]), im.shape(node.input[1])
    if im.is_const(node.input[1]) and len(sb) == 2:
        # x @ W: a FullyConnected over the last axis, weight stored (out, in).
        wname = f"{node.input[1]}_T"
        im.consts[wname] = np.ascontiguousarray(im.const(node.input[1]).T)
        return im.call("FullyConnected", [im.tensor(node.input[0]), im.tensor(wname)], name,
                       num_hidden=sb[1], no_bias=True, flatten=False)
    x, y = im.tensor(node.input[0]), im.tensor(node.input[1])
    if len(sa) == 2 and len(sb) == 2:
        return im.call("dot", [x, y], name)
    if len(sa) == 3 and len(sb) == 3:
        return im.call("batch_dot", [x, y], name)
    raise _Unmapped(f"MatMul of shapes {sa} and {sb}")


@_reg("BatchNormalization")
def _bn(im, node, a):
    if a.get("training_mode", 0):
        raise _Unmapped("training_mode=1")
    ins = [im.tensor(i) for i in node.input[:5]]
    return im.call("BatchNorm", ins, im.node_name(node), eps=a.get("epsilon", 1e-5),
                   momentum=a.get("momentum", 0.9), fix_gamma=False, use_global_stats=True)


@_reg("InstanceNormalization")
def _instnorm(im, node, a):
    ins = [im.tensor(i) for i in node.input[:3]]
    return im.call("InstanceNorm", ins, im.node_name(node), eps=a.get("epsilon", 1e-5))


@_reg("LayerNormalization")
def _layernorm(im, node, a):
    if len([o for o in node.output if o]) > 1:
        raise _Unmapped("mean / inv_std_dev outputs")
    ins = [im.tensor(i) for i in node.input[:3] if i]
    if len(ins) != 3:
        raise _Unmapped("LayerNormalization without a bias")
    return im.call("LayerNorm", ins, im.node_name(node), axis=a.get("axis", -1),
                   eps=a.get("epsilon", 1e-5))


def _pool(kind):
    def translate(im, node, a):
        _auto_pad(a)
        kernel = tuple(a["kernel_shape"])
        n = len(kernel)
        if any(d != 1 for d in a.get("dilations", [1] * n)):
            raise _Unmapped("dilated pooling")
        params = {"kernel": kernel, "pool_type": kind, "stride": tuple(a.get("strides", [1] * n)),
                  "pad": _sym_pads(a.get("pads"), "Pooling") or (0,) * n,
                  "pooling_convention": "full" if a.get("ceil_mode", 0) else "valid"}
        if kind == "avg":
            params["count_include_pad"] = bool(a.get("count_include_pad", 0))
        if kind == "lp":
            params["p_value"] = a.get("p", 2)
        return im.call("Pooling", [im.tensor(node.input[0])], im.node_name(node), **params)
    return translate


def _global_pool(kind):
    def translate(im, node, a):
        params = {"p_value": a.get("p", 2)} if kind == "lp" else {}
        nd = len(im.shape(node.input[0])) - 2
        return im.call("Pooling", [im.tensor(node.input[0])], im.node_name(node),
                       kernel=(1,) * nd, pool_type=kind, global_pool=True, **params)
    return translate


TRANSLATORS.update({"MaxPool": _pool("max"), "AveragePool": _pool("avg"), "LpPool": _pool("lp"),
                    "GlobalMaxPool": _global_pool("max"),
                    "GlobalAveragePool": _global_pool("avg"),
                    "GlobalLpPool": _global_pool("lp")})


@_reg("Gather")
def _gather(im, node, a):
    if not im.is_const(node.input[0]) or a.get("axis", 0) != 0:
        raise _Unmapped("only Gather of a constant table along axis 0 (an embedding)")
    table = im.const(node.input[0])
    if table.ndim != 2:
        raise _Unmapped(f"Gather of a {table.ndim}-d table")
    idx = im.cast_of.get(node.input[1], node.input[1])
    return im.call("Embedding", [im.tensor(idx), im.tensor(node.input[0])], im.node_name(node),
                   input_dim=table.shape[0], output_dim=table.shape[1])


@_reg("LRN")
def _lrn(im, node, a):
    return im.call("LRN", [im.tensor(node.input[0])], im.node_name(node),
                   alpha=a.get("alpha", 1e-4), beta=a.get("beta", 0.75), knorm=a.get("bias", 1.0),
                   nsize=a["size"])


@_reg("Pad")
def _pad(im, node, a):
    mode = a.get("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    pads = [int(p) for p in im.const(node.input[1])]
    n = len(pads) // 2
    width = tuple(v for pair in zip(pads[:n], pads[n:]) for v in pair)
    value = float(im.const(node.input[2])) if len(node.input) > 2 and node.input[2] else 0.0
    if len(node.input) > 3 and node.input[3]:
        raise _Unmapped("Pad with axes")
    return im.call("Pad", [im.tensor(node.input[0])], im.node_name(node), mode=mode,
                   pad_width=width, constant_value=value)


@_reg("Resize", "Upsample")
def _resize(im, node, a):
    mode = a.get("mode", b"nearest")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    scales_name = node.input[2] if node.op_type == "Resize" else node.input[1]
    scales = im.const(scales_name) if scales_name else None
    if mode != "nearest" or scales is None or len(scales) != 4 or scales[2] != scales[3] or \
            list(scales[:2]) != [1, 1] or scales[2] != int(scales[2]):
        raise _Unmapped(f"only nearest resizing by one integer scale of H and W (mode {mode})")
    return im.call("UpSampling", [im.tensor(node.input[0])], im.node_name(node),
                   scale=int(scales[2]), sample_type="nearest", num_args=1)
