"""A loaded C++ op and a Python custom op inside graphs, JSON files, the memory planner and
autograd: exactly like built-in ops."""
import numpy as np
import pytest

import coarsenet as cn

if not hasattr(cn, "sym") or not hasattr(cn, "autograd"):
    pytest.skip("needs coarsenet.symbol and coarsenet.autograd", allow_module_level=True)



@pytest.fixture(scope="module", autouse=True)
def _load(example_ops):
    return example_ops


@cn.operator.register("graph_cube")
class CubeProp(cn.operator.CustomOpProp):
    def __init__(self, scale="1"):
        super().__init__()
        self.scale = float(scale)

    def declare_backward_dependency(self, out_grad, in_data, out_data):
        return [out_grad[0], in_data[0]]

    def create_operator(self, ctx, in_shapes, in_dtypes):
        return Cube(self.scale)


class Cube(cn.operator.CustomOp):
    def __init__(self, scale):
        self.scale = scale

    def forward(self, is_train, req, in_data, out_data, aux):
        self.assign(out_data[0], req[0], self.scale * in_data[0].asnumpy() ** 3)

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        x, dy = in_data[0].asnumpy(), out_grad[0].asnumpy()
        self.assign(in_grad[0], req[0], 3 * self.scale * x ** 2 * dy)


def network():
    x = cn.sym.Variable("x")
    h = cn.sym.FullyConnected(x, num_hidden=6, name="fc")
    t = cn.sym.ScaledTanh(h, scale=2.0, name="st")
    c = cn.sym.Custom(t, op_type="graph_cube", scale=0.5, name="cube")
    return cn.sym.SquaredDistance(c, cn.sym.Variable("target"), name="dist")


def reference(x, w, b, target):
    h = x @ w.T + b
    t = 2.0 * np.tanh(h)
    c = 0.5 * t ** 3
    y = ((c - target) ** 2).sum(1)
    dc = 2 * (c - target)  # head gradient of ones
    dt = dc * 1.5 * t ** 2
    dh = dt * (2.0 - t * t / 2.0)
    return y, dh @ w, dh.T @ x, dh.sum(0)


def inputs(rng):
    return (rng.uniform(-1, 1, (4, 5)), rng.uniform(-0.5, 0.5, (6, 5)),
            rng.uniform(-0.5, 0.5, (6,)), rng.uniform(-1, 1, (4, 6)))


def run_symbolic(symbol, x, w, b, target):
    exe = symbol.simple_bind(x=x.shape, target=target.shape, type_dict={"x": np.float64})
    for name, value in (("x", x), ("fc_weight", w), ("fc_bias", b), ("target", target)):
        exe.arg_dict[name][:] = value
    out = exe.forward(is_train=True)[0].asnumpy().copy()
    exe.backward(cn.nd.ones(out.shape, dtype=np.float64))
    return exe, out


def test_symbolic_forward_backward_matches_numpy():
    x, w, b, target = inputs(np.random.default_rng(0))
    exe, out = run_symbolic(network(), x, w, b, target)
    y, dx, dw, db = reference(x, w, b, target)
    np.testing.assert_allclose(out, y, rtol=1e-10)
    np.testing.assert_allclose(exe.grad_dict["x"].asnumpy(), dx, rtol=1e-9)
    np.testing.assert_allclose(exe.grad_dict["fc_weight"].asnumpy(), dw, rtol=1e-9)
    np.testing.assert_allclose(exe.grad_dict["fc_bias"].asnumpy(), db, rtol=1e-9)


def test_json_round_trip_keeps_plugin_and_python_ops():
    text = network().tojson()
    assert '"op": "ScaledTanh"' in text and '"op_type": "graph_cube"' in text
    loaded = cn.sym.load_json(text)
    assert loaded.tojson() == text
    x, w, b, target = inputs(np.random.default_rng(1))
    _, expected = run_symbolic(network(), x, w, b, target)
    _, actual = run_symbolic(loaded, x, w, b, target)
    np.testing.assert_array_equal(actual, expected)


def test_memory_planner_uses_the_plugin_declarations():
    """ScaledTanh runs in place of FullyConnected's output (its backward does not read it)."""
    x = cn.sym.Variable("x")
    y = cn.sym.ScaledTanh(cn.sym.FullyConnected(x, num_hidden=8, name="fc"), name="st")
    exe = y.simple_bind(x=(4, 5))
    assert exe.memory_stats()["inplace_count"] >= 1
    assert "inplace of 'fc'" in exe.debug_str()


def test_memory_planner_provides_the_declared_workspace(broken_libs):
    cn.load_op_library(broken_libs["HEALTHY"])
    y = cn.sym.PluginWorkspaceCopy(cn.sym.Variable("x"), name="copy")
    exe = y.simple_bind(x=(3, 5), grad_req="null")
    assert exe.memory_stats()["workspace_bytes"] >= 3 * 5 * 8
    x = np.arange(15, dtype=np.float32).reshape(3, 5)
    np.testing.assert_array_equal(exe.forward(x=x)[0].asnumpy(), x)


def test_workspace_in_elements_is_sized_in_each_calls_dtype(broken_libs):
    cn.load_op_library(broken_libs["HEALTHY"])
    y = cn.sym.PluginElemsCopy(cn.sym.Variable("x"), name="copy")
    for dtype, size in ((np.float32, 4), (np.float64, 8)):
        x = np.arange(15, dtype=dtype).reshape(3, 5)
        exe = y.simple_bind(x=(3, 5), grad_req="null", type_dict={"x": dtype})
        assert exe.memory_stats()["workspace_bytes"] == 15 * size
        np.testing.assert_array_equal(exe.forward(x=x)[0].asnumpy(), x)
        np.testing.assert_array_equal(cn.nd.PluginElemsCopy(cn.nd.array(x, dtype=dtype))
                                      .asnumpy(), x)


def test_autograd_through_plugin_and_python_ops():
    x, w, b, target = inputs(np.random.default_rng(2))
    arrays = [cn.nd.array(a, dtype=np.float64) for a in (x, w, b)]
    for a in arrays:
        a.attach_grad()
    with cn.autograd.record():
        h = cn.nd.FullyConnected(*arrays, num_hidden=6)
        c = cn.nd.Custom(cn.nd.ScaledTanh(h, scale=2.0), op_type="graph_cube", scale=0.5)
        y = cn.nd.SquaredDistance(c, cn.nd.array(target, dtype=np.float64))
    y.backward()
    expected = reference(x, w, b, target)
    np.testing.assert_allclose(y.asnumpy(), expected[0], rtol=1e-10)
    for a, g in zip(arrays, expected[1:]):
        np.testing.assert_allclose(a.grad.asnumpy(), g, rtol=1e-9)
