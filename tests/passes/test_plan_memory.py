"""plan_memory: the arena invariant on random DAGs (hypothesis), and planning facts on real graphs.

Random graphs use stand-in ops (only the facts the passes read: names, in-place pairs,
backward_needs, workspace), so the property covers forward, gradient accumulation (aliases),
in-place and workspaces without depending on which C++ ops exist.
"""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from coarsenet.graph import OP, VARIABLE, Entry, Graph, Node
from coarsenet.passes import gradient, plan_memory, schedule


class FakeOp:
    flags = 0
    has_backward = True

    def __init__(self, name, n_in, n_out, inplace, backward_inplace, needs, workspace):
        self.name = name
        self.input_names = [f"in{i}" for i in range(n_in)]
        self.output_names = [f"out{j}" for j in range(n_out)]
        self.aux_names = []
        self.num_visible_outputs = n_out
        self.inplace, self.backward_inplace = inplace, backward_inplace
        self.needs_inputs, self.needs_outputs, self.needs_out_grads = needs
        self._workspace = workspace

    def workspace_bytes(self, ins, outs, backward, dtype=-1):
        return self._workspace * (2 if backward else 1)


@st.composite
def random_graph(draw):
    sizes = [4, 8, 16]
    n_vars = draw(st.integers(1, 3))
    entries = [Entry(Node(VARIABLE, f"v{k}"), 0) for k in range(n_vars)]
    size = {e: draw(st.sampled_from(sizes)) for e in entries}
    nodes = []
    for k in range(draw(st.integers(1, 12))):
        # Inputs may repeat: a node reading one entry twice sums its two gradients with a
        # real elemwise_add node, written in place.
        inputs = draw(st.lists(st.sampled_from(entries), min_size=1, max_size=3))
        n_in = len(inputs)
        n_out = draw(st.integers(1, 2))
        pairs = [(i, j) for i in range(n_in) for j in range(n_out) if draw(st.booleans())]
        bw_pairs = [(j, i) for j in range(n_out) for i in range(n_in) if draw(st.booleans())]
        needs = ([int(draw(st.booleans())) for _ in range(n_in)],
                 [int(draw(st.booleans())) for _ in range(n_out)], [1] * n_out)
        op = FakeOp(f"op{k}", n_in, n_out, pairs, bw_pairs, needs,
                    draw(st.sampled_from([0, 0, 8, 40])))
        node = Node(OP, f"n{k}", op=op, inputs=inputs)
        nodes.append(node)
        for j in range(n_out):
            e = Entry(node, j)
            size[e] = size[inputs[0]] if draw(st.booleans()) else draw(st.sampled_from(sizes))
            entries.append(e)
    heads = [Entry(nodes[-1], 0)] + [e for e in entries[n_vars:] if draw(st.booleans())]
    return Graph(heads), size, draw(st.booleans())


def _shapes(graph, size):
    shapes = {}
    for node in graph.nodes:
        if node.kind == "backward":
            for i, e in enumerate(node.backward.forward.data_inputs()):
                shapes[Entry(node, i)] = (size[e],)
        elif node.kind == VARIABLE and node.like is not None:
            shapes[Entry(node, 0)] = (size[node.like],)
        elif node.kind == OP and not isinstance(node.op, FakeOp):  # a gradient sum
            shapes[Entry(node, 0)] = shapes[node.inputs[0]]
        else:
            for j in range(node.num_outputs):
                shapes[Entry(node, j)] = (size[Entry(node, j)],)
    return shapes


def check_arena_invariant(plan, sched):
    """No two entries (or workspaces) that are live at the same step share bytes, except an
    output that took over the storage of the input it consumes at that very step."""
    spans = []
    for e, offset in plan.offsets.items():
        assert offset % 64 == 0 and offset + plan.nbytes[e] <= plan.arena_bytes
        spans.append((e, offset, plan.nbytes[e], plan.live[e]))
    position = {node: sched.stage_of[k] for k, node in enumerate(sched.order)}
    for node, (offset, nbytes) in plan.workspaces.items():
        assert offset % 64 == 0 and offset + nbytes <= plan.arena_bytes
        step = position[node]
        spans.append((("workspace", node), offset, nbytes, (step, step)))
    for a in range(len(spans)):
        for b in range(a + 1, len(spans)):
            ea, oa, na, (fa, la) = spans[a]
            eb, ob, nb, (fb, lb) = spans[b]
            if na == 0 or nb == 0 or oa + na <= ob or ob + nb <= oa:
                continue  # disjoint bytes
            if la < fb or lb < fa:
                continue  # never live together
            handover = (plan.shares.get(eb) == ea and la == fb) or \
                       (plan.shares.get(ea) == eb and lb == fa)
            assert handover, f"{ea} [{fa},{la}] and {eb} [{fb},{lb}] overlap in the arena"


