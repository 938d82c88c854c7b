"""gluon.rnn.RNN / LSTM / GRU layers: MXNet's parameter names (MXNet-exported weights load and
reproduce MXNet's outputs), NTC/TNC, begin_state, states in and out, hybridize to one fused RNN
node, gradients under autograd equal to the imperative ones, export/import round trip."""
import json
from pathlib import Path

import numpy as np
import pytest

import coarsenet as cn
from coarsenet import autograd
from coarsenet.gluon import rnn

FIXTURES = Path(__file__).parent.parent / "fixtures" / "mxnet" / "rnn"


def _load_renamed(net, file_prefix, name):
    arrays = cn.nd.load(str(FIXTURES / f"{name}-0000.params"))
    for key, value in arrays.items():
        net.collect_params()[net.prefix + key.split(":", 1)[1][len(file_prefix):]].set_data(value)


@pytest.mark.parametrize("hybrid", [False, True])
def test_lstm_with_mxnet_weights_matches_mxnet(hybrid):
    net = rnn.LSTM(8, num_layers=2, bidirectional=True, input_size=5)
    _load_renamed(net, "lstm0_", "lstm2bi")
    if hybrid:
        net.hybridize()
    io = cn.nd.load(str(FIXTURES / "lstm2bi-io.params"))
    out, states = net(io["data"], [io["state0"], io["state1"]])
    np.testing.assert_allclose(out.asnumpy(), io["output"].asnumpy(), rtol=1e-5, atol=1e-5)
    for i, s in enumerate(states):
        np.testing.assert_allclose(s.asnumpy(), io[f"out_state{i}"].asnumpy(), rtol=1e-5,
                                   atol=1e-5)


@pytest.mark.parametrize("hybrid", [False, True])
def test_gru_ntc_with_mxnet_weights_matches_mxnet(hybrid):
    net = rnn.GRU(6, layout="NTC")  # input size inferred on the first call
    io = cn.nd.load(str(FIXTURES / "gru-io.params"))
    net.initialize()
    net(io["data"])
    _load_renamed(net, "gru0_", "gru")
    if hybrid:
        net.hybridize()
    out, (h,) = net(io["data"], io["state0"])
    np.testing.assert_allclose(out.asnumpy(), io["output"].asnumpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(h.asnumpy(), io["out_state0"].asnumpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cls,kw", [(rnn.RNN, {"activation": "tanh"}), (rnn.LSTM, {}),
                                    (rnn.GRU, {}), (rnn.LSTM, {"projection_size": 3})])
def test_hybridized_gradients_equal_imperative(cls, kw):
    rng = np.random.default_rng(0)
    x = cn.nd.array(rng.uniform(-1, 1, (4, 2, 3)))
    grads = []
    for hybrid in (False, True):
        cn.random.seed(0)
        net = cls(5, num_layers=2, bidirectional=True, **kw)
        net.initialize(cn.init.Uniform(0.5))
        if hybrid:
            net.hybridize()
        with autograd.record():
            y = net(x)
        assert y.shape == (4, 2, 2 * (kw.get("projection_size") or 5))
        y.backward()
        grads.append({k.split("_", 1)[1]: p.grad().asnumpy()
                      for k, p in net.collect_params().items()})
    assert grads[0].keys() == grads[1].keys()
    for k in grads[0]:
        np.testing.assert_allclose(grads[0][k], grads[1][k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_begin_state_shapes_and_default_zero_state():
    net = rnn.LSTM(4, num_layers=3, bidirectional=True, input_size=2)
    net.initialize()
    h, c = net.begin_state(batch_size=5)
    assert h.shape == (6, 5, 4) and c.shape == (6, 5, 4)
    x = cn.nd.ones((3, 5, 2))
    out_default = net(x)
    out, _ = net(x, [h, c])
    np.testing.assert_array_equal(out_default.asnumpy(), out.asnumpy())


def test_hybridized_layer_is_one_rnn_node_and_exports(tmp_path):
    net = rnn.GRU(4, num_layers=2)
    net.initialize()
    net.hybridize()
    x = cn.nd.ones((3, 2, 5))
    y = net(x)
    net.export(str(tmp_path / "gru"))
    nodes = json.loads((tmp_path / "gru-symbol.json").read_text())["nodes"]
    assert [n["op"] for n in nodes].count("RNN") == 1
    # As in MXNet, the default zero states become graph inputs (data1) next to the data (data0).
    block = cn.gluon.nn.SymbolBlock.imports(str(tmp_path / "gru-symbol.json"), ["data0", "data1"],
                                            str(tmp_path / "gru-0000.params"))
    out = block(x, net.begin_state(batch_size=2)[0])
    out = out[0] if isinstance(out, (list, tuple)) else out
    np.testing.assert_allclose(out.asnumpy(), y.asnumpy(), rtol=1e-6)


def test_bad_layout_is_an_error():
    with pytest.raises(cn.base.CoarsenetError, match="layout"):
        rnn.LSTM(4, layout="CTN")


def test_inside_hybridized_sequential_zero_states_come_from_the_data():
    x = cn.nd.array(np.random.default_rng(1).uniform(-1, 1, (2, 6, 3)))
    outs = []
    for hybrid in (False, True):
        net = cn.gluon.nn.HybridSequential()
        with net.name_scope():
            net.add(rnn.LSTM(4, layout="NTC"), cn.gluon.nn.Dense(2, flatten=False))
        net.initialize(cn.init.Uniform(0.5))
        if hybrid:
            net.hybridize()
            outs.append(net(x).asnumpy())
        else:
            params = net.collect_params()
            outs.append(net(x).asnumpy())
            saved = {k.split("_", 1)[1]: p.data().asnumpy() for k, p in params.items()}
    for k, p in net.collect_params().items():
        p.set_data(cn.nd.array(saved[k.split("_", 1)[1]]))
    outs[1] = net(x).asnumpy()
    assert outs[0].shape == (2, 6, 2)
    np.testing.assert_allclose(outs[1], outs[0], rtol=1e-5, atol=1e-6)
