"""Basic layers (MXNet Gluon names, arguments and parameter names); each is one op call."""
from __future__ import annotations

import numpy as np

from ..base import CoarsenetError
from .block import HybridBlock


def _tuple2(value) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


class Activation(HybridBlock):
    """Applies act_type ('relu', 'sigmoid', 'tanh', 'softrelu', 'softsign')."""

    def __init__(self, activation: str, **kwargs):
        self._act_type = activation  # before Block.__init__: the name hint is the act type
        super().__init__(**kwargs)

    def _name_hint(self) -> str:
        return self._act_type

    def hybrid_forward(self, F, x):  # noqa: N803
        return F.Activation(x, act_type=self._act_type)

    def __repr__(self) -> str:
        return f"Activation({self._act_type})"


class LeakyReLU(HybridBlock):
    def __init__(self, alpha: float, **kwargs):
        super().__init__(**kwargs)
        self._alpha = alpha

    def hybrid_forward(self, F, x):  # noqa: N803
        return F.LeakyReLU(x, act_type="leaky", slope=self._alpha)


class Dense(HybridBlock):
    """y = activation(x W^T + b); W is (units, in_units), in_units inferred if 0."""

    def __init__(self, units: int, activation: str | None = None, use_bias: bool = True,
                 flatten: bool = True, dtype="float32", weight_initializer=None,
                 bias_initializer="zeros", in_units: int = 0, **kwargs):
        super().__init__(**kwargs)
        self._units, self._flatten = units, flatten
        with self.name_scope():
            self.weight = self.params.get("weight", shape=(units, in_units), dtype=dtype,
                                          init=weight_initializer, allow_deferred_init=True)
            self.bias = self.params.get("bias", shape=(units,), dtype=dtype,
                                        init=bias_initializer,
                                        allow_deferred_init=True) if use_bias else None
            self.act = Activation(activation, prefix=activation + "_") if activation else None

    def hybrid_forward(self, F, x, weight, bias=None):  # noqa: N803
        if bias is None:
            out = F.FullyConnected(x, weight, num_hidden=self._units, flatten=self._flatten,
                                   no_bias=True)
        else:
            out = F.FullyConnected(x, weight, bias, num_hidden=self._units,
                                   flatten=self._flatten)
        return self.act(out) if self.act is not None else out

    def __repr__(self) -> str:
        return f"Dense({self.weight.shape[1] or None} -> {self._units})"


class Dropout(HybridBlock):
    """Zeroes a fraction `rate` of the inputs in training mode (autograd.record)."""

    def __init__(self, rate: float, axes=(), **kwargs):
        super().__init__(**kwargs)
        self._rate, self._axes = rate, tuple(axes)

    def hybrid_forward(self, F, x):  # noqa: N803
        if self._axes:
            return F.Dropout(x, p=self._rate, axes=self._axes)
        return F.Dropout(x, p=self._rate)


class _ScaleShiftNorm(HybridBlock):
    """A normalization whose op takes (data, gamma, beta) of the normalized axis' size."""

    def __init__(self, center, scale, beta_initializer, gamma_initializer, in_channels,
                 **kwargs):
        super().__init__(**kwargs)
        shape = (in_channels,)
        self.gamma = self.params.get("gamma", grad_req="write" if scale else "null",
                                     shape=shape, init=gamma_initializer,
                                     allow_deferred_init=True, differentiable=scale)
        self.beta = self.params.get("beta", grad_req="write" if center else "null",
                                    shape=shape, init=beta_initializer,
                                    allow_deferred_init=True, differentiable=center)


class BatchNorm(_ScaleShiftNorm):
    """Batch normalization over axis; running statistics are auxiliary (grad_req='null')."""

    def __init__(self, axis: int = 1, momentum: float = 0.9, epsilon: float = 1e-5,
                 center: bool = True, scale: bool = True, use_global_stats: bool = False,
                 beta_initializer="zeros", gamma_initializer="ones",
                 running_mean_initializer="zeros", running_variance_initializer="ones",
                 in_channels: int = 0, **kwargs):
        super().__init__(center, scale, beta_initializer, gamma_initializer, in_channels,
                         **kwargs)
        self._kwargs = dict(axis=axis, eps=epsilon, momentum=momentum, fix_gamma=not scale,
                            use_global_stats=use_global_stats)
        shape = (in_channels,)
        self.running_mean = self.params.get("running_mean", grad_req="null", shape=shape,
                                            init=running_mean_initializer,
                                            allow_deferred_init=True, differentiable=False)
        self.running_var = self.params.get("running_var", grad_req="null", shape=shape,
                                           init=running_variance_initializer,
                                           allow_deferred_init=True, differentiable=False)

    def hybrid_forward(self, F, x, gamma, beta, running_mean, running_var):  # noqa: N803
        return F.BatchNorm(x, gamma, beta, running_mean, running_var, **self._kwargs)


class LayerNorm(_ScaleShiftNorm):
    """Normalizes each sample over `axis` (statistics per position, not per batch)."""

    def __init__(self, axis: int = -1, epsilon: float = 1e-5, center: bool = True,
                 scale: bool = True, beta_initializer="zeros", gamma_initializer="ones",
                 in_channels: int = 0, **kwargs):
        super().__init__(center, scale, beta_initializer, gamma_initializer, in_channels,
                         **kwargs)
        self._kwargs = dict(axis=axis, eps=epsilon)

    def hybrid_forward(self, F, x, gamma, beta):  # noqa: N803
        return F.LayerNorm(x, gamma, beta, **self._kwargs)


