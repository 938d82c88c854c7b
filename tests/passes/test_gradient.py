"""gradient pass: what backward nodes read, accumulation by aliasing, NO_GRAD, aux, loss."""
import coarsenet as cn
from coarsenet.graph import BACKWARD, OP, VARIABLE, Entry, Graph, Node
from coarsenet.passes import gradient, schedule
from coarsenet.passes.gradient import REQ_ADD, REQ_NULL, REQ_WRITE


def backward_nodes(graph):
    return {n.backward.forward.name: n for n in graph.nodes if n.kind == BACKWARD}


def test_backward_reads_only_what_backward_needs():
    net = cn.sym.BatchNorm(cn.sym.FullyConnected(cn.sym.Variable("data"), num_hidden=3,
                                                 name="fc"), name="bn")
    graph = net._graph()
    wrt = {n: "write" for n in graph.variables() if n.name != "bn_moving_mean"
           and n.name != "bn_moving_var"}
    gg = gradient(graph, wrt)
    bw = backward_nodes(gg.graph)
    assert set(bw) == {"fc", "bn"}
    fc, fc_bw = bw["fc"].backward.forward, bw["fc"]
    # FullyConnected backward: data, weight and the output gradient; not bias, not its output.
    assert fc_bw.backward.inputs == [fc.inputs[0], fc.inputs[1], None]
    assert fc_bw.backward.outputs == [None]
    assert fc_bw.backward.out_grads[0] == Entry(bw["bn"], 0)
    assert fc_bw.backward.req == [REQ_WRITE] * 3
    # BatchNorm: hidden mean/var outputs, not its visible output; aux states get no gradient.
    bn_call = bw["bn"].backward
    assert bn_call.outputs[0] is None and bn_call.outputs[1] is not None
    assert len(bn_call.req) == 3
    assert all(g is not None for g in gg.grads.values())
    assert gg.graph.heads[: gg.num_forward_heads] == graph.heads


def test_fan_out_accumulates_into_the_first_gradient():
    x = cn.sym.Variable("x")
    shared = cn.sym.FullyConnected(x, num_hidden=3, name="shared")
    net = cn.sym.Group([cn.sym.FullyConnected(shared, num_hidden=2, name=f"h{k}")
                        for k in range(3)])
    graph = net._graph()
    gg = gradient(graph, {n: "write" for n in graph.variables()})
    bw = backward_nodes(gg.graph)
    heads_bw = [bw[f"h{k}"] for k in range(3)]
    reqs = sorted(b.backward.req[0] for b in heads_bw)
    assert reqs == [REQ_WRITE, REQ_ADD, REQ_ADD]  # one writes, the others add into it
    adders = [b for b in heads_bw if b.backward.req[0] == REQ_ADD]
    assert all(0 in b.alias for b in adders)
    assert not any(n.kind == OP and n.op.name == "elemwise_add" for n in gg.graph.nodes)
    # The last adder's output is what the shared layer's backward reads.
    assert bw["shared"].backward.out_grads[0].node in adders


def test_grad_req_null_and_add_and_unreached_inputs():
    x = cn.sym.Variable("x")
    net = cn.sym.FullyConnected(x, num_hidden=2, name="fc")
    graph = net._graph()
    by_name = {n.name: n for n in graph.variables()}
    gg = gradient(graph, {by_name["fc_weight"]: "add"})
    call = backward_nodes(gg.graph)["fc"].backward
    assert call.req == [REQ_NULL, REQ_ADD, REQ_NULL]
    assert list(gg.grads) == [by_name["fc_weight"]]
    none = gradient(graph, {})
    assert not backward_nodes(none.graph) and none.head_grads == [None]


class FakeOp:
    """Stand-in with chosen flags (NO_GRAD, LOSS) and needs."""

    aux_names = []
    has_backward = True
    inplace = backward_inplace = []

    def __init__(self, flags, needs_out_grad=1):
        self.name = "fake"
        self.flags = flags
        self.input_names = ["data"]
        self.output_names = ["output"]
        self.num_visible_outputs = 1
        self.needs_inputs, self.needs_outputs = [1], [0]
        self.needs_out_grads = [needs_out_grad]


def test_no_grad_ops_stop_and_loss_ops_read_no_head_gradient():
    x = Node(VARIABLE, "x")
    blocked = Node(OP, "blocked", op=FakeOp(cn.ops.NO_GRAD), inputs=[Entry(x, 0)])
    loss = Node(OP, "loss", op=FakeOp(cn.ops.LOSS, needs_out_grad=0), inputs=[Entry(x, 0)])
    gg = gradient(Graph([Entry(blocked, 0), Entry(loss, 0)]), {x: "write"})
    bw = backward_nodes(gg.graph)
    assert set(bw) == {"loss"}
    assert bw["loss"].backward.out_grads == [None]
    assert gg.grads[x] == Entry(bw["loss"], 0)
    assert not any(n.kind == VARIABLE and n.role == "head_grad" for n in gg.graph.nodes)


def test_schedule_runs_forward_first():
    net = cn.sym.FullyConnected(cn.sym.FullyConnected(cn.sym.Variable("x"), num_hidden=2,
                                                      name="a"), num_hidden=2, name="b")
    graph = net._graph()
    gg = gradient(graph, {n: "write" for n in graph.variables()})
    sched = schedule(gg.graph, gg.num_forward_heads)
    assert [n.name for n in sched.order] == ["a", "b", "b_backward", "a_backward"]
    assert sched.num_forward == 2
