"""3-D convolution and pooling layers (NCDHW, MXNet Gluon names and parameter shapes), run by
the Convolution and Pooling ops' 3-D paths (a 3-value kernel)."""
from __future__ import annotations

from .basic_layers import Activation
from .block import HybridBlock


def _triple(value, what: str) -> tuple:
    v = tuple(value) if isinstance(value, (tuple, list)) else (value,) * 3
    if len(v) != 3:
        raise ValueError(f"{what} must be an int or a 3-tuple for a 3-D layer, got {value}")
    return tuple(int(i) for i in v)


def _check_layout(block, layout):
    if layout != "NCDHW":
        raise ValueError(f"{type(block).__name__}: only the 'NCDHW' layout is supported, got "
                         f"{layout!r}")


class Conv3D(HybridBlock):
    """3-D convolution over (N, C, D, H, W) inputs."""

    def __init__(self, channels, kernel_size, strides=(1, 1, 1), padding=(0, 0, 0),
                 dilation=(1, 1, 1), groups=1, layout="NCDHW", activation=None, use_bias=True,
                 weight_initializer=None, bias_initializer="zeros", in_channels=0, **kwargs):
        super().__init__(**kwargs)
        _check_layout(self, layout)
        kernel = _triple(kernel_size, "kernel_size")
        self._channels, self._in_channels = channels, in_channels
        self._kwargs = dict(kernel=kernel, stride=_triple(strides, "strides"),
                            pad=_triple(padding, "padding"),
                            dilate=_triple(dilation, "dilation"), num_filter=channels,
                            num_group=groups, no_bias=not use_bias, layout="NCDHW")
        with self.name_scope():
            self.weight = self.params.get(
                "weight", shape=(channels, in_channels // groups if in_channels else 0) + kernel,
                init=weight_initializer, allow_deferred_init=True)
            self.bias = self.params.get("bias", shape=(channels,), init=bias_initializer,
                                        allow_deferred_init=True) if use_bias else None
            self.act = Activation(activation, prefix=activation + "_") if activation else None

    def _name_hint(self) -> str:
        return "conv"

    def hybrid_forward(self, F, x, weight, bias=None):  # noqa: N803
        args = (x, weight) if bias is None else (x, weight, bias)
        out = F.Convolution(*args, **self._kwargs)
        return self.act(out) if self.act is not None else out

    def __repr__(self) -> str:
        return (f"Conv3D({self._in_channels or None} -> {self._channels}, "
                f"kernel_size={self._kwargs['kernel']}, stride={self._kwargs['stride']})")


class _Pool3D(HybridBlock):
    def __init__(self, pool_size, strides, padding, ceil_mode, pool_type, layout,
                 count_include_pad=None, **kwargs):
        super().__init__(**kwargs)
        _check_layout(self, layout)
        kernel = _triple(pool_size, "pool_size")
        self._kwargs = dict(kernel=kernel,
                            stride=kernel if strides is None else _triple(strides, "strides"),
                            pad=_triple(padding, "padding"), pool_type=pool_type,
                            pooling_convention="full" if ceil_mode else "valid",
                            layout="NCDHW")
        if count_include_pad is not None:
            self._kwargs["count_include_pad"] = count_include_pad

    def _name_hint(self) -> str:
        return "pool"

    def hybrid_forward(self, F, x):  # noqa: N803
        return F.Pooling(x, **self._kwargs)


class MaxPool3D(_Pool3D):
    def __init__(self, pool_size=(2, 2, 2), strides=None, padding=0, ceil_mode=False,
                 layout="NCDHW", **kwargs):
        super().__init__(pool_size, strides, padding, ceil_mode, "max", layout, **kwargs)


class AvgPool3D(_Pool3D):
    def __init__(self, pool_size=(2, 2, 2), strides=None, padding=0, ceil_mode=False,
                 layout="NCDHW", count_include_pad=True, **kwargs):
        super().__init__(pool_size, strides, padding, ceil_mode, "avg", layout,
                         count_include_pad, **kwargs)
