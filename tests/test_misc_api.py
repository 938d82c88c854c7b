"""mx.AttrScope, mx.viz.plot_network, the context helpers, and missing names, against real
MXNet 1.9.1 (tests/fixtures/mxnet/make_misc_api.py made misc_api.json)."""
import json
import os
import sys

import numpy as np
import pytest

import coarsenet as mx

with open(os.path.join(os.path.dirname(__file__), "fixtures", "mxnet", "misc_api.json")) as _f:
    REF = json.load(_f)


def test_attr_scope_matches_mxnet():
    with mx.AttrScope(ctx_group="stage1", lr_mult="0.5"):
        x = mx.sym.Variable("x")
        y = mx.sym.Variable("y", attr={"lr_mult": "2", "mine": "yes"})
        with mx.AttrScope(lr_mult="0.1"):
            fc = mx.sym.FullyConnected(x, num_hidden=4, name="fc")
        z = mx.sym.elemwise_add(fc, y, name="add")
    after = mx.sym.Variable("after")
    ref = REF["attr_scope"]
    for s in (x, y, fc, z, after):
        assert s.list_attr() == ref[s.name]
    assert z.attr_dict() == ref["attr_dict"]
    assert fc.attr("lr_mult") == "0.1" and fc.attr("__lr_mult__") == "0.1"
    with pytest.raises(mx.CoarsenetError, match="must be a string"):
        mx.AttrScope(lr_mult=0.1)


def test_attr_scope_lr_mult_reaches_the_optimizer():
    data = mx.sym.Variable("data")
    with mx.AttrScope(lr_mult="0"):
        frozen = mx.sym.FullyConnected(data, num_hidden=3, name="frozen")
    net = mx.sym.LinearRegressionOutput(mx.sym.FullyConnected(frozen, num_hidden=1, name="out"),
                                        name="lro")
    mod = mx.mod.Module(net, label_names=["lro_label"])
    it = mx.io.NDArrayIter(np.ones((4, 2), np.float32), np.ones((4, 1), np.float32), 4,
                           label_name="lro_label")
    mod.bind(it.provide_data, it.provide_label)
    mod.init_params(mx.init.Uniform(0.5))
    before = mod.get_params()[0]
    mod.init_optimizer(optimizer_params={"learning_rate": 0.5})
    mod.forward_backward(next(iter(it)))
    mod.update()
    after = mod.get_params()[0]
    np.testing.assert_array_equal(after["frozen_weight"].asnumpy(),
                                  before["frozen_weight"].asnumpy())
    assert not np.array_equal(after["out_weight"].asnumpy(), before["out_weight"].asnumpy())


def _plot_net():
    data = mx.sym.Variable("data")
    net = mx.sym.Convolution(data, kernel=(3, 3), num_filter=4, name="conv")
    net = mx.sym.Activation(net, act_type="relu", name="relu")
    net = mx.sym.FullyConnected(mx.sym.flatten(net, name="flat"), num_hidden=3, name="fc")
    return mx.sym.SoftmaxOutput(net, name="softmax")


def test_plot_network_gives_mxnets_digraph():
    pytest.importorskip("graphviz")
    dot = mx.viz.plot_network(_plot_net(), shape={"data": (1, 1, 5, 5)})
    assert type(dot).__name__ == REF["plot"]["type"]
    assert dot.source.strip() == REF["plot"]["source"].strip()


def test_plot_network_without_graphviz_gives_dot_text(monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", None)  # import graphviz now fails
    text = mx.viz.plot_network(_plot_net(), shape={"data": (1, 1, 5, 5)})
    assert isinstance(text, str) and text.startswith('digraph "plot" {')
    assert '"conv" [label="Convolution\\n3x3/1, 4"' in text
    assert '"fc" -> "flat" [dir="back", arrowtail="open", label="36"];' in text
    assert "conv_weight" not in text  # hidden weights


def test_context_helpers():
    assert mx.util.get_gpu_count() == REF["gpu_count"] == 0
    ctx = mx.cpu_pinned()
    assert ctx.device_id == REF["cpu_pinned"][1]
    assert ctx == mx.cpu()  # computes on the CPU (MXNet names it cpu_pinned)
    a = mx.nd.ones((2,), ctx=ctx)
    assert a.asnumpy().tolist() == [1.0, 1.0]


@pytest.mark.parametrize("path", ["mxnet.no_such_name", "mxnet.nd.no_such_name",
                                  "mxnet.metric.no_such_name", "mxnet.profiler.no_such_name",
                                  "mxnet.mon.no_such_name", "mxnet.model.no_such_name"])
def test_missing_names_say_what_is_missing(path):
    from coarsenet import compat

    mxnet = compat.alias_mxnet()
    obj = mxnet
    *parents, leaf = path.split(".")[1:]
    for p in parents:
        obj = getattr(obj, p)
    with pytest.raises(AttributeError, match="coarsenet does not implement mxnet\\."):
        getattr(obj, leaf)


def test_new_names_resolve_through_the_alias():
    from coarsenet import compat

    mxnet = compat.alias_mxnet()
    for name in ("mod.SequentialModule", "mod.PythonLossModule", "mod.BaseModule",
                 "model.FeedForward", "model.BatchEndParam", "mon.Monitor", "profiler.set_config",
                 "metric.F1", "metric.np", "optimizer.LBSGD", "init.Orthogonal", "AttrScope",
                 "viz.plot_network", "util.get_gpu_count", "cpu_pinned"):
        obj = mxnet
        for part in name.split("."):
            obj = getattr(obj, part)
        assert obj is not None
    import importlib

    assert importlib.import_module("mxnet.monitor").Monitor is mx.mon.Monitor
    assert importlib.import_module("mxnet.profiler") is mx.profiler
    assert importlib.import_module("mxnet.visualization").plot_network is mx.viz.plot_network
    assert importlib.import_module("mxnet.attribute").AttrScope is mx.AttrScope
    for path, name in (("mxnet.module.base_module", "BaseModule"),
                       ("mxnet.module.sequential_module", "SequentialModule"),
                       ("mxnet.module.python_module", "PythonLossModule"),
                       ("mxnet.module.module", "Module")):
        assert getattr(importlib.import_module(path), name) is getattr(mx.mod, name)


def test_broadcast_to_method_takes_any_int_sequence():
    x = mx.nd.array(np.arange(3, dtype=np.float32).reshape(3, 1))
    out = x.broadcast_to(np.array([2, 3, 4]))  # numpy ints, one more axis (MXNet's method)
    np.testing.assert_array_equal(out.asnumpy(), np.broadcast_to(np.arange(3).reshape(3, 1),
                                                                 (2, 3, 4)))
    assert x.broadcast_like(mx.nd.zeros((3, 5))).shape == (3, 5)
