"""Losses (MXNet Gluon names): per-sample losses, averaged over all but the batch axis.

Formulas follow MXNet 1.9.1's gluon.loss term for term (same stabilised forms, same epsilons),
checked against it in tests/nn/test_loss_mxnet.py.
"""
from __future__ import annotations

from .. import ndarray as _nd
from ..base import CoarsenetError
from .block import HybridBlock


def _reshape_like(F, x, y):  # noqa: N803
    """x reshaped to y's shape (labels given as (N,) for a prediction of (N, 1))."""
    if F is _nd:
        return x.reshape(y.shape)
    like = getattr(F, "reshape_like", None)
    return like(x, y) if like is not None else x  # symbols: elementwise ops check the shapes


def _weighted(F, loss, weight, sample_weight):  # noqa: N803
    if sample_weight is not None:
        loss = F.broadcast_mul(loss, sample_weight)
    if weight is not None:
        if not isinstance(weight, (int, float)):
            raise CoarsenetError(f"loss weight must be a number, got {type(weight).__name__}")
        loss = loss * weight
    return loss


class Loss(HybridBlock):
    def __init__(self, weight=None, batch_axis: int = 0, **kwargs):
        super().__init__(**kwargs)
        self._weight, self._batch_axis = weight, batch_axis

    def _finish(self, F, loss, sample_weight):  # noqa: N803
        if sample_weight is not None:
            loss = F.broadcast_mul(loss, sample_weight)
        if self._weight is not None:
            loss = loss * self._weight
        return F.mean(loss, axis=self._batch_axis, exclude=True)


