"""Evaluation metrics, MXNet style: update(labels, preds) with lists of arrays, get() -> (name, value).

Each metric keeps a running sum and an instance count, so metrics from several workers combine
by adding those two numbers (see `global_state`/`set_global_state`).
"""
from __future__ import annotations

import numpy

from .base import CoarsenetError


def _np(x) -> numpy.ndarray:
    return x.asnumpy() if hasattr(x, "asnumpy") else numpy.asarray(x)


def _as_list(x) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def check_label_shapes(labels, preds, wrap: bool = False, shape: bool = False):
    """MXNet's helper for metric authors: raises unless labels and preds have as many entries
    (or, with shape=True, the same shape); wrap=True turns a single array into a list."""
    got = (labels.shape, preds.shape) if shape else (len(labels), len(preds))
    if got[0] != got[1]:
        raise CoarsenetError(f"Shape of labels {got[0]} does not match shape of predictions "
                             f"{got[1]}")
    if wrap:
        labels = [labels] if hasattr(labels, "asnumpy") else labels
        preds = [preds] if hasattr(preds, "asnumpy") else preds
    return labels, preds


class EvalMetric:
    """Subclasses define _update_one(label, pred) for one pair of numpy arrays, or override
    update(labels, preds) itself (MXNet's extension point)."""

    def __init__(self, name: str, output_names=None, label_names=None, **kwargs):
        self.name = str(name)
        self._kwargs = kwargs
        self.output_names = output_names
        self.label_names = label_names
        self.reset()

    def reset(self) -> None:
        self.num_inst = 0
        self.sum_metric = 0.0
        self._global_base = (0.0, 0)  # what reset_local() set aside since the last reset()

    def update(self, labels, preds) -> None:
        labels, preds = _as_list(labels), _as_list(preds)
        if len(labels) != len(preds):
            raise CoarsenetError(
                f"{self.name}: expected as many labels as predictions, found {len(labels)} labels "
                f"and {len(preds)} predictions")
        for label, pred in zip(labels, preds):
            self._update_one(_np(label), _np(pred))

    def _update_one(self, label: numpy.ndarray, pred: numpy.ndarray) -> None:
        """Adds one (label, prediction) pair to sum_metric and num_inst."""
        raise NotImplementedError(f"{type(self).__name__} defines neither update() nor "
                                  "_update_one()")

    def update_dict(self, label: dict, pred: dict) -> None:
        """update() with arrays picked by output_names / label_names (all when None)."""
        preds = [pred[n] for n in self.output_names] if self.output_names is not None \
            else list(pred.values())
        labels = [label[n] for n in self.label_names] if self.label_names is not None \
            else list(label.values())
        self.update(labels, preds)

    def reset_local(self) -> None:
        """Starts a new local window; get_global() still counts everything since reset()."""
        base_sum, base_num = getattr(self, "_global_base", (0.0, 0))
        self._global_base = (base_sum + self.sum_metric, base_num + self.num_inst)
        self.num_inst = 0
        self.sum_metric = 0.0

    def get_global(self):
        """The value over everything since reset() (reset_local() windows included)."""
        base_sum, base_num = getattr(self, "_global_base", (0.0, 0))
        if not base_num:
            return self.get()
        local = self.sum_metric, self.num_inst
        self.sum_metric, self.num_inst = base_sum + local[0], base_num + local[1]
        try:
            return self.get()
        finally:
            self.sum_metric, self.num_inst = local

    def get_global_name_value(self) -> list:
        name, value = self.get_global()
        return list(zip(_as_list(name), _as_list(value)))

    def get_config(self) -> dict:
        config = dict(self._kwargs)
        config.update({"metric": type(self).__name__, "name": self.name,
                       "output_names": self.output_names, "label_names": self.label_names})
        return config

    def get(self):
        value = self.sum_metric / self.num_inst if self.num_inst else float("nan")
        return self.name, value

    def get_name_value(self) -> list:
        name, value = self.get()
        return list(zip(_as_list(name), _as_list(value)))

    def global_state(self) -> tuple[float, int]:
        """(sum, count): what to add up across workers."""
        return self.sum_metric, self.num_inst

    def set_global_state(self, sum_metric: float, num_inst: int) -> None:
        self.sum_metric, self.num_inst = sum_metric, num_inst

    def __str__(self) -> str:
        return "EvalMetric: " + str(dict(self.get_name_value()))


def _check_batch(name: str, label: numpy.ndarray, pred: numpy.ndarray) -> None:
    if label.shape[0] != pred.shape[0]:
        raise CoarsenetError(
            f"{name}: labels and predictions must have the same batch size, found {label.shape[0]} "
            f"labels and {pred.shape[0]} predictions")


class Accuracy(EvalMetric):
    """Fraction of samples whose arg-max prediction (along `axis`) equals the label."""

    def __init__(self, axis: int = 1, name: str = "accuracy", **kwargs):
        self.axis = axis
        super().__init__(name, **kwargs)

    def _update_one(self, label, pred):
        _check_batch(self.name, label, pred)
        if pred.shape != label.shape:
            pred = pred.argmax(axis=self.axis)
        self.sum_metric += float((pred.astype(numpy.int64).ravel() == label.astype(numpy.int64).ravel()).sum())
        self.num_inst += label.size


