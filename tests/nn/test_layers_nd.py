"""1-D / 3-D convolution and pooling layers, Lambda and HybridLambda, against REAL MXNet 1.9.1
(tests/fixtures/mxnet/gluon13/layers.*): outputs and the gradients of sum(out * head) with
respect to the input and every parameter, imperative and hybridized."""
import json
from pathlib import Path

import numpy as np
import pytest

import coarsenet as cn
from coarsenet import autograd, gluon, nn
from coarsenet.testing import assert_close

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "mxnet" / "gluon13"
META = json.loads((FIX / "layers.json").read_text())
ARR = np.load(FIX / "layers.npz", allow_pickle=False)
CASES = sorted(c for c in META if hasattr(nn, META[c]["class"]))


def _kwargs(kwargs: dict) -> dict:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}


@pytest.mark.parametrize("hybridize", [False, True])
@pytest.mark.parametrize("case", CASES)
def test_layer_matches_mxnet(case, hybridize):
    m = META[case]
    layer = getattr(nn, m["class"])(**_kwargs(m["kwargs"]))
    layer.initialize()
    params = layer._collect_params_with_prefix()
    assert sorted(params) == m["params"], "structural parameter names differ from MXNet's"
    for name, p in params.items():
        p.set_data(cn.nd.array(ARR[f"{case}/param/{name}"]))
    if hybridize:
        layer.hybridize()
    x = cn.nd.array(ARR[f"{case}/in"])
    x.attach_grad()
    with autograd.record():
        out = layer(x)
    out.backward(cn.nd.array(ARR[f"{case}/head"]))
    assert_close(out.asnumpy(), ARR[f"{case}/out"], 1e-5, 1e-5, f"{case} output")
    assert_close(x.grad.asnumpy(), ARR[f"{case}/grad_in"], 1e-5, 1e-5, f"{case} input grad")
    for name, p in params.items():
        assert_close(p.grad().asnumpy(), ARR[f"{case}/grad/{name}"], 1e-4, 1e-5,
                     f"{case} grad of {name}")


def test_conv1d_deferred_in_channels_and_save_load(tmp_path):
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Conv1D(5, 3, groups=1), nn.GlobalMaxPool1D())
    net.initialize()
    x = cn.nd.array(np.random.default_rng(0).uniform(size=(2, 4, 9)))
    y = net(x)
    assert y.shape == (2, 5, 1) and net[0].weight.shape == (5, 4, 3)
    net.save_parameters(str(tmp_path / "c.params"))
    other = nn.HybridSequential()
    with other.name_scope():
        other.add(nn.Conv1D(5, 3, in_channels=4), nn.GlobalMaxPool1D())
    other.load_parameters(str(tmp_path / "c.params"))
    other.hybridize()
    np.testing.assert_allclose(other(x).asnumpy(), y.asnumpy(), rtol=1e-6)


def test_one_d_layers_reject_bad_arguments():
    with pytest.raises(ValueError, match="1-tuple"):
        nn.Conv1D(2, (3, 3))
    with pytest.raises(ValueError, match="NCW"):
        nn.MaxPool1D(layout="NWC")


def test_lambda_and_hybrid_lambda():
    x = cn.nd.array([[-1.0, 0.5, 2.0]])
    np.testing.assert_allclose(nn.Lambda("tanh")(x).asnumpy(), np.tanh(x.asnumpy()), rtol=1e-6)
    np.testing.assert_allclose(nn.Lambda(lambda a, b: a * b)(x, x).asnumpy(),
                               x.asnumpy() ** 2)
    for block in (nn.HybridLambda("relu"), nn.HybridLambda(lambda F, a: F.relu(a))):
        expected = np.maximum(x.asnumpy(), 0)
        np.testing.assert_allclose(block(x).asnumpy(), expected)
        block.hybridize()
        xg = cn.nd.array(x.asnumpy())
        xg.attach_grad()
        with autograd.record():
            y = block(xg)
        y.backward()
        np.testing.assert_allclose(y.asnumpy(), expected)
        np.testing.assert_allclose(xg.grad.asnumpy(), [[0.0, 1.0, 1.0]])
    assert repr(nn.HybridLambda("relu")) == "HybridLambda(relu)"
    with pytest.raises(cn.base.CoarsenetError, match="not found"):
        nn.HybridLambda("no_such_op")
    with pytest.raises(ValueError, match="Unrecognized"):
        nn.Lambda(3)
    assert gluon.nn.HybridLambda is nn.HybridLambda