@settings(max_examples=60, deadline=None)
@given(random_graph())
def test_no_two_live_entries_overlap(case):
    graph, size, with_gradient = case
    num_heads = len(graph.heads)
    if with_gradient:
        wrt = {n: "write" for n in graph.variables()}
        graph = gradient(graph, wrt).graph
    shapes = _shapes(graph, size)
    dtypes = {e: np.dtype(np.float32) for e in shapes}
    sched = schedule(graph, num_heads)
    plan = plan_memory(graph, sched, shapes, dtypes)
    check_arena_invariant(plan, sched)
    assert plan.stats["planned_bytes"] <= plan.stats["naive_bytes"]


@settings(max_examples=60, deadline=None)
@given(random_graph())
def test_concurrent_stages_get_disjoint_bytes(case):
    """With stages (ops that may run at the same time), the plan still keeps live entries
    apart and no two ops of one stage touch the same bytes where one of them writes."""
    from coarsenet.passes.plan_memory import concurrency_conflicts

    graph, size, with_gradient = case
    num_heads = len(graph.heads)
    if with_gradient:
        graph = gradient(graph, {n: "write" for n in graph.variables()}).graph
    shapes = _shapes(graph, size)
    dtypes = {e: np.dtype(np.float32) for e in shapes}
    sched = schedule(graph, num_heads, concurrent=True)
    assert sorted(sched.stage_of) == sched.stage_of
    position = {n: k for k, n in enumerate(sched.order)}
    for k, node in enumerate(sched.order):  # every input is produced in an earlier stage
        for e in node.inputs:
            if e.node in position:
                assert sched.stage_of[position[e.node]] < sched.stage_of[k]
    plan = plan_memory(graph, sched, shapes, dtypes)
    check_arena_invariant(plan, sched)
    assert concurrency_conflicts(sched, plan) == []


def peak_live_bytes(plan, sched):
    """The lower bound of any placement: the most bytes live at one step (shared blocks once)."""
    position = {node: k for k, node in enumerate(sched.order)}
    peak = 0
    for step in range(len(sched.order)):
        blocks = {}
        for e, (first, last) in plan.live.items():
            if first <= step <= last:
                sid = plan.storage_of[e]
                blocks[sid] = max(blocks.get(sid, 0), -(-plan.nbytes[e] // 64) * 64)
        ws = sum(-(-nb // 64) * 64 for n, (_, nb) in plan.workspaces.items()
                 if position[n] == step)
        peak = max(peak, sum(blocks.values()) + ws)
    return peak


def test_packing_reaches_the_peak_of_live_bytes_on_a_cnn():
    import coarsenet as cn

    x = cn.sym.Variable("data")
    for k in range(4):
        x = cn.sym.Convolution(x, kernel=(3, 3), pad=(1, 1), num_filter=8, name=f"c{k}")
        x = cn.sym.Activation(cn.sym.BatchNorm(x, name=f"bn{k}"), act_type="relu")
        if k % 2:
            x = cn.sym.Pooling(x, kernel=(2, 2), stride=(2, 2), pool_type="max")
    net = cn.sym.SoftmaxOutput(cn.sym.FullyConnected(x, num_hidden=10, name="fc"), name="sm")
    exe = net.simple_bind(data=(4, 3, 16, 16))
    plan, sched = exe._plan, exe._sched
    check_arena_invariant(plan, sched)
    peak = peak_live_bytes(plan, sched)
    assert peak <= plan.arena_bytes <= 1.1 * peak
    assert plan.stats["planned_bytes"] <= 0.5 * plan.stats["naive_bytes"]
    assert plan.stats["inplace_count"] > 0 and plan.stats["reused_count"] > 0
