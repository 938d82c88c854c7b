"""gluon.rnn cells: unrolled cells equal the fused layers with the same weights (LSTM, GRU,
RNN, stacked, bidirectional, valid_length), hybridized steps equal imperative ones, symbolic
unroll equals imperative unroll, and the modifier cells do what MXNet's do."""
import numpy as np
import pytest

import coarsenet as cn
from coarsenet import autograd
from coarsenet.gluon import rnn

RNG = np.random.default_rng(0)


def data(shape):
    return cn.nd.array(RNG.uniform(-1, 1, shape))


def copy_layer_to_cells(layer, cells):
    """cells: {(layer_index, 'l'|'r'): cell}; copies the fused layer's weights into them."""
    lp = {k[len(layer.prefix):]: p for k, p in layer.collect_params().items()}
    for (i, d), cell in cells.items():
        for name in ("i2h_weight", "h2h_weight", "i2h_bias", "h2h_bias"):
            getattr(cell, name).set_data(lp[f"{d}{i}_{name}"].data())


def fused(cls, hidden, x, **kw):
    layer = cls(hidden, **kw)
    layer.initialize(cn.init.Uniform(0.5))
    return layer, layer(x)


@pytest.mark.parametrize("layer_cls,cell_cls,kw", [
    (rnn.LSTM, rnn.LSTMCell, {}), (rnn.GRU, rnn.GRUCell, {}),
    (rnn.RNN, rnn.RNNCell, {"activation": "tanh"})])
def test_unrolled_cell_equals_fused_layer(layer_cls, cell_cls, kw):
    x = data((5, 3, 4))  # TNC
    layer, expected = fused(layer_cls, 6, x, **kw)
    cell = cell_cls(6, input_size=4, **kw)
    cell.initialize()
    copy_layer_to_cells(layer, {(0, "l"): cell})
    out, states = cell.unroll(5, x, layout="TNC", merge_outputs=True)
    np.testing.assert_allclose(out.asnumpy(), expected.asnumpy(), rtol=1e-5, atol=1e-6)
    assert len(states) == len(cell.state_info())


