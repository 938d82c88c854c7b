"""infer_type pass: forward and backward propagation, variable defaults, `like`, backward nodes,
conflicts named by node and slot."""
import numpy as np

import coarsenet as cn
from coarsenet.graph import VARIABLE
from coarsenet.passes import infer_type
from coarsenet.passes.gradient import gradient
from coarsenet.testing import expect_error


def _by_name(types):
    return {e.node.name: t for e, t in types.items() if e.node.kind == VARIABLE}


def test_output_dtype_fills_parameters_backwards():
    # Only the weight's dtype is known: the op's rule fills data and bias from it.
    net = cn.sym.FullyConnected(cn.sym.Variable("data"), num_hidden=3, name="fc")
    types = infer_type(net._graph(), {"fc_weight": np.float64})
    assert set(_by_name(types).values()) == {np.dtype(np.float64)}
    assert all(t == np.float64 for t in types.values())


def test_variable_dtype_attribute_is_read():
    data = cn.sym.Variable("data", dtype=np.float64)
    types = infer_type(cn.sym.relu(data)._graph())
    assert set(types.values()) == {np.dtype(np.float64)}


def test_default_fills_only_unknown_variables():
    a, b = cn.sym.Variable("a"), cn.sym.Variable("b")
    graph = (a + b)._graph()
    types = infer_type(graph, default=np.float64)
    assert set(types.values()) == {np.dtype(np.float64)}
    known = infer_type(graph, {"a": np.float32}, default=np.float64)
    assert set(known.values()) == {np.dtype(np.float32)}  # b follows a, not the default


def test_gradient_entries_take_their_inputs_dtype():
    net = cn.sym.FullyConnected(cn.sym.Variable("data"), num_hidden=3, name="fc")
    graph = net._graph()
    wrt = {n: "write" for n in graph.nodes if n.kind == VARIABLE}
    gg = gradient(graph, wrt)
    types = infer_type(gg.graph, {"data": np.float64})
    for var, entry in gg.grads.items():
        assert entry is not None and types[entry] == np.float64, var.name


def test_conflict_names_node_and_input():
    net = cn.sym.FullyConnected(cn.sym.Variable("data"), num_hidden=3, name="fc")
    expect_error(lambda: infer_type(net._graph(), {"data": np.float32, "fc_bias": np.float64}),
                 "node 'fc'", "'bias'", "float64", "float32")


def test_unsupported_dtype_raises():
    net = cn.sym.relu(cn.sym.Variable("data"))
    expect_error(lambda: infer_type(net._graph(), {"data": np.complex64}), "complex64")