class InstanceNorm(_ScaleShiftNorm):
    """Normalizes each (sample, channel) plane; channels on axis 1 (MXNet's default)."""

    def __init__(self, axis: int = 1, epsilon: float = 1e-5, center: bool = True,
                 scale: bool = False, beta_initializer="zeros", gamma_initializer="ones",
                 in_channels: int = 0, **kwargs):
        if axis != 1:
            raise CoarsenetError(f"InstanceNorm: only channels on axis 1 are supported, "
                                 f"found axis={axis}")
        super().__init__(center, scale, beta_initializer, gamma_initializer, in_channels,
                         **kwargs)
        self._kwargs = dict(eps=epsilon)

    def hybrid_forward(self, F, x, gamma, beta):  # noqa: N803
        return F.InstanceNorm(x, gamma, beta, **self._kwargs)


class Flatten(HybridBlock):
    def hybrid_forward(self, F, x):  # noqa: N803
        return F.Flatten(x)


class Embedding(HybridBlock):
    """Rows of a (input_dim, output_dim) weight picked by integer indices."""

    def __init__(self, input_dim: int, output_dim: int, dtype="float32",
                 weight_initializer=None, sparse_grad: bool = False, **kwargs):
        super().__init__(**kwargs)
        self._kwargs = dict(input_dim=input_dim, output_dim=output_dim,
                            dtype=np.dtype(dtype).name)
        self.weight = self.params.get("weight", shape=(input_dim, output_dim), dtype=dtype,
                                      init=weight_initializer, allow_deferred_init=True)

    def hybrid_forward(self, F, x, weight):  # noqa: N803
        return F.Embedding(x, weight, **self._kwargs)


class _Conv(HybridBlock):
    """Conv2D / Conv2DTranspose: one Convolution or Deconvolution op (+ optional activation)."""

    op_name = "Convolution"

    def _name_hint(self) -> str:  # MXNet names every convolution block conv<N>_
        return "conv"

    def __init__(self, channels, kernel_size, strides=(1, 1), padding=(0, 0), dilation=(1, 1),
                 groups=1, layout="NCHW", in_channels=0, activation=None, use_bias=True,
                 weight_initializer=None, bias_initializer="zeros", output_padding=None,
                 **kwargs):
        super().__init__(**kwargs)
        kernel = _tuple2(kernel_size)
        self._channels = channels
        self._kwargs = dict(kernel=kernel, stride=_tuple2(strides), pad=_tuple2(padding),
                            dilate=_tuple2(dilation), num_filter=channels, num_group=groups,
                            no_bias=not use_bias, layout=layout)
        if output_padding is not None:
            self._kwargs["adj"] = _tuple2(output_padding)
        if self.op_name == "Convolution":
            wshape = (channels, in_channels // groups if in_channels else 0) + kernel
        else:
            wshape = (in_channels, channels // groups) + kernel
        with self.name_scope():
            self.weight = self.params.get("weight", shape=wshape, init=weight_initializer,
                                          allow_deferred_init=True)
            self.bias = self.params.get("bias", shape=(channels,), init=bias_initializer,
                                        allow_deferred_init=True) if use_bias else None
            self.act = Activation(activation, prefix=activation + "_") if activation else None

    def hybrid_forward(self, F, x, weight, bias=None):  # noqa: N803
        op = getattr(F, self.op_name)
        out = op(x, weight, **self._kwargs) if bias is None else op(x, weight, bias,
                                                                    **self._kwargs)
        return self.act(out) if self.act is not None else out


class Conv2D(_Conv):
    pass


class Conv2DTranspose(_Conv):
    op_name = "Deconvolution"

    def __init__(self, channels, kernel_size, strides=(1, 1), padding=(0, 0),
                 output_padding=(0, 0), dilation=(1, 1), groups=1, layout="NCHW",
                 in_channels=0, **kwargs):
        super().__init__(channels, kernel_size, strides, padding, dilation, groups, layout,
                         in_channels, output_padding=output_padding, **kwargs)


class _Pool(HybridBlock):
    def _name_hint(self) -> str:  # MXNet names every pooling block pool<N>_
        return "pool"

    def __init__(self, pool_size, strides, padding, ceil_mode, global_pool, pool_type,
                 count_include_pad=None, **kwargs):
        super().__init__(**kwargs)
        self._kwargs = dict(kernel=_tuple2(pool_size),
                            stride=_tuple2(pool_size if strides is None else strides),
                            pad=_tuple2(padding), global_pool=global_pool, pool_type=pool_type,
                            pooling_convention="full" if ceil_mode else "valid")
        if count_include_pad is not None:
            self._kwargs["count_include_pad"] = count_include_pad

    def hybrid_forward(self, F, x):  # noqa: N803
        return F.Pooling(x, **self._kwargs)


class MaxPool2D(_Pool):
    def __init__(self, pool_size=(2, 2), strides=None, padding=0, layout="NCHW",
                 ceil_mode=False, **kwargs):
        super().__init__(pool_size, strides, padding, ceil_mode, False, "max", **kwargs)


class AvgPool2D(_Pool):
    def __init__(self, pool_size=(2, 2), strides=None, padding=0, layout="NCHW",
                 ceil_mode=False, count_include_pad=True, **kwargs):
        super().__init__(pool_size, strides, padding, ceil_mode, False, "avg",
                         count_include_pad, **kwargs)


class GlobalAvgPool2D(_Pool):
    def __init__(self, layout="NCHW", **kwargs):
        super().__init__((1, 1), None, 0, False, True, "avg", **kwargs)


class GlobalMaxPool2D(_Pool):
    def __init__(self, layout="NCHW", **kwargs):
        super().__init__((1, 1), None, 0, False, True, "max", **kwargs)