class SoftmaxCrossEntropyLoss(Loss):
    """-log softmax(pred)[label] per sample (sparse_label) or -sum(label * log softmax(pred))."""

    def __init__(self, axis: int = -1, sparse_label: bool = True, from_logits: bool = False,
                 weight=None, batch_axis: int = 0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        self._axis, self._sparse_label, self._from_logits = axis, sparse_label, from_logits

    def hybrid_forward(self, F, pred, label, sample_weight=None):  # noqa: N803
        if not self._from_logits:
            pred = F.log_softmax(pred, axis=self._axis)
        if self._sparse_label:
            loss = -F.pick(pred, label, axis=self._axis, keepdims=True)
        else:
            loss = -F.sum(pred * label, axis=self._axis, keepdims=True)
        return self._finish(F, loss, sample_weight)


SoftmaxCELoss = SoftmaxCrossEntropyLoss


class L2Loss(Loss):
    """0.5 * (pred - label)^2 averaged per sample (label has pred's shape)."""

    def __init__(self, weight=1.0, batch_axis: int = 0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)

    def hybrid_forward(self, F, pred, label, sample_weight=None):  # noqa: N803
        diff = pred - label
        loss = diff * diff * (self._weight / 2.0)
        if sample_weight is not None:
            loss = F.broadcast_mul(loss, sample_weight)
        return F.mean(loss, axis=self._batch_axis, exclude=True)


def _softrelu(F, x):  # noqa: N803
    return F.Activation(x, act_type="softrelu")


def _equal_mask(F, x, value: float):  # noqa: N803
    """1 where x == value, else 0, from arithmetic ops only (so it traces into symbols too):
    any float that differs from `value` differs by at least ~1e-38 relative, and 1e30 times that
    difference is >= 1, which relu(1 - .) sends to 0; NaN stays NaN as in a comparison's use."""
    return F.relu(1.0 - F.abs(x - value) * 1e30)


class SigmoidBinaryCrossEntropyLoss(Loss):
    """Binary cross-entropy of sigmoid(pred) (or of pred itself with from_sigmoid=True);
    pos_weight (broadcast to label) weighs the positive term."""

    def __init__(self, from_sigmoid: bool = False, weight=None, batch_axis: int = 0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        self._from_sigmoid = from_sigmoid

    def hybrid_forward(self, F, pred, label, sample_weight=None, pos_weight=None):  # noqa: N803
        label = _reshape_like(F, label, pred)
        if not self._from_sigmoid:
            # log(1 + exp(-|x|)) + max(x, 0) - x * z: no overflow for any x.
            if pos_weight is None:
                loss = F.relu(pred) - pred * label + _softrelu(F, -F.abs(pred))
            else:
                log_weight = 1 + F.broadcast_mul(pos_weight - 1, label)
                loss = pred - pred * label + log_weight * (_softrelu(F, -F.abs(pred))
                                                           + F.relu(-pred))
        else:
            eps = 1e-12
            if pos_weight is None:
                loss = -(F.log(pred + eps) * label + F.log(1.0 - pred + eps) * (1.0 - label))
            else:
                loss = -(F.broadcast_mul(F.log(pred + eps) * label, pos_weight)
                         + F.log(1.0 - pred + eps) * (1.0 - label))
        loss = _weighted(F, loss, self._weight, sample_weight)
        return F.mean(loss, axis=self._batch_axis, exclude=True)


SigmoidBCELoss = SigmoidBinaryCrossEntropyLoss


class L1Loss(Loss):
    """|pred - label| averaged per sample."""

    def __init__(self, weight=None, batch_axis: int = 0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)

    def hybrid_forward(self, F, pred, label, sample_weight=None):  # noqa: N803
        label = _reshape_like(F, label, pred)
        loss = _weighted(F, F.abs(label - pred), self._weight, sample_weight)
        return F.mean(loss, axis=self._batch_axis, exclude=True)


class KLDivLoss(Loss):
    """label * (log(label + 1e-12) - pred), pred being log-probabilities (from_logits=True)
    or scores turned into them by log_softmax; summed (not averaged) per sample as in MXNet."""

    def __init__(self, from_logits: bool = True, axis: int = -1, weight=None,
                 batch_axis: int = 0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        self._from_logits, self._axis = from_logits, axis

    def hybrid_forward(self, F, pred, label, sample_weight=None):  # noqa: N803
        if not self._from_logits:
            pred = F.log_softmax(pred, axis=self._axis)
        loss = label * (F.log(label + 1e-12) - pred)
        loss = _weighted(F, loss, self._weight, sample_weight)
        return F.sum(loss, axis=self._batch_axis, exclude=True)


class HuberLoss(Loss):
    """0.5 / rho * d^2 where |d| <= rho, |d| - 0.5 rho beyond, d = label - pred."""

    def __init__(self, rho: float = 1, weight=None, batch_axis: int = 0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        self._rho = rho

    def hybrid_forward(self, F, pred, label, sample_weight=None):  # noqa: N803
        label = _reshape_like(F, label, pred)
        # smooth_l1 with sigma^2 = 1 / rho is exactly this piecewise function, and its kink
        # takes the quadratic branch at |d| == rho as MXNet's where(|d| > rho, ...) does.
        loss = F.smooth_l1(label - pred, scalar=float(self._rho) ** -0.5)
        loss = _weighted(F, loss, self._weight, sample_weight)
        return F.mean(loss, axis=self._batch_axis, exclude=True)


class HingeLoss(Loss):
    """max(0, margin - pred * label), labels -1 or 1."""

    def __init__(self, margin: float = 1, weight=None, batch_axis: int = 0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        self._margin = margin

    def _hinge(self, F, pred, label):  # noqa: N803
        return F.relu(self._margin - pred * _reshape_like(F, label, pred))

    def hybrid_forward(self, F, pred, label, sample_weight=None):  # noqa: N803
        loss = _weighted(F, self._hinge(F, pred, label), self._weight, sample_weight)
        return F.mean(loss, axis=self._batch_axis, exclude=True)


class SquaredHingeLoss(HingeLoss):
    """max(0, margin - pred * label)^2."""

    def hybrid_forward(self, F, pred, label, sample_weight=None):  # noqa: N803
        loss = F.square(self._hinge(F, pred, label))
        loss = _weighted(F, loss, self._weight, sample_weight)
        return F.mean(loss, axis=self._batch_axis, exclude=True)


class LogisticLoss(Loss):
    """log(1 + exp(-pred * label)) for labels -1/1 ('signed') or 0/1 ('binary')."""

    def __init__(self, weight=None, batch_axis: int = 0, label_format: str = "signed",
                 **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        if label_format not in ("signed", "binary"):
            raise ValueError(f"label_format can only be signed or binary, recieved "
                             f"{label_format}.")
        self._label_format = label_format

    def hybrid_forward(self, F, pred, label, sample_weight=None):  # noqa: N803
        label = _reshape_like(F, label, pred)
        if self._label_format == "signed":
            label = (label + 1.0) / 2.0
        loss = F.relu(pred) - pred * label + _softrelu(F, -F.abs(pred))
        loss = _weighted(F, loss, self._weight, sample_weight)
        return F.mean(loss, axis=self._batch_axis, exclude=True)


class TripletLoss(Loss):
    """max(0, |pos - pred|^2 - |neg - pred|^2 + margin), squared distances summed per sample."""

    def __init__(self, margin: float = 1, weight=None, batch_axis: int = 0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        self._margin = margin

    def hybrid_forward(self, F, pred, positive, negative):  # noqa: N803
        positive = _reshape_like(F, positive, pred)
        negative = _reshape_like(F, negative, pred)
        loss = F.sum(F.square(positive - pred) - F.square(negative - pred),
                     axis=self._batch_axis, exclude=True)
        return _weighted(F, F.relu(loss + self._margin), self._weight, None)


class CosineEmbeddingLoss(Loss):
    """1 - cos(x1, x2) for label 1, max(0, cos(x1, x2) - margin) for label -1; shape (N, 1)
    as MXNet returns it (no mean over a batch axis)."""

    def __init__(self, weight=None, batch_axis: int = 0, margin: float = 0, **kwargs):
        super().__init__(weight, batch_axis, **kwargs)
        self._margin = margin

    def hybrid_forward(self, F, input1, input2, label, sample_weight=None):  # noqa: N803
        input1 = _reshape_like(F, input1, input2)
        label = F.reshape(label, shape=(-1, 1))
        x_norm = F.reshape(F.norm(input1, axis=-1), shape=(-1, 1))
        y_norm = F.reshape(F.norm(input2, axis=-1), shape=(-1, 1))
        dot = F.reshape(F.sum(input1 * input2, axis=-1), shape=(-1, 1))
        cos = dot / F.maximum(x_norm * y_norm, 1e-12)
        loss = (1 - cos) * _equal_mask(F, label, 1.0) + F.relu(
            _equal_mask(F, label, -1.0) * (cos - self._margin))
        return _weighted(F, loss, self._weight, sample_weight)


class CTCLoss(Loss):
    """Connectionist temporal classification loss (the CTCLoss op, blank = the last class).

    pred: scores (N, T, C) for layout 'NTC' or (T, N, C) for 'TNC'; label (N, L) for 'NT' or
    (L, N) for 'TN', padded with -1; optional pred_lengths / label_lengths (N,).
    """

    def __init__(self, layout: str = "NTC", label_layout: str = "NT", weight=None, **kwargs):
        if layout not in ("NTC", "TNC"):
            raise CoarsenetError(f"CTCLoss: layout must be 'NTC' or 'TNC', got {layout!r}")
        if label_layout not in ("NT", "TN"):
            raise CoarsenetError(f"CTCLoss: label_layout must be 'NT' or 'TN', got "
                                 f"{label_layout!r}")
        self._layout, self._label_layout = layout, label_layout
        super().__init__(weight, label_layout.find("N"), **kwargs)

    def hybrid_forward(self, F, pred, label, pred_lengths=None, label_lengths=None,  # noqa: N803
                       sample_weight=None):
        if self._layout == "NTC":
            pred = F.swapaxes(pred, 0, 1)
        if self._batch_axis == 1:
            label = F.swapaxes(label, 0, 1)
        extra = [a for a in (pred_lengths, label_lengths) if a is not None]
        loss = F.CTCLoss(pred, label, *extra, use_data_lengths=pred_lengths is not None,
                         use_label_lengths=label_lengths is not None, blank_label="last")
        return _weighted(F, loss, self._weight, sample_weight)
