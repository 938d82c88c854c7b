"""A plugin op (examples/custom_op) in ONNX: unmapped it is named in export's error; mapped with
cn.onnx.register_custom_op it is written as a custom-domain node carrying its params, and that
node imports back into the same op."""
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
