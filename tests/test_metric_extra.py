"""Metrics against real MXNet 1.9.1 on the same batches (tests/fixtures/mxnet/make_metrics.py
made metrics_inputs.npz and metrics_values.json), and MXNet's extension points."""
import json
import math
import os
import sys

import numpy as np
import pytest

import coarsenet as cn

HERE = os.path.join(os.path.dirname(__file__), "fixtures", "mxnet")
sys.path.insert(0, HERE)
from metric_cases import CASES, N_BATCHES  # noqa: E402  the settings the fixture was made with

with open(os.path.join(HERE, "metrics_values.json")) as _f:
    EXPECTED = json.load(_f)


@pytest.mark.parametrize("key", sorted(CASES))
def test_metric_matches_mxnet(key):
    data = np.load(os.path.join(HERE, "metrics_inputs.npz"))
    expr, kind = CASES[key]
    metric = eval(expr, {"mx": cn, "np": np})  # noqa: S307  the fixture's own expressions
    for b in range(N_BATCHES):
        metric.update([cn.nd.array(data[f"{kind}_label{b}"])],
                      [cn.nd.array(data[f"{kind}_pred{b}"])])
    name, value = metric.get()
    assert name == EXPECTED[key]["name"]
    np.testing.assert_allclose(value, EXPECTED[key]["value"], rtol=1e-6, atol=1e-9)


def test_metric_np_is_the_factory_not_numpy():
    m = cn.metric.np(lambda label, pred: 2.0)
    assert isinstance(m, cn.metric.CustomMetric)
    m.update([cn.nd.zeros((2,))], [cn.nd.zeros((2,))])
    assert m.get()[1] == 2.0


def test_subclass_overriding_update_works():
    class Count(cn.metric.EvalMetric):
        def __init__(self):
            super().__init__("count")

        def update(self, labels, preds):
            for p in preds:
                self.sum_metric += p.shape[0]
                self.num_inst += 1

    m = Count()
    m.update([cn.nd.zeros((3,))], [cn.nd.zeros((3, 2))])
    m.update([cn.nd.zeros((5,))], [cn.nd.zeros((5, 2))])
    assert m.get() == ("count", 4.0)
    # and Module.score drives it through update_metric
    data = cn.sym.Variable("data")
    net = cn.sym.SoftmaxOutput(cn.sym.FullyConnected(data, num_hidden=2, name="fc"),
                               name="softmax")
    mod = cn.mod.Module(net)
    mod.bind([("data", (4, 3))], [("softmax_label", (4,))])
    mod.init_params()
    it = cn.io.NDArrayIter(np.ones((8, 3), np.float32), np.zeros(8, np.float32), 4)
    assert mod.score(it, Count()) == [("count", 4.0)]


def test_register_and_create_by_name():
    @cn.metric.register
    class Twice(cn.metric.EvalMetric):
        def __init__(self, name="twice"):
            super().__init__(name)

        def update(self, labels, preds):
            self.sum_metric += 2
            self.num_inst += 1

    m = cn.metric.create("twice")
    assert isinstance(m, Twice)
    m.update([], [])
    assert m.get() == ("twice", 2.0)
    with pytest.raises(cn.CoarsenetError, match="unknown metric 'nosuch'"):
        cn.metric.create("nosuch")


def test_f1_rejects_more_than_two_classes():
    with pytest.raises(cn.CoarsenetError, match="binary"):
        cn.metric.F1().update([cn.nd.array([0, 1, 2])], [cn.nd.ones((3, 2))])


def test_reset_local_keeps_the_global_value():
    m = cn.metric.MSE()
    m.update([cn.nd.array([0.0])], [cn.nd.array([1.0])])
    m.reset_local()
    m.update([cn.nd.array([0.0])], [cn.nd.array([3.0])])
    assert m.get()[1] == 9.0
    assert m.get_global()[1] == 5.0
    m.reset()
    assert math.isnan(m.get_global()[1])


def test_check_label_shapes():
    a, b = cn.nd.zeros((3,)), cn.nd.zeros((3,))
    assert cn.metric.check_label_shapes(a, b, wrap=True, shape=True) == ([a], [b])
    with pytest.raises(cn.CoarsenetError, match="does not match"):
        cn.metric.check_label_shapes([a], [a, b])
    with pytest.raises(cn.CoarsenetError, match="does not match"):
        cn.metric.check_label_shapes(a, cn.nd.zeros((4,)), shape=True)
