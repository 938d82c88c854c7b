"""Losses (MXNet Gluon names): per-sample losses, averaged over all but the batch axis."""
from __future__ import annotations

from .block import HybridBlock


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
