"""infer_attr: the fixed-point loop shape and type inference share, driven by a toy attribute
(depth: a variable read by an op gets 0, an op's output the largest input depth plus one once
every input is known)."""
import coarsenet as cn
from coarsenet.graph import VARIABLE, Entry
from coarsenet.passes import infer_shape, infer_type
from coarsenet.passes.infer_attr import AttrRule, infer_attr
from coarsenet.testing import expect_error


def _depth_rule(node, ins, auxs):
    fill = [0 if v is None and e.node.kind == VARIABLE else v for v, e in zip(ins, node.inputs)]
    out = None if None in ins else max(ins) + 1
    return fill, [out] * node.num_outputs, [None] * len(auxs)


DEPTH = AttrRule("depth", "depth", None, lambda v: v is not None, _depth_rule)


def test_one_loop_reaches_the_fixed_point_and_fills_inputs():
    x = cn.sym.Variable("x")
    y = cn.sym.relu(cn.sym.relu(x, name="a") + cn.sym.Variable("w"), name="b")
    graph = y._graph()
    values = infer_attr(graph, {}, DEPTH)
    by_name = {e.node.name: v for e, v in values.items() if e.index == 0}
    # x and w are filled by their readers in the first sweep; a, the sum and b need two more.
    assert by_name["x"] == 0 and by_name["w"] == 0
    assert by_name["a"] == 1 and by_name["b"] == 3
    assert sorted(by_name.values()) == [0, 0, 1, 2, 3]


def test_conflicting_input_is_named():
    x = cn.sym.Variable("x")
    graph = cn.sym.relu(x, name="a")._graph()
    var = next(n for n in graph.nodes if n.kind == VARIABLE)
    rule = AttrRule("depth", "depth", None, lambda v: v is not None,
                    lambda node, ins, auxs: ([7], [1], []))
    expect_error(lambda: infer_attr(graph, {Entry(var, 0): 3}, rule),
                 "depth inference failed at node 'a'", "input 'data'", "has depth 3",
                 "expects 7")


def test_shape_and_type_use_the_shared_loop(monkeypatch):
    seen = []
    import coarsenet.passes.infer_attr as ia

    real = ia._sweep
    monkeypatch.setattr(ia, "_sweep", lambda g, v, r: seen.append(r.what) or real(g, v, r))
    graph = cn.sym.FullyConnected(cn.sym.Variable("data"), num_hidden=2, name="fc")._graph()
    infer_shape(graph, {"data": (3, 4)})
    infer_type(graph, {"data": "float64"})
    assert "shape" in seen and "type" in seen