class TopKAccuracy(EvalMetric):
    """Fraction of samples whose label is among the top_k predictions."""

    def __init__(self, top_k: int = 1, name: str = "top_k_accuracy", **kwargs):
        if top_k < 1:
            raise CoarsenetError(f"TopKAccuracy: top_k must be >= 1, found {top_k}")
        self.top_k = top_k
        super().__init__(f"{name}_{top_k}", **kwargs)

    def _update_one(self, label, pred):
        _check_batch(self.name, label, pred)
        k = min(self.top_k, pred.shape[1])
        top = numpy.argpartition(-pred, k - 1, axis=1)[:, :k]
        hits = (top == label.astype(numpy.int64).reshape(-1, 1)).any(axis=1)
        self.sum_metric += float(hits.sum())
        self.num_inst += label.shape[0]


class CrossEntropy(EvalMetric):
    """Mean of -log p(label) for class probabilities `pred`."""

    def __init__(self, eps: float = 1e-12, name: str = "cross-entropy", **kwargs):
        self.eps = eps
        super().__init__(name, **kwargs)

    def _update_one(self, label, pred):
        _check_batch(self.name, label, pred)
        idx = label.astype(numpy.int64).ravel()
        if idx.min(initial=0) < 0 or idx.max(initial=0) >= pred.shape[1]:
            raise CoarsenetError(f"{self.name}: labels must lie in [0, {pred.shape[1]}), found "
                                 f"{idx.min()}..{idx.max()}")
        prob = pred.reshape(pred.shape[0], -1)[numpy.arange(idx.size), idx]
        self.sum_metric += float(-numpy.log(prob + self.eps).sum())
        self.num_inst += idx.size


class MSE(EvalMetric):
    def __init__(self, name: str = "mse", **kwargs):
        super().__init__(name, **kwargs)

    def _update_one(self, label, pred):
        _check_batch(self.name, label, pred)
        self.sum_metric += float(numpy.mean((label.reshape(pred.shape) - pred) ** 2)) * label.shape[0]
        self.num_inst += label.shape[0]


class MAE(EvalMetric):
    def __init__(self, name: str = "mae", **kwargs):
        super().__init__(name, **kwargs)

    def _update_one(self, label, pred):
        _check_batch(self.name, label, pred)
        self.sum_metric += float(numpy.mean(numpy.abs(label.reshape(pred.shape) - pred))) * label.shape[0]
        self.num_inst += label.shape[0]


class RMSE(MSE):
    def __init__(self, name: str = "rmse", **kwargs):
        super().__init__(name, **kwargs)

    def get(self):
        name, value = super().get()
        return name, float(numpy.sqrt(value))


class CustomMetric(EvalMetric):
    """A metric from feval(label, pred) on numpy arrays, per (label, pred) pair: a number
    (averaged over pairs) or a (sum, count) tuple. A lambda is named 'custom(<lambda>)'."""

    def __init__(self, feval, name: str | None = None, allow_extra_outputs: bool = False,
                 output_names=None, label_names=None):
        if not callable(feval):
            raise CoarsenetError(f"CustomMetric: feval must be callable, found "
                                 f"{type(feval).__name__}")
        if name is None:
            name = getattr(feval, "__name__", "custom")
            if "<" in name:
                name = f"custom({name})"
        self._feval = self.feval = feval
        self._allow_extra_outputs = allow_extra_outputs
        super().__init__(name, output_names=output_names, label_names=label_names,
                         feval=feval, allow_extra_outputs=allow_extra_outputs)

    def update(self, labels, preds) -> None:
        labels, preds = _as_list(labels), _as_list(preds)
        if not self._allow_extra_outputs and len(labels) != len(preds):
            raise CoarsenetError(
                f"{self.name}: expected as many labels as predictions, found {len(labels)} labels "
                f"and {len(preds)} predictions (pass allow_extra_outputs=True to allow more)")
        for label, pred in zip(labels, preds):
            self._update_one(_np(label), _np(pred))

    def _update_one(self, label, pred):
        value = self._feval(label, pred)
        if isinstance(value, tuple):
            self.sum_metric += value[0]
            self.num_inst += value[1]
        else:
            self.sum_metric += value
            self.num_inst += 1

    def get_config(self):
        raise NotImplementedError("CustomMetric cannot be serialized")


def np_metric(numpy_feval, name=None, allow_extra_outputs: bool = False) -> CustomMetric:
    """mx.metric.np: a CustomMetric whose feval gets numpy arrays, named after numpy_feval
    unless `name` is given."""
    def feval(label, pred):
        return numpy_feval(label, pred)

    feval.__name__ = getattr(numpy_feval, "__name__", "feval")
    return CustomMetric(feval, name, allow_extra_outputs)


