"""Imported ONNX models train: gradients reach every parameter of an imported ResNet and a few
SGD steps through cn.gluon lower its loss; cn.onnx loads lazily (import coarsenet needs no onnx)."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed (pip install .[onnx])")
pytest.importorskip("onnxruntime", reason="the onnx extra is not installed (pip install .[onnx])")

from onnx_helpers import assert_close, ort_forward, random_params

import coarsenet as cn


def test_fine_tune_imported_resnet(tmp_path):
    sym = cn.model_zoo.get_symbol("resnet18", num_classes=4)
    shape = (4, 3, 16, 16)
    path = tmp_path / "r18.onnx"
    cn.onnx.export_model(sym, random_params(sym, {"data": shape}), [shape], onnx_file_path=path)
    net = cn.onnx.import_to_gluon(path)
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape).astype(np.float32)
    assert_close(net(cn.nd.array(x)).asnumpy(), ort_forward(path, {"data": x})[0],
                 "SymbolBlock vs ONNX Runtime")
    target = cn.nd.array(np.eye(4, dtype=np.float32)[[0, 1, 2, 3]])
    loss_fn = cn.gluon.loss.L2Loss()
    trainer = cn.gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.5})
    losses = []
    for step in range(4):
        with cn.autograd.record():
            loss = loss_fn(net(cn.nd.array(x)), target)
        loss.backward()
        if step == 0:
            trainable = [p for p in net.collect_params().values() if p.grad_req != "null"]
            assert len(trainable) > 40
            dead = [p.name for p in trainable if not np.any(p.grad().asnumpy())]
            assert not dead, f"no gradient reached {dead}"
        trainer.step(shape[0])
        losses.append(float(loss.asnumpy().mean()))
    assert losses[-1] < losses[0], losses


def test_import_coarsenet_does_not_import_onnx():
    code = ("import sys, coarsenet as mx; assert 'onnx' not in sys.modules; "
            "assert 'coarsenet.onnx' not in sys.modules; "
            "assert callable(mx.onnx.export_model); assert 'coarsenet.onnx' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_hybrid_block_exports_onnx_that_onnx_runtime_runs(tmp_path):
    """Gluon's way out: net.export(path, format="onnx") after hybridize() and one call."""
    ort = pytest.importorskip("onnxruntime")
    net = cn.nn.HybridSequential()
    net.add(cn.nn.Conv2D(4, 3, padding=1, activation="relu"), cn.nn.BatchNorm(),
            cn.nn.Dense(3))
    net.initialize(cn.init.Xavier())
    net.hybridize()
    x = np.random.default_rng(0).uniform(-1, 1, (2, 3, 6, 6)).astype(np.float32)
    expected = net(cn.nd.array(x)).asnumpy()
    path = net.export(str(tmp_path / "net"), format="onnx")
    assert path.endswith("net.onnx")
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    with pytest.raises(cn.CoarsenetError, match="format must be 'mxnet' or 'onnx'"):
        net.export(str(tmp_path / "net"), format="tf")
