"""The metrics MXNet scripts use beyond accuracy and errors: F1, MCC (binary classification),
PearsonCorrelation / PCC, Loss (and its Torch / Caffe names), NegativeLogLikelihood.

They follow MXNet 1.9.1's definitions, including its aggregation over batches: average='macro'
averages the per-update scores, 'micro' pools the counts of every update since reset().
"""
from __future__ import annotations

import math

import numpy

from .base import CoarsenetError
from .metric_base import EvalMetric, _as_list, _check_batch, _np


def _pairs(name, labels, preds):
    labels, preds = _as_list(labels), _as_list(preds)
    if len(labels) != len(preds):
        raise CoarsenetError(f"{name}: expected as many labels as predictions, found "
                             f"{len(labels)} labels and {len(preds)} predictions")
    return zip(labels, preds)


class _Binary:
    """True/false positive/negative counts of arg-max predictions against 0/1 labels."""

    def __init__(self):
        self.tp = self.fp = self.fn = self.tn = 0

    def add(self, name, label, pred):
        label = label.astype(numpy.int32).ravel()
        _check_batch(name, label, pred)
        if len(numpy.unique(label)) > 2:
            raise CoarsenetError(f"{name}: supports binary classification only; found labels "
                                 f"{numpy.unique(label)[:5].tolist()}...")
        predicted = pred.argmax(axis=1) == 1
        positive = label == 1
        self.tp += int((predicted & positive).sum())
        self.fp += int((predicted & ~positive).sum())
        self.fn += int((~predicted & positive).sum())
        self.tn += int((~predicted & ~positive).sum())

    @property
    def total(self):
        return self.tp + self.fp + self.fn + self.tn

    def fscore(self):
        precision = self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0
        recall = self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0
        return 2 * precision * recall / (precision + recall) if precision + recall else 0.0

    def mcc(self):
        if not self.total:
            return 0.0
        denom = 1.0
        for t in (self.tp + self.fp, self.tp + self.fn, self.tn + self.fp, self.tn + self.fn):
            if t:
                denom *= t  # zero terms count as 1 (MXNet's convention)
        return (self.tp * self.tn - self.fp * self.fn) / math.sqrt(denom)


class _BinaryMetric(EvalMetric):
    _score = None  # the _Binary method giving the score

    def __init__(self, name, output_names=None, label_names=None, average="macro"):
        if average not in ("macro", "micro"):
            raise CoarsenetError(f"{name}: average must be 'macro' or 'micro', found "
                                 f"'{average}'")
        self.average = average
        super().__init__(name, output_names=output_names, label_names=label_names)

    def reset(self):
        super().reset()
        self._stats = _Binary()

    def reset_local(self):
        super().reset_local()
        self._stats = _Binary()

    def update(self, labels, preds):
        for label, pred in _pairs(self.name, labels, preds):
            self._stats.add(self.name, _np(label), _np(pred))
        score = getattr(self._stats, self._score)()
        if self.average == "macro":  # one score per update, then fresh counts
            self.sum_metric += score
            self.num_inst += 1
            self._stats = _Binary()
        else:
            self.sum_metric = score * self._stats.total
            self.num_inst = self._stats.total


class F1(_BinaryMetric):
    """F1 = 2 precision recall / (precision + recall) of the class-1 predictions."""

    _score = "fscore"

    def __init__(self, name="f1", output_names=None, label_names=None, average="macro"):
        super().__init__(name, output_names, label_names, average)


class MCC(_BinaryMetric):
    """Matthews correlation coefficient; zero factors of the denominator count as 1."""

    _score = "mcc"

    def __init__(self, name="mcc", output_names=None, label_names=None, average="macro"):
        super().__init__(name, output_names, label_names, average)


