"""infer_shape / infer_type passes: propagation, filling parameters, fixed point, errors."""
import numpy as np

import coarsenet as cn
from coarsenet.graph import OP, VARIABLE, Entry, Graph, Node
from coarsenet.passes import infer_shape, infer_type
from coarsenet.testing import expect_error


class SameShapeOp:
    """Stand-in elementwise op: every input and the output share one shape."""

    name = "same"
    input_names = ["a", "b"]
    output_names = ["out"]
    aux_names = []

    def infer_shape(self, ins, aux):
        known = next((s for s in ins if s is not None), None)
        return [known] * 2, [known], []


def test_fixed_point_reaches_inputs_filled_late():
    x, y, z = (Node(VARIABLE, n) for n in "xyz")
    # a reads x and y before b (which knows z) fills y: needs a second sweep.
    a = Node(OP, "a", op=SameShapeOp(), inputs=[Entry(x, 0), Entry(y, 0)])
    b = Node(OP, "b", op=SameShapeOp(), inputs=[Entry(y, 0), Entry(z, 0)])
    graph = Graph([Entry(a, 0), Entry(b, 0)])
    assert graph.nodes.index(a) < graph.nodes.index(b)
    shapes = infer_shape(graph, {"z": (2, 3)})
    assert shapes[Entry(x, 0)] == (2, 3) and shapes[Entry(a, 0)] == (2, 3)


def test_fills_parameter_shapes_and_does_not_mutate_graph():
    net = cn.sym.FullyConnected(cn.sym.Variable("data"), num_hidden=4, name="fc")
    graph = net._graph()
    before = [(n.name, dict(n.attrs)) for n in graph.nodes]
    shapes = infer_shape(graph, {"data": (3, 2, 5)})
    by_name = {e.node.name: s for e, s in shapes.items() if e.node.kind == VARIABLE}
    assert by_name == {"data": (3, 2, 5), "fc_weight": (4, 10), "fc_bias": (4,)}
    assert [(n.name, dict(n.attrs)) for n in graph.nodes] == before


def test_conflict_names_node_input_and_both_shapes():
    w = cn.sym.Variable("w")
    a = cn.sym.FullyConnected(cn.sym.Variable("x"), w, num_hidden=2, no_bias=True, name="a")
    b = cn.sym.FullyConnected(cn.sym.Variable("y"), w, num_hidden=2, no_bias=True, name="b")
    graph = cn.sym.Group([a, b])._graph()
    expect_error(lambda: infer_shape(graph, {"x": (1, 3), "y": (1, 4)}),
                 "node 'b'", "weight", "(2, 3)", "(2, 4)")
    expect_error(lambda: infer_shape(cn.sym.Variable("v", shape=(2,))._graph(), {"v": (3,)}),
                 "'v'", "(3,)", "(2,)")


def test_infer_type_propagates_and_defaults():
    net = cn.sym.FullyConnected(cn.sym.Variable("data"), num_hidden=4, name="fc")
    graph = net._graph()
    types = infer_type(graph, {"data": np.float64})
    assert {t for t in types.values()} == {np.dtype(np.float64)}
    types = infer_type(graph)
    assert set(types.values()) == {None}
    types = infer_type(graph, default=np.float32)
    assert set(types.values()) == {np.dtype(np.float32)}
    mixed = {"data": np.float64, "fc_weight": np.float32}
    expect_error(lambda: infer_type(graph, mixed), "node 'fc'", "float32", "float64")
