"""pipeline: one Plan per binding; with the mirror option the mirror pass's chosen candidate is
bound as planned (nothing re-inferred or re-planned), and it is what running inference,
scheduling and planning again on its graph gives."""
import numpy as np

import coarsenet as cn
from coarsenet.graph import VARIABLE, Entry
from coarsenet.passes import pipeline
from coarsenet.passes.infer_shape import infer_shape
from coarsenet.passes.infer_type import infer_type
from coarsenet.passes.plan_memory import plan_memory
from coarsenet.passes.schedule import schedule


def _net(units=6):
    h = cn.sym.Convolution(cn.sym.Variable("data"), num_filter=2, kernel=(3, 3), pad=(1, 1),
                           name="stem")
    for i in range(units):
        b = cn.sym.Activation(cn.sym.Convolution(h, num_filter=2, kernel=(3, 3), pad=(1, 1),
                                                 name=f"c{i}"), act_type="relu", name=f"r{i}")
        h = h + b
    h = cn.sym.FullyConnected(cn.sym.Flatten(h), num_hidden=3, name="fc")
    return cn.sym.SoftmaxOutput(h, name="softmax")


def _plan(mirror):
    net = _net()
    graph = net._graph()
    shapes = {"data": (2, 3, 5, 5), "softmax_label": (2,)}
    known = dict(zip(net.list_arguments(), net.infer_shape(**shapes)[0]))
    wrt = {n: "write" for n in graph.variables() if n.name not in shapes}
    return pipeline.build_plan(graph, known, {}, wrt, mirror)


def test_mirror_candidate_is_bound_as_planned(monkeypatch):
    calls = []
    for name in ("schedule", "plan_memory", "infer_shape", "infer_type"):
        real = getattr(pipeline, name)
        monkeypatch.setattr(pipeline, name,
                            lambda *a, _real=real, _name=name, **k: calls.append(_name)
                            or _real(*a, **k))
    plan = _plan("min")
    # Inference ran once on the gradient graph; the candidate's schedule and plan were reused.
    assert calls == ["infer_shape", "infer_type"]
    assert any(n.is_recompute for n in plan.schedule.order)
    # The same figures as running the passes again on the chosen graph.
    known = {n.name: plan.shapes[e] for n in plan.graph.variables()
             for e in [Entry(n, 0)] if n.like is None}
    shapes = infer_shape(plan.graph, known)
    dtypes = infer_type(plan.graph, {k: np.float32 for k in known}, default=np.float32)
    assert shapes == {e: plan.shapes[e] for e in shapes}
    assert all(dtypes[e] == plan.dtypes[e] for e in dtypes)
    sched = schedule(plan.graph, plan.num_forward_heads)
    assert sched.order == plan.schedule.order
    external = {e: ("grad", v.name) for v, e in plan.grads.items() if e is not None}
    again = plan_memory(plan.graph, sched, shapes, dtypes, external)
    assert again.arena_bytes == plan.memory.arena_bytes
    assert again.offsets == plan.memory.offsets and again.external == plan.memory.external


def test_mirror_gradient_heads_keep_their_variables():
    plan = _plan("min")
    heads = plan.graph.heads[plan.num_forward_heads:]
    assert [e for e in plan.grads.values() if e is not None] == heads
    for var, e in plan.grads.items():
        assert var.kind == VARIABLE
        assert plan.memory.external[e] == ("grad", var.name)
