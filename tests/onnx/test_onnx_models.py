"""Zoo models and MXNet 1.9.1 fixtures exported to ONNX: onnx's full checker passes, ONNX Runtime
on the file reproduces coarsenet (max abs error <= 1e-4 of the output scale), importing the
file back gives ONNX Runtime's output, and export -> import -> export writes the same graph."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed (pip install .[onnx])")
pytest.importorskip("onnxruntime", reason="the onnx extra is not installed (pip install .[onnx])")

from onnx_helpers import assert_close, canonical_graph, cn_forward, ort_forward, random_params

import coarsenet as cn

FIXTURES = Path(__file__).parent.parent / "fixtures" / "mxnet"

# Reduced resolution / width where the net allows, to keep the tests quick.
ZOO = [
    ("mlp", {}, (2, 784)),
    ("lenet", {}, (2, 1, 28, 28)),
    ("resnet18", {}, (1, 3, 32, 32)),
    ("resnet50", {}, (1, 3, 32, 32)),
    ("resnet152", {}, (1, 3, 32, 32)),
    ("vgg16", {"fc_width": 64}, (1, 3, 32, 32)),
    ("inception-bn", {}, (1, 3, 64, 64)),
    ("mobilenet", {"multiplier": 0.25}, (1, 3, 64, 64)),
]


def _imported_params(arg, aux) -> dict:
    return {k: v.asnumpy() for k, v in {**arg, **aux}.items()}


def check_export(sym, params, x, path, what, expected=None):
    """The whole contract for one model; returns the ONNX model."""
    cn.onnx.export_model(sym, params, [x.shape], onnx_file_path=path)
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    ours = cn_forward(sym, params, {"data": x})[0]
    (ort,) = ort_forward(path, {"data": x})
    assert_close(ort, ours, f"{what}: ONNX Runtime vs coarsenet")
    if expected is not None:
        assert_close(ort, expected, f"{what}: ONNX Runtime vs MXNet 1.9.1")
    sym2, arg, aux = cn.onnx.import_model(path)
    assert_close(cn_forward(sym2, _imported_params(arg, aux), {"data": x})[0], ort,
                 f"{what}: imported model vs ONNX Runtime")
    again = Path(str(path) + ".again.onnx")
    cn.onnx.export_model(sym2, {**arg, **aux}, [x.shape], onnx_file_path=again)
    assert canonical_graph(onnx.load(again)) == canonical_graph(model), \
        f"{what}: export -> import -> export changed the graph"
    return model


@pytest.mark.parametrize("name,kwargs,shape", ZOO, ids=[z[0] for z in ZOO])
def test_zoo_model(name, kwargs, shape, tmp_path):
    sym = cn.model_zoo.get_symbol(name, **kwargs)
    params = random_params(sym, {"data": shape})
    x = np.random.default_rng(1).normal(size=shape).astype(np.float32)
    model = check_export(sym, params, x, tmp_path / f"{name}.onnx", name)
    # The loss label is not an input of the exported inference graph (as MXNet's export).
    assert [i.name for i in model.graph.input] == ["data"]
    assert model.graph.node[-1].op_type == "Softmax"


FIXTURE_MODELS = ["lenet", "lenet_softmax", "mobilenet0.25", "squeezenet1.1", "resnet18_v1"]


@pytest.mark.parametrize("name", FIXTURE_MODELS)
def test_mxnet_fixture(name, tmp_path):
    """Exported from the files MXNet 1.9.1 wrote (paths, as mx.onnx.export_model takes them);
    ONNX Runtime also reproduces MXNet's own recorded output."""
    io = cn.nd.load(FIXTURES / f"{name}-io.params")
    x = io["data"].asnumpy()
    sym_file, params_file = FIXTURES / f"{name}-symbol.json", FIXTURES / f"{name}-0000.params"
    sym = cn.sym.load(sym_file)
    _, arg, aux = cn.model.load_checkpoint(str(FIXTURES / name), 0)
    path = tmp_path / f"{name}.onnx"
    assert cn.onnx.export_model(str(sym_file), str(params_file), [x.shape],
                                onnx_file_path=path) == path
    check_export(sym, {**arg, **aux}, x, path, name, expected=io["output"].asnumpy())


def test_dynamic_batch(tmp_path):
    sym = cn.model_zoo.get_symbol("lenet")
    params = random_params(sym, {"data": (2, 1, 28, 28)})
    path = tmp_path / "dyn.onnx"
    cn.onnx.export_model(sym, params, [(2, 1, 28, 28)], onnx_file_path=path, dynamic=True,
                         dynamic_input_shapes=[(None, 1, 28, 28)])
    onnx.checker.check_model(onnx.load(path), full_check=True)
    x = np.random.default_rng(3).normal(size=(5, 1, 28, 28)).astype(np.float32)
    assert_close(ort_forward(path, {"data": x})[0], cn_forward(sym, params, {"data": x})[0],
                 "dynamic batch 5")
    meta = cn.onnx.get_model_metadata(path)
    assert meta["input_tensor_data"][0][1][1:] == (1, 28, 28)
