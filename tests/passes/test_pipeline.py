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


def test_executor_passes_the_planners_workspace_figure(monkeypatch):
    """The Program gets each call's workspace size from the memory plan (the planner asked the
    op once per node), not by asking the op again."""
    from coarsenet import _core
    import coarsenet.executor as executor

    real, seen = _core.Program, []

    class Recording:
        def __init__(self):
            self._p = real()

        def add_forward(self, op, *args, **kw):
            seen.append((op.name, kw["workspace_bytes"]))
            return self._p.add_forward(op, *args, **kw)

        def add_backward(self, op, *args, **kw):
            seen.append((op.name, kw["workspace_bytes"]))
            return self._p.add_backward(op, *args, **kw)

        def __getattr__(self, name):
            return getattr(self._p, name)

    monkeypatch.setattr(executor._core, "Program", Recording)
    exe = _net(1).simple_bind(grad_req="write", data=(2, 3, 5, 5), softmax_label=(2,))
    planned = {n: ws[1] for n, ws in exe._plan.workspaces.items()}
    assert any(planned.values())  # convolution needs scratch
    assert seen == [(n.op.name, planned.get(n, 0)) for n in exe._sched.order
                    if n.kind in ("op", "backward")]


def test_program_uses_the_given_workspace_figure():
    from coarsenet import _core, ops
    from coarsenet.testing import expect_error

    op = ops.make("Convolution", {"kernel": (3, 3), "num_filter": 2})
    x, w = np.ones((1, 1, 5, 5), np.float32), np.ones((2, 1, 3, 3), np.float32)
    b, y = np.zeros(2, np.float32), np.empty((1, 2, 3, 3), np.float32)
    ws = np.empty(16, np.uint8)
    expect_error(lambda: _core.Program().add_forward(op, [x, w, b], [y], [1], [], ws,
                                                     workspace_bytes=1 << 20),
                 "workspace of 16 bytes is smaller than the 1048576 bytes needed")
