"""Op mappings one family at a time (export vs ONNX Runtime, import vs ONNX Runtime, round trip),
the one-error-lists-all rule in both directions, and ONNX-only forms on import."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed (pip install .[onnx])")
pytest.importorskip("onnxruntime", reason="the onnx extra is not installed (pip install .[onnx])")

from onnx import TensorProto, helper, numpy_helper
from onnx_helpers import assert_close, canonical_graph, cn_forward, ort_forward, random_params

import coarsenet as cn

S = cn.sym


def _conv_net(x):
    a = S.Convolution(x, kernel=(3, 3), num_filter=8, pad=(1, 1), dilate=(2, 2), stride=(1, 1),
                      name="dil")
    b = S.Convolution(a, kernel=(3, 3), num_filter=8, num_group=4, pad=(1, 1), no_bias=True,
                      name="grp")
    c = S.Deconvolution(b, kernel=(4, 4), stride=(2, 2), pad=(1, 1), num_filter=4, name="deconv")
    d = S.Pooling(c, kernel=(3, 3), stride=(2, 2), pool_type="max", pooling_convention="full",
                  name="pfull")
    e = S.Pooling(d, kernel=(2, 2), stride=(1, 1), pad=(1, 1), pool_type="avg", name="pavg")
    f = S.BatchNorm(e, fix_gamma=True, name="bnfix")
    g = S.LeakyReLU(f, act_type="leaky", slope=0.1, name="leaky")
    h = S.LeakyReLU(g, act_type="elu", slope=0.5, name="elu")
    i = S.LeakyReLU(h, act_type="prelu", name="prelu")
    j = S.LRN(i, nsize=3, alpha=1e-3, beta=0.75, knorm=2.0, name="lrn")
    k = S.Pad(j, mode="constant", pad_width=(0, 0, 0, 0, 1, 2, 2, 1), constant_value=0.5,
              name="padc")
    m = S.Pad(k, mode="edge", pad_width=(0, 0, 0, 0, 1, 1, 1, 1), name="pade")
    n = S.UpSampling(m, scale=2, sample_type="nearest", num_args=1, name="up")
    o = S.Pooling(n, kernel=(1, 1), global_pool=True, pool_type="avg", name="gap")
    return S.Activation(S.Flatten(o), act_type="softrelu", name="softplus")


def _tensor_net(x):
    parts = S.SliceChannel(x, num_outputs=2, axis=1, name="split")
    a = S.Concat(parts[1], parts[0], dim=1, name="cat")
    b = S.Reshape(a, shape=(0, -3, -2), name="resh")           # MXNet codes: (N, C*H, W)
    c = S.transpose(b, axes=(0, 2, 1), name="tr")
    d = S.FullyConnected(c, num_hidden=5, flatten=False, name="fcnf")
    e = S.clip(d, a_min=-0.5, a_max=0.7, name="clip")
    f = S.broadcast_add(S.sum(e, axis=2, keepdims=True, name="rsum"),
                        S.mean(e, axis=(1,), keepdims=True))
    g = S.broadcast_mul(e, f, name="bmul") * 2.0 - 1.0
    h = S.max(g, axis=1, name="rmax") / 3.0
    i = S.exp(S.tanh(h)) + S.sigmoid(h) + S.sqrt(S.abs(h)) + S.square(h)
    j = S.Cast(i, dtype="float64", name="to64")
    k = S.Cast(j, dtype="float32", name="to32")
    m = S.expand_dims(k, axis=1, name="exp")
    n = S.slice_axis(m, axis=2, begin=1, end=4, name="sl")
    o = S.softmax(n, axis=-1, name="sm") + S.log_softmax(n, axis=-1, name="lsm")
    return S.Dropout(S.Flatten(S.SwapAxis(o, dim1=1, dim2=2)), p=0.3, name="drop")


def _embed_net(x):
    emb = S.Embedding(x, input_dim=10, output_dim=4, name="emb")
    return S.FullyConnected(emb, num_hidden=3, name="fc")


def _misc_net(x):
    a = S.InstanceNorm(x, eps=1e-3, name="inorm")                       # (2, 3, 4, 4)
    b = S.Pad(a, mode="reflect", pad_width=(0, 0, 0, 0, 1, 1, 1, 1), name="padr")
    c = S.Pooling(b, kernel=(2, 2), stride=(2, 2), pool_type="avg", count_include_pad=False,
                  name="pnc")                                          # (2, 3, 3, 3)
    d = S.reshape(c, shape=(2, 3, 9), name="r3")
    e = S.batch_dot(d, d, transpose_b=True, name="bdot")               # (2, 3, 3)
    f = S.dot(S.reshape(e, shape=(6, 3)), S.reshape(e, shape=(6, 3)), transpose_a=True,
              name="dot")                                              # (3, 3)
    g = S.tile(S.expand_dims(f, axis=0), reps=(2, 1, 1), name="tile")  # (2, 3, 3)
    col = S.expand_dims(S.squeeze(S.slice_axis(e, axis=2, begin=0, end=1), axis=2), axis=2)
    h = S.add_n(g, e, S.broadcast_to(col, shape=(2, 3, 3)), name="addn")
    i = S.rsqrt(S.abs(h) + 1.0) + (2.0 - h) + (1.0 / (S.abs(h) + 1.0))
    j = S.where(S.sign(S.relu(i - 1.5)), i, -i)
    return S.softmax(S.maximum(j, 0.1), axis=1, temperature=2.0, name="smt")


def _layer_norm_net(x):
    return S.LayerNorm(x, axis=-1, eps=1e-5, name="ln")


CASES = [
    ("misc", _misc_net, (2, 3, 4, 4), None),
    ("conv_family", _conv_net, (2, 3, 9, 9), None),
    ("tensor_family", _tensor_net, (2, 4, 3, 6), None),
    ("embedding", _embed_net, (2, 5), lambda r, s: r.integers(0, 10, s).astype(np.float32)),
]


LAYER_NORM = ("layer_norm", _layer_norm_net, (2, 3, 5), None)  # LayerNormalization: opset 17+


@pytest.mark.parametrize("name,build,shape,make_x", CASES + [LAYER_NORM],
                         ids=[c[0] for c in CASES + [LAYER_NORM]])
def test_op_family(name, build, shape, make_x, tmp_path):
    sym = build(S.Variable("data"))
    params = random_params(sym, {"data": shape})
    rng = np.random.default_rng(5)
    x = make_x(rng, shape) if make_x else rng.normal(size=shape).astype(np.float32)
    path = tmp_path / f"{name}.onnx"
    cn.onnx.export_model(sym, params, [shape], onnx_file_path=path)
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    (ort,) = ort_forward(path, {"data": x})
    assert_close(ort, cn_forward(sym, params, {"data": x})[0], f"{name}: ORT vs coarsenet")
    sym2, arg, aux = cn.onnx.import_model(path)
    imported = {k: v.asnumpy() for k, v in {**arg, **aux}.items()}
    assert_close(cn_forward(sym2, imported, {"data": x})[0], ort, f"{name}: import vs ORT")
    again = tmp_path / "again.onnx"
    cn.onnx.export_model(sym2, imported, [shape], onnx_file_path=again)
    assert canonical_graph(onnx.load(again)) == canonical_graph(model)


@pytest.mark.parametrize("name,build,shape,make_x", CASES, ids=[c[0] for c in CASES])
def test_every_opset(name, build, shape, make_x, tmp_path):
    """Opsets 13 .. the newest the installed onnx knows: checked, and run by ONNX Runtime."""
    low, high = cn.onnx.opset_range()
    assert low == 13 and high >= 13
    sym = build(S.Variable("data"))
    params = random_params(sym, {"data": shape})
    rng = np.random.default_rng(6)
    x = make_x(rng, shape) if make_x else rng.normal(size=shape).astype(np.float32)
    ours = cn_forward(sym, params, {"data": x})[0]
    for opset in range(low, high + 1):
        path = tmp_path / f"{name}_{opset}.onnx"
        cn.onnx.export_model(sym, params, [shape], onnx_file_path=path, opset_version=opset)
        model = onnx.load(path)
        assert model.opset_import[0].version == opset
        onnx.checker.check_model(model, full_check=True)
        assert_close(ort_forward(path, {"data": x})[0], ours, f"{name} at opset {opset}")
    with pytest.raises(cn.CoarsenetError, match="opset_version 12"):
        cn.onnx.export_model(sym, params, [shape], onnx_file_path=path, opset_version=12)


def test_unmapped_ops_listed_together(tmp_path):
    x = S.Variable("data")
    y = S.pick(S.Crop(x, h_w=(2, 2), num_args=1, name="crop1"), S.Variable("idx"), name="pick1")
    params = {}
    with pytest.raises(cn.CoarsenetError) as err:
        cn.onnx.export_model(y, params, [(1, 2, 4, 4), (1, 2, 2)],
                             onnx_file_path=tmp_path / "x.onnx")
    msg = str(err.value)
    assert "2 node(s)" in msg and "crop1" in msg and "pick1" in msg and "Crop" in msg


def _model(nodes, inputs, outputs, inits, opset=17):
    g = helper.make_graph(nodes, "t", inputs, outputs,
                          [numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def test_import_onnx_only_forms(tmp_path):
    """Gemm (transA/transB), MatMul, broadcasting Add, Relu, Sigmoid, GlobalAveragePool, and a
    Shape/Gather/Unsqueeze/Concat chain that computes a static reshape target."""
    rng = np.random.default_rng(7)
    f32 = lambda *s: rng.normal(size=s).astype(np.float32)
    inits = {"w": f32(4, 3, 3, 3), "wg": f32(4, 6), "wm": f32(6, 5), "bm": f32(5),
             "zero": np.array([0], np.int64), "minus1": np.array([-1], np.int64),
             "ax0": np.array([0], np.int64)}
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["p"]),
        helper.make_node("Shape", ["p"], ["shp"]),
        helper.make_node("Gather", ["shp", "zero"], ["n"], axis=0),
        helper.make_node("Concat", ["n", "minus1"], ["target"], axis=0),
        helper.make_node("Reshape", ["p", "target"], ["flat"]),
        helper.make_node("Gemm", ["wg", "flat"], ["gt"], transA=1, transB=1),  # (6, N)
        helper.make_node("Transpose", ["gt"], ["g"], perm=[1, 0]),
        helper.make_node("MatMul", ["g", "wm"], ["mm"]),
        helper.make_node("Add", ["mm", "bm"], ["a"]),
        helper.make_node("Sigmoid", ["a"], ["y"]),
    ]
    model = _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 5, 5])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 5])], inits)
    onnx.checker.check_model(model, full_check=True)
    path = tmp_path / "forms.onnx"
    onnx.save(model, path)
    x = f32(2, 3, 5, 5)
    (ort,) = ort_forward(path, {"x": x})
    sym, arg, aux = cn.onnx.import_model(path)
    assert "shp" not in sym.tojson()  # folded: no shape computation left in the graph
    got = cn_forward(sym, {k: v.asnumpy() for k, v in {**arg, **aux}.items()}, {"x": x})[0]
    assert_close(got, ort, "ONNX-only forms")


def test_unimportable_nodes_listed_together(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("TopK", ["r", "k"], ["v", "i"], name="top"),
             helper.make_node("Mod", ["v", "v"], ["y"], name="mod1")]
    model = _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                   {"k": np.array([2], np.int64)})
    with pytest.raises(cn.CoarsenetError) as err:
        cn.onnx.import_model(model)
    msg = str(err.value)
    assert "TopK" in msg and "top" in msg and "Mod" in msg and "mod1" in msg


def test_import_pytorch_export(tmp_path):
    """A file written by another framework: PyTorch's (TorchScript) exporter with a dynamic
    batch, whose flatten becomes a Shape/Gather/Unsqueeze/Concat chain that folds on import."""
    torch = pytest.importorskip("torch", reason="PyTorch (optional oracle) is not installed")

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.grouped = torch.nn.Conv2d(8, 8, 3, padding=1, groups=2)
            self.fc = torch.nn.Linear(8 * 4 * 4, 5)

        def forward(self, x):
            y = torch.nn.functional.max_pool2d(torch.relu(self.conv(x)), 2)
            y = torch.sigmoid(y + self.grouped(y))
            return torch.softmax(self.fc(y.reshape(y.shape[0], -1)), dim=1)

    torch.manual_seed(0)
    net = Net().eval()
    x = torch.randn(2, 3, 8, 8)
    path = tmp_path / "torch.onnx"
    with warnings.catch_warnings():  # the TorchScript exporter is deprecated, still shipped
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(net, (x,), str(path), input_names=["data"], output_names=["out"],
                          dynamic_axes={"data": {0: "N"}}, opset_version=17, dynamo=False)
    x = torch.randn(3, 3, 8, 8)  # another batch size than the export's
    (ort,) = ort_forward(path, {"data": x.numpy()})
    sym, arg, aux = cn.onnx.import_model(path)
    got = cn_forward(sym, {k: v.asnumpy() for k, v in {**arg, **aux}.items()},
                     {"data": x.numpy()})[0]
    assert_close(got, ort, "PyTorch-exported model: import vs ONNX Runtime")
    assert_close(got, net(x).detach().numpy(), "PyTorch-exported model: import vs PyTorch")