def test_sequential_and_bidirectional_cells_equal_fused_layers():
    x = data((3, 4, 2))  # NTC
    layer, expected = fused(rnn.LSTM, 5, x, num_layers=2, layout="NTC")
    seq = rnn.SequentialRNNCell()
    cells = {(0, "l"): rnn.LSTMCell(5, input_size=2), (1, "l"): rnn.LSTMCell(5, input_size=5)}
    for c in cells.values():
        seq.add(c)
    seq.initialize()
    copy_layer_to_cells(layer, cells)
    out, states = seq.unroll(4, x, layout="NTC", merge_outputs=True)
    np.testing.assert_allclose(out.asnumpy(), expected.asnumpy(), rtol=1e-5, atol=1e-6)
    assert len(states) == 4

    layer, expected = fused(rnn.GRU, 3, x, bidirectional=True, layout="NTC")
    cells = {(0, "l"): rnn.GRUCell(3, input_size=2), (0, "r"): rnn.GRUCell(3, input_size=2)}
    bi = rnn.BidirectionalCell(cells[0, "l"], cells[0, "r"])
    bi.initialize()
    copy_layer_to_cells(layer, cells)
    out, states = bi.unroll(4, x, layout="NTC", merge_outputs=True)
    np.testing.assert_allclose(out.asnumpy(), expected.asnumpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(cn.base.CoarsenetError, match="unroll"):
        bi(x, states)


def test_valid_length_equals_fused_sequence_length():
    x = data((4, 3, 2))  # TNC
    lengths = cn.nd.array([4, 2, 1])
    layer = rnn.LSTM(5, use_sequence_length=True)
    layer.initialize(cn.init.Uniform(0.5))
    expected, (h, c) = layer(x, layer.begin_state(3), lengths)
    cell = rnn.LSTMCell(5, input_size=2)
    cell.initialize()
    copy_layer_to_cells(layer, {(0, "l"): cell})
    out, states = cell.unroll(4, x, layout="TNC", merge_outputs=True, valid_length=lengths)
    np.testing.assert_allclose(out.asnumpy(), expected.asnumpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(states[0].asnumpy(), h.asnumpy()[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(states[1].asnumpy(), c.asnumpy()[0], rtol=1e-5, atol=1e-6)


def test_hybridized_cell_and_symbolic_unroll_equal_imperative():
    x = data((2, 3, 4))
    cell = rnn.GRUCell(5)
    cell.initialize(cn.init.Uniform(0.5))
    expected, _ = cell.unroll(3, x, merge_outputs=True)
    cell.hybridize()
    got, _ = cell.unroll(3, x, merge_outputs=True)
    np.testing.assert_allclose(got.asnumpy(), expected.asnumpy(), rtol=1e-6)

    cell2 = rnn.LSTMCell(5, prefix="sym_")
    cell2.initialize(cn.init.Uniform(0.5))
    expected, _ = cell2.unroll(3, x, merge_outputs=True)
    out, _ = cell2.unroll(3, cn.sym.var("data"), merge_outputs=True)
    args = {"data": x, **{k: p.data() for k, p in cell2.collect_params().items()}}
    (got,) = out.bind(cn.cpu(), args=args, grad_req="null").forward()
    np.testing.assert_allclose(got.asnumpy(), expected.asnumpy(), rtol=1e-5, atol=1e-6)


def test_cell_gradients_flow_through_unroll():
    x = data((2, 3, 4))
    cell = rnn.LSTMCell(3)
    cell.initialize(cn.init.Uniform(0.5))
    with autograd.record():
        out, _ = cell.unroll(3, x, merge_outputs=True)
    out.backward()
    for p in cell.collect_params().values():
        assert np.abs(p.grad().asnumpy()).sum() > 0, p.name


def test_residual_dropout_zoneout_cells():
    x = data((2, 3, 4))
    base = rnn.GRUCell(4, input_size=4)
    res = rnn.ResidualCell(base)
    res.initialize(cn.init.Uniform(0.5))
    step = x.asnumpy()[:, 0]
    out, _ = res(cn.nd.array(step), res.begin_state(2))
    plain, _ = base(cn.nd.array(step), base.begin_state(2))
    np.testing.assert_allclose(out.asnumpy(), plain.asnumpy() + step, rtol=1e-6)

    drop = rnn.DropoutCell(0.5)
    out, states = drop(cn.nd.array(step), [])
    np.testing.assert_array_equal(out.asnumpy(), step)  # inference: identity
    assert states == []

    zone = rnn.ZoneoutCell(rnn.LSTMCell(4, input_size=4), zoneout_outputs=0.5,
                           zoneout_states=0.5)
    zone.initialize(cn.init.Uniform(0.5))
    plain, _ = zone.base_cell.unroll(3, x, merge_outputs=True)
    out, _ = zone.unroll(3, x, merge_outputs=True)  # inference: the base cell
    np.testing.assert_allclose(out.asnumpy(), plain.asnumpy(), rtol=1e-6)
    with autograd.record():
        out, _ = zone.unroll(3, x, merge_outputs=True)
    o, p = out.asnumpy(), plain.asnumpy()
    # each unit of step t is either the new output or the previous step's kept output
    assert not np.allclose(o, p)
    assert np.all(np.isclose(o[:, 0], p[:, 0]) | (o[:, 0] == 0))


def test_hybrid_sequential_cell_and_length_errors():
    seq = rnn.HybridSequentialRNNCell()
    seq.add(rnn.RNNCell(3, input_size=2))
    seq.add(rnn.DropoutCell(0.0))
    seq.add(rnn.RNNCell(2, input_size=3))
    seq.initialize()
    x = data((1, 4, 2))
    expected, _ = seq.unroll(4, x, merge_outputs=True)
    seq.hybridize()
    got, states = seq.unroll(4, x, merge_outputs=True)
    np.testing.assert_allclose(got.asnumpy(), expected.asnumpy(), rtol=1e-6)
    assert [s.shape for s in states] == [(1, 3), (1, 2)]
    with pytest.raises(cn.base.CoarsenetError, match="length"):
        seq.unroll(3, x)


def test_parameter_names_are_mxnets():
    cell = rnn.LSTMCell(3)
    assert cell.prefix.startswith("lstm") and not cell.prefix.startswith("lstmcell")
    assert sorted(k[len(cell.prefix):] for k in cell.collect_params()) == \
        ["h2h_bias", "h2h_weight", "i2h_bias", "i2h_weight"]
    assert rnn.GRUCell(2).prefix.startswith("gru")
    assert rnn.RNNCell(2).prefix.startswith("rnn")
    assert rnn.ZoneoutCell(cell).prefix == cell.prefix + "zoneout"
