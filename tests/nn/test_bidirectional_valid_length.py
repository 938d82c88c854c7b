"""BidirectionalCell.unroll(valid_length=...) as MXNet 1.9.1: the right cell runs over each
row's valid steps reversed. Checked against an MXNet-made fixture (BidirectionalCell of an
LSTMCell and a GRUCell, rows of lengths 5, 2, 4, 1), imperatively and through a symbol."""
import os

import numpy as np

import coarsenet as cn
from coarsenet.gluon import rnn

HERE = os.path.join(os.path.dirname(__file__), "..", "fixtures", "mxnet", "rnn")


def make_cell():
    cell = rnn.BidirectionalCell(rnn.LSTMCell(5, input_size=3, prefix="l_"),
                                 rnn.GRUCell(4, input_size=3, prefix="r_"))
    cell.load_parameters(os.path.join(HERE, "bicell_valid.params"))
    return cell


def test_imperative_unroll_equals_mxnet():
    io = cn.nd.load(os.path.join(HERE, "bicell_valid-io.params"))
    cell = make_cell()
    out, states = cell.unroll(5, io["data"], layout="NTC", merge_outputs=True,
                              valid_length=io["valid_length"])
    np.testing.assert_allclose(out.asnumpy(), io["output"].asnumpy(), rtol=1e-5, atol=1e-6)
    assert len(states) == 3
    for i, s in enumerate(states):
        np.testing.assert_allclose(s.asnumpy(), io[f"out_state{i}"].asnumpy(), rtol=1e-5,
                                   atol=1e-6, err_msg=f"state {i}")
    # Not just a plain reversal: rows shorter than 5 differ from the unmasked unroll.
    plain, _ = cell.unroll(5, io["data"], layout="NTC", merge_outputs=True)
    assert not np.allclose(plain.asnumpy()[1], io["output"].asnumpy()[1])


def test_symbolic_unroll_equals_mxnet():
    io = cn.nd.load(os.path.join(HERE, "bicell_valid-io.params"))
    cell = make_cell()
    x, vl = cn.sym.Variable("data"), cn.sym.Variable("valid_length")
    out, states = cell.unroll(5, x, layout="NTC", merge_outputs=True, valid_length=vl)
    args = {"data": io["data"], "valid_length": io["valid_length"]}
    args.update({p.var().name: p.data() for p in cell.collect_params().values()})
    ex = cn.sym.Group([out] + states).bind(cn.cpu(), args)
    res = ex.forward()
    np.testing.assert_allclose(res[0].asnumpy(), io["output"].asnumpy(), rtol=1e-5, atol=1e-6)
    for i in range(3):
        np.testing.assert_allclose(res[i + 1].asnumpy(), io[f"out_state{i}"].asnumpy(),
                                   rtol=1e-5, atol=1e-6)


def test_gradients_flow_through_the_reversal():
    io = cn.nd.load(os.path.join(HERE, "bicell_valid-io.params"))
    cell = make_cell()
    x = io["data"].copy()
    x.attach_grad()
    with cn.autograd.record():
        out, _ = cell.unroll(5, x, layout="NTC", merge_outputs=True,
                             valid_length=io["valid_length"])
        loss = (out * out).sum()
    loss.backward()
    g = x.grad.asnumpy()
    lengths = io["valid_length"].asnumpy().astype(int)
    for b, n in enumerate(lengths):  # steps past a row's end do not affect the outputs
        assert np.all(g[b, n:] == 0) and np.any(g[b, :n] != 0)