class PearsonCorrelation(EvalMetric):
    """Pearson correlation of flattened labels and predictions: 'macro' averages each pair's
    coefficient; 'micro' pools every value since reset() (running means and co-moments)."""

    def __init__(self, name="pearsonr", output_names=None, label_names=None, average="macro"):
        if average not in ("macro", "micro"):
            raise CoarsenetError(f"{name}: average must be 'macro' or 'micro', found "
                                 f"'{average}'")
        self.average = average
        super().__init__(name, output_names=output_names, label_names=label_names)

    def reset(self):
        super().reset()
        self._n = 0
        self._mean_l = self._mean_p = 0.0
        self._m2_l = self._m2_p = self._cov = 0.0

    def _update_one(self, label, pred):
        if label.size != pred.size:
            raise CoarsenetError(f"{self.name}: labels and predictions must have the same size, "
                                 f"found {label.shape} and {pred.shape}")
        label = label.ravel().astype(numpy.float64)
        pred = pred.ravel().astype(numpy.float64)
        self.num_inst += 1
        if self.average == "macro":
            self.sum_metric += float(numpy.corrcoef(pred, label)[0, 1])
            return
        # Chan et al.'s pairwise update of means, second moments and co-moment.
        n_a, n_b = self._n, label.size
        n = n_a + n_b
        mean_l_b, mean_p_b = label.mean(), pred.mean()
        d_l, d_p = mean_l_b - self._mean_l, mean_p_b - self._mean_p
        self._m2_l += ((label - mean_l_b) ** 2).sum() + d_l * d_l * n_a * n_b / n
        self._m2_p += ((pred - mean_p_b) ** 2).sum() + d_p * d_p * n_a * n_b / n
        self._cov += ((label - mean_l_b) * (pred - mean_p_b)).sum() + d_l * d_p * n_a * n_b / n
        self._mean_l += d_l * n_b / n
        self._mean_p += d_p * n_b / n
        self._n = n

    def get(self):
        if self.num_inst == 0:
            return self.name, float("nan")
        if self.average == "macro":
            return self.name, self.sum_metric / self.num_inst
        return self.name, float(self._cov / math.sqrt(self._m2_l * self._m2_p))


class PCC(EvalMetric):
    """Multiclass Matthews correlation (Gorodkin's R_K) from the confusion matrix of arg-max
    predictions, pooled over every update since reset()."""

    def __init__(self, name="pcc", output_names=None, label_names=None):
        self.k = 2
        super().__init__(name, output_names=output_names, label_names=label_names)

    def reset(self):
        super().reset()
        self.lcm = numpy.zeros((self.k, self.k), dtype=numpy.float64)

    def _grow(self, k):
        if k > self.k:
            lcm = numpy.zeros((k, k))
            lcm[: self.k, : self.k] = self.lcm
            self.lcm, self.k = lcm, k

    def _update_one(self, label, pred):
        _check_batch(self.name, label.reshape(-1), pred)
        label = label.astype(numpy.int64).ravel()
        predicted = pred.argmax(axis=1) if pred.ndim > 1 else pred.astype(numpy.int64).ravel()
        if label.size and label.min() < 0:
            raise CoarsenetError(f"{self.name}: labels must be >= 0, found {label.min()}")
        self._grow(max(int(label.max(initial=0)), int(predicted.max(initial=0)),
                       pred.shape[1] - 1 if pred.ndim > 1 else 0) + 1)
        numpy.add.at(self.lcm, (predicted, label), 1)
        self.num_inst += 1

    def get(self):
        if self.num_inst == 0:
            return self.name, float("nan")
        c = self.lcm
        n = c.sum()
        x, y = c.sum(axis=1), c.sum(axis=0)
        cov_xy = (numpy.trace(c) * n - x @ y)
        cov_xx = n * n - x @ x
        cov_yy = n * n - y @ y
        if cov_xx == 0 or cov_yy == 0:
            return self.name, float("nan")
        return self.name, float(cov_xy / math.sqrt(cov_xx * cov_yy))


class Loss(EvalMetric):
    """The mean of the outputs themselves (a loss computed by the network); labels unused."""

    def __init__(self, name="loss", output_names=None, label_names=None):
        super().__init__(name, output_names=output_names, label_names=label_names)

    def update(self, _, preds):
        for pred in _as_list(preds):
            value = _np(pred)
            self.sum_metric += float(value.sum())
            self.num_inst += value.size


class Torch(Loss):
    def __init__(self, name="torch", output_names=None, label_names=None):
        super().__init__(name, output_names, label_names)


class Caffe(Loss):
    def __init__(self, name="caffe", output_names=None, label_names=None):
        super().__init__(name, output_names, label_names)


class NegativeLogLikelihood(EvalMetric):
    """Mean of -log p(label) (eps-clipped) for class probabilities `pred`."""

    def __init__(self, eps=1e-12, name="nll-loss", output_names=None, label_names=None):
        self.eps = eps
        super().__init__(name, output_names=output_names, label_names=label_names)

    def _update_one(self, label, pred):
        idx = label.astype(numpy.int64).ravel()
        _check_batch(self.name, idx, pred)
        prob = pred.reshape(pred.shape[0], -1)[numpy.arange(idx.size), idx]
        self.sum_metric += float(-numpy.log(prob + self.eps).sum())
        self.num_inst += idx.size
