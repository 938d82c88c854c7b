"""mx.metric: the namespace. EvalMetric, the registry and the basic metrics live in
metric_base, the others in metric_extra (built on metric_base): imports go one way.
"""
from .metric_base import *  # noqa: F401,F403  the base classes and the basic ones
from .metric_base import _BY_NAME, np_metric
from .metric_extra import (F1, MCC, PCC, Caffe, Loss, NegativeLogLikelihood,  # noqa: F401
                           PearsonCorrelation, Torch)

_BY_NAME.update({"f1": F1, "mcc": MCC, "pcc": PCC, "loss": Loss, "torch": Torch,
                 "caffe": Caffe, "nll_loss": NegativeLogLikelihood,
                 "negativeloglikelihood": NegativeLogLikelihood, "pearsonr": PearsonCorrelation,
                 "pearsoncorrelation": PearsonCorrelation})

# mx.metric.np is MXNet's metric factory, not numpy (this module calls numpy `numpy`).
np = np_metric
