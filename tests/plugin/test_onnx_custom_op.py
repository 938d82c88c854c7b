"""A plugin op (examples/custom_op) in ONNX: unmapped it is named in export's error; mapped with
cn.onnx.register_custom_op, or declared in its C++ registration (`.onnx(domain, op_type)`, SDK ABI
1.2), it is written as a custom-domain node carrying its params, and that node imports back into
the same op."""
import numpy as np
import pytest

import coarsenet as cn

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed (pip install .[onnx])")


def _net():
    x = cn.sym.Variable("data")
    return cn.sym.FullyConnected(cn.sym.ScaledTanh(x, scale=1.7, name="st"), num_hidden=3,
                                 name="fc")


def _run(sym, params, x):
    args = {k: cn.nd.array(v) for k, v in params.items()}
    args["data"] = cn.nd.array(x)
    return sym.bind(cn.cpu(), args=args, grad_req="null").forward()[0].asnumpy()


def test_plugin_op_exports_to_custom_domain(example_ops, tmp_path):
    sym = _net()
    rng = np.random.default_rng(0)
    params = {"fc_weight": rng.normal(size=(3, 4)).astype(np.float32),
              "fc_bias": rng.normal(size=3).astype(np.float32)}
    x = rng.normal(size=(2, 4)).astype(np.float32)
    path = tmp_path / "st.onnx"
    cn.onnx._export._TRANSLATORS.pop("ScaledTanh", None)
    with pytest.raises(cn.CoarsenetError, match="ScaledTanh \\(node 'st'\\): no ONNX mapping"):
        cn.onnx.export_model(sym, params, [x.shape], onnx_file_path=path)
    cn.onnx.register_custom_op("ScaledTanh", domain="com.example")
    cn.onnx.export_model(sym, params, [x.shape], onnx_file_path=path)
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    node = model.graph.node[0]
    assert (node.domain, node.op_type) == ("com.example", "ScaledTanh")
    assert onnx.helper.get_attribute_value(node.attribute[0]) == b"1.7"
    assert ("com.example", 1) in [(o.domain, o.version) for o in model.opset_import]
    sym2, arg, _ = cn.onnx.import_model(path)
    got = _run(sym2, {k: v.asnumpy() for k, v in arg.items()}, x)
    np.testing.assert_allclose(got, _run(sym, params, x), rtol=1e-6)
    with pytest.raises(cn.CoarsenetError, match="no op named 'NoSuchOp'"):
        cn.onnx.register_custom_op("NoSuchOp", domain="com.example")


def test_op_declaring_its_onnx_mapping_in_cpp_exports_without_python_registration(
        example_ops, tmp_path):
    """SquaredDistance's registration says .onnx("com.example", "SquaredDistance")."""
    assert cn.ops.info("SquaredDistance").onnx_domain == "com.example"
    a, b = cn.sym.Variable("a"), cn.sym.Variable("b")
    sym = cn.sym.SquaredDistance(a, b, name="dist")
    path = tmp_path / "dist.onnx"
    cn.onnx.export_model(sym, {}, [(3, 4), (3, 4)], onnx_file_path=path)
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    assert [(n.domain, n.op_type) for n in model.graph.node] == [("com.example",
                                                                  "SquaredDistance")]
    sym2, _, _ = cn.onnx.import_model(path)
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    out = sym2.bind(cn.cpu(), args={"a": cn.nd.array(x), "b": cn.nd.array(y)},
                    grad_req="null").forward()[0].asnumpy()
    np.testing.assert_allclose(out, ((x - y) ** 2).sum(axis=1), rtol=1e-5)
