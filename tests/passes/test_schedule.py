"""schedule pass: forward part first and complete, topological order, recomputation just in time."""
import coarsenet as cn
from coarsenet.graph import OP, VARIABLE, Entry, Graph, Node
from coarsenet.passes.gradient import gradient
from coarsenet.passes.schedule import schedule


def _mlp_gradient():
    data = cn.sym.Variable("data")
    h = cn.sym.Activation(cn.sym.FullyConnected(data, num_hidden=4, name="fc1"),
                          act_type="relu", name="relu")
    out = cn.sym.FullyConnected(h, num_hidden=2, name="fc2")
    graph = out._graph()
    wrt = {n: "write" for n in graph.nodes if n.kind == VARIABLE and n.name != "data"}
    return graph, gradient(graph, wrt)


def _assert_topological(order):
    position = {n: i for i, n in enumerate(order)}
    for node in order:
        for e in node.inputs:
            if e.node in position:
                assert position[e.node] < position[node], (e.node.name, node.name)


def test_forward_nodes_come_first_and_run_alone():
    graph, gg = _mlp_gradient()
    sched = schedule(gg.graph, gg.num_forward_heads)
    forward = sched.order[:sched.num_forward]
    assert [n.name for n in forward] == ["fc1", "relu", "fc2"]
    assert all(n.kind == OP for n in forward)
    # Nothing in the forward part reads a node of the backward part.
    rest = set(sched.order[sched.num_forward:])
    assert not any(e.node in rest for n in forward for e in n.inputs)
    assert rest and all(n.kind != VARIABLE for n in rest)
    _assert_topological(sched.order)


def test_forward_only_graph_defaults_to_all_heads():
    graph, _ = _mlp_gradient()
    sched = schedule(graph)
    assert sched.num_forward == len(sched.order) == 3


def test_each_node_is_scheduled_once():
    _, gg = _mlp_gradient()
    sched = schedule(gg.graph, gg.num_forward_heads)
    assert len(sched.order) == len(set(sched.order))
    ops = [n for n in gg.graph.nodes if n.kind != VARIABLE]
    assert set(sched.order) == set(ops)


def test_recomputed_node_runs_right_before_its_first_reader():
    data = cn.sym.Variable("data")
    relu = cn.sym.Activation(data, act_type="relu", name="relu")
    g = relu._graph()
    fwd = next(n for n in g.nodes if n.name == "relu")
    x = next(n for n in g.nodes if n.name == "data")
    # A backward-only chain: late (independent) -> copy of relu (recompute) -> reader.
    late = Node(OP, "late", op=fwd.op, inputs=[Entry(x, 0)], params=fwd.params)
    copy = Node(OP, "relu_copy", op=fwd.op, inputs=[Entry(x, 0)], params=fwd.params,
                recompute_of=fwd)
    reader = Node(OP, "reader", op=fwd.op, inputs=[Entry(copy, 0)], params=fwd.params)
    full = Graph([Entry(fwd, 0), Entry(late, 0), Entry(reader, 0)])
    sched = schedule(full, 1)
    names = [n.name for n in sched.order]
    assert names[:sched.num_forward] == ["relu"]
    assert names.index("relu_copy") == names.index("reader") - 1
    _assert_topological(sched.order)