class CompositeEvalMetric(EvalMetric):
    """Several metrics updated together; get() returns lists of names and values."""

    def __init__(self, metrics=None, name: str = "composite", **kwargs):
        self.metrics = [create(m) for m in (metrics or [])]
        super().__init__(name, **kwargs)

    def add(self, metric) -> None:
        self.metrics.append(create(metric))

    def reset(self) -> None:
        for m in getattr(self, "metrics", []):
            m.reset()

    def update(self, labels, preds) -> None:
        for m in self.metrics:
            m.update(labels, preds)

    def _update_one(self, label, pred) -> None:
        for m in self.metrics:
            m._update_one(label, pred)

    def get(self):
        pairs = [m.get() for m in self.metrics]
        return [n for n, _ in pairs], [v for _, v in pairs]

    def get_name_value(self) -> list:
        return [pair for m in self.metrics for pair in m.get_name_value()]

    def get_metric(self, index: int) -> EvalMetric:
        if not 0 <= index < len(self.metrics):
            raise CoarsenetError(f"{self.name}: metric index {index} is out of range "
                                 f"[0, {len(self.metrics)})")
        return self.metrics[index]

    def reset_local(self) -> None:
        for m in self.metrics:
            m.reset_local()

    def get_global(self):
        pairs = [m.get_global() for m in self.metrics]
        return [n for n, _ in pairs], [v for _, v in pairs]

    def get_global_name_value(self) -> list:
        return [pair for m in self.metrics for pair in m.get_global_name_value()]


_BY_NAME = {
    "acc": Accuracy, "accuracy": Accuracy, "top_k_accuracy": TopKAccuracy,
    "top_k_acc": TopKAccuracy, "topkaccuracy": TopKAccuracy, "ce": CrossEntropy,
    "cross-entropy": CrossEntropy, "crossentropy": CrossEntropy, "mse": MSE, "mae": MAE,
    "rmse": RMSE, "composite": CompositeEvalMetric, "compositeevalmetric": CompositeEvalMetric,
    "custommetric": CustomMetric,
}


def register(klass):
    """Makes `create(name)` know a metric class by its lowercase class name (a decorator)."""
    if not (isinstance(klass, type) and issubclass(klass, EvalMetric)):
        raise CoarsenetError(f"metric.register: expected a subclass of EvalMetric, found {klass}")
    _BY_NAME[klass.__name__.lower()] = klass
    return klass


def alias(*names):
    """A decorator registering a metric class under extra names."""
    def reg(klass):
        for n in names:
            _BY_NAME[n.lower()] = klass
        return register(klass)

    return reg


def create(metric, *args, **kwargs) -> EvalMetric:
    """A metric from a name ('acc', 'ce', 'f1', ...), an instance, a callable or a list."""
    if isinstance(metric, EvalMetric):
        return metric
    if callable(metric):
        return CustomMetric(metric, *args, **kwargs)
    if isinstance(metric, (list, tuple)):
        composite = CompositeEvalMetric()
        for m in metric:
            composite.add(create(m, *args, **kwargs))
        return composite
    klass = _BY_NAME.get(str(metric).lower())
    if klass is None:
        raise CoarsenetError(
            f"unknown metric '{metric}'; expected one of: {', '.join(sorted(_BY_NAME))}")
    return klass(*args, **kwargs)


class Perplexity(EvalMetric):
    """exp(mean of -log p(label)) over the labels that are not `ignore_label` (padding).

    pred holds probabilities with the classes on `axis` (default last); labels are flattened
    to match the other axes. sum_metric / num_inst stay additive (negative log-likelihood and
    label count), so workers combine as for every metric; get() takes the exponential.
    """

    def __init__(self, ignore_label=None, axis: int = -1, name: str = "perplexity", **kwargs):
        self.ignore_label, self.axis = ignore_label, axis
        super().__init__(name, **kwargs)

    def _update_one(self, label, pred):
        probs = numpy.moveaxis(pred, self.axis, -1).reshape(-1, pred.shape[self.axis])
        idx = label.astype(numpy.int64).ravel()
        if idx.size != probs.shape[0]:
            raise CoarsenetError(f"{self.name}: {idx.size} labels for {probs.shape[0]} "
                                 f"predictions of {probs.shape[1]} classes")
        keep = numpy.ones(idx.size, bool) if self.ignore_label is None else \
            idx != int(self.ignore_label)
        bad = idx[keep][(idx[keep] < 0) | (idx[keep] >= probs.shape[1])]
        if bad.size:
            raise CoarsenetError(f"{self.name}: labels must lie in [0, {probs.shape[1]}), "
                                 f"found {int(bad[0])}")
        p = probs[numpy.arange(idx.size)[keep], idx[keep]]
        self.sum_metric += float(-numpy.log(numpy.maximum(p, 1e-10)).sum())
        self.num_inst += int(keep.sum())

    def get(self):
        value = float(numpy.exp(self.sum_metric / self.num_inst)) if self.num_inst else float("nan")
        return self.name, value


_BY_NAME["perplexity"] = Perplexity
