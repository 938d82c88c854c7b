"""1-D convolution and pooling layers (MXNet Gluon names and parameter shapes), and the global
1-D / 3-D pools.

The Convolution and Pooling ops are 2-D; a 1-D layer runs them on (N, C, 1, W) with a (1, k)
kernel, (1, s) stride and (0, p) padding. That is the same sum / max / average over the same
elements, so values and gradients are exact, and the layer's weight keeps MXNet's 1-D shape
(channels, in_channels / groups, k) for save/load.
"""
from __future__ import annotations

from .basic_layers import Activation
from .block import HybridBlock


def _one(value, what: str) -> int:
    v = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if len(v) != 1:
        raise ValueError(f"{what} must be an int or a 1-tuple for a 1-D layer, got {value}")
    return int(v[0])


class Conv1D(HybridBlock):
    """1-D convolution over (N, C, W) inputs ('NCW' layout)."""

    def __init__(self, channels, kernel_size, strides=1, padding=0, dilation=1, groups=1,
                 layout="NCW", activation=None, use_bias=True, weight_initializer=None,
                 bias_initializer="zeros", in_channels=0, **kwargs):
        super().__init__(**kwargs)
        if layout != "NCW":
            raise ValueError(f"Conv1D: only the 'NCW' layout is supported, got {layout!r}")
        k = _one(kernel_size, "kernel_size")
        self._channels, self._in_channels, self._groups = channels, in_channels, groups
        self._kwargs = dict(kernel=(1, k), stride=(1, _one(strides, "strides")),
                            pad=(0, _one(padding, "padding")),
                            dilate=(1, _one(dilation, "dilation")), num_filter=channels,
                            num_group=groups, no_bias=not use_bias)
        with self.name_scope():
            self.weight = self.params.get(
                "weight", shape=(channels, in_channels // groups if in_channels else 0, k),
                init=weight_initializer, allow_deferred_init=True)
            self.bias = self.params.get("bias", shape=(channels,), init=bias_initializer,
                                        allow_deferred_init=True) if use_bias else None
            self.act = Activation(activation, prefix=activation + "_") if activation else None

    def _name_hint(self) -> str:
        return "conv"

    def _trace_shapes(self, x, *args):
        # The op sees the weight as 4-D; the 1-D weight's input channels come from x directly.
        if x.shape is not None and len(x.shape) == 3 and 0 in self.weight.shape:
            c = x.shape[1] // self._groups
            self.weight.shape = (self._channels, c, self.weight.shape[2])
        return super()._trace_shapes(x, *args)

    def hybrid_forward(self, F, x, weight, bias=None):  # noqa: N803
        x4 = F.expand_dims(x, axis=2)
        w4 = F.expand_dims(weight, axis=2)
        args = (x4, w4) if bias is None else (x4, w4, bias)
        out = F.squeeze(F.Convolution(*args, **self._kwargs), axis=2)
        return self.act(out) if self.act is not None else out

    def __repr__(self) -> str:
        return (f"Conv1D({self._in_channels or None} -> {self._channels}, "
                f"kernel_size=({self._kwargs['kernel'][1]},), "
                f"stride=({self._kwargs['stride'][1]},))")


class _Pool1D(HybridBlock):
    def _name_hint(self) -> str:
        return "pool"

    def __init__(self, pool_size, strides, padding, ceil_mode, pool_type, layout,
                 count_include_pad=None, **kwargs):
        super().__init__(**kwargs)
        if layout != "NCW":
            raise ValueError(f"{type(self).__name__}: only the 'NCW' layout is supported, got "
                             f"{layout!r}")
        k = _one(pool_size, "pool_size")
        s = k if strides is None else _one(strides, "strides")
        self._kwargs = dict(kernel=(1, k), stride=(1, s), pad=(0, _one(padding, "padding")),
                            pool_type=pool_type,
                            pooling_convention="full" if ceil_mode else "valid")
        if count_include_pad is not None:
            self._kwargs["count_include_pad"] = count_include_pad

    def hybrid_forward(self, F, x):  # noqa: N803
        return F.squeeze(F.Pooling(F.expand_dims(x, axis=2), **self._kwargs), axis=2)


class MaxPool1D(_Pool1D):
    def __init__(self, pool_size=2, strides=None, padding=0, layout="NCW", ceil_mode=False,
                 **kwargs):
        super().__init__(pool_size, strides, padding, ceil_mode, "max", layout, **kwargs)


class AvgPool1D(_Pool1D):
    def __init__(self, pool_size=2, strides=None, padding=0, layout="NCW", ceil_mode=False,
                 count_include_pad=True, **kwargs):
        super().__init__(pool_size, strides, padding, ceil_mode, "avg", layout,
                         count_include_pad, **kwargs)


class _GlobalPool(HybridBlock):
    """Max or mean over every spatial axis, keeping them as size 1 (MXNet's output shape)."""

    ndim = 1

    def _name_hint(self) -> str:
        return "pool"

    def __init__(self, pool_type: str, layout: str, **kwargs):
        super().__init__(**kwargs)
        expected = {1: "NCW", 3: "NCDHW"}[self.ndim]
        if layout != expected:
            raise ValueError(f"{type(self).__name__}: only the {expected!r} layout is "
                             f"supported, got {layout!r}")
        self._pool_type = pool_type

    def hybrid_forward(self, F, x):  # noqa: N803
        axes = tuple(range(2, 2 + self.ndim))
        reduce = F.max if self._pool_type == "max" else F.mean
        return reduce(x, axis=axes, keepdims=True)


class GlobalMaxPool1D(_GlobalPool):
    def __init__(self, layout="NCW", **kwargs):
        super().__init__("max", layout, **kwargs)


class GlobalAvgPool1D(_GlobalPool):
    def __init__(self, layout="NCW", **kwargs):
        super().__init__("avg", layout, **kwargs)


class GlobalMaxPool3D(_GlobalPool):
    ndim = 3

    def __init__(self, layout="NCDHW", **kwargs):
        super().__init__("max", layout, **kwargs)


class GlobalAvgPool3D(_GlobalPool):
    ndim = 3

    def __init__(self, layout="NCDHW", **kwargs):
        super().__init__("avg", layout, **kwargs)
