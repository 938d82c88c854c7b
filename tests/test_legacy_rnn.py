"""Legacy mx.rnn: symbolic cells equal the fused op (FusedRNNCell vs its unfuse() with the
weights unpacked), pack/unpack round trips, encode_sentences, BucketSentenceIter and RNN
checkpoints."""
import numpy as np
import pytest

import coarsenet as cn

RNG = np.random.default_rng(0)


def run(sym, args):
    exe = sym.bind(cn.cpu(), args=args, grad_req="null")
    return [o.asnumpy() for o in exe.forward()]


@pytest.mark.parametrize("mode,bidirectional", [("lstm", True), ("gru", False),
                                                 ("rnn_tanh", True)])
def test_fused_cell_equals_its_unfused_stack(mode, bidirectional):
    T, N, I, H, L = 4, 2, 3, 5, 2
    fused = cn.rnn.FusedRNNCell(H, num_layers=L, mode=mode, bidirectional=bidirectional,
                                get_next_state=True, prefix="f_")
    x = cn.sym.var("data")
    out, states = fused.unroll(T, x, layout="NTC", merge_outputs=True)
    data = cn.nd.array(RNG.uniform(-1, 1, (N, T, I)))
    shapes, _, _ = out.infer_shape(data=data.shape)
    n_params = dict(zip(out.list_arguments(), shapes))["f_parameters"][0]
    packed = cn.nd.array(RNG.uniform(-0.5, 0.5, n_params))
    (expected,) = run(out, {"data": data, "f_parameters": packed})
    assert len(states) == (2 if mode == "lstm" else 1) * 1

    stack = fused.unfuse()
    out2, _ = stack.unroll(T, x, layout="NTC", merge_outputs=True)
    unpacked = fused.unpack_weights({"f_parameters": packed})
    per_cell = stack.pack_weights(dict(unpacked))  # per-gate names -> each cell's matrices
    args = {"data": data, **{k: v for k, v in per_cell.items() if k in out2.list_arguments()}}
    assert set(args) == set(out2.list_arguments())
    (got,) = run(out2, args)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    repacked = fused.pack_weights(stack.unpack_weights(per_cell))
    np.testing.assert_array_equal(repacked["f_parameters"].asnumpy(), packed.asnumpy())


def test_cells_stack_residual_zoneout_dropout_build_and_run():
    seq = cn.rnn.SequentialRNNCell()
    seq.add(cn.rnn.LSTMCell(4, prefix="a_"))
    seq.add(cn.rnn.DropoutCell(0.3))
    seq.add(cn.rnn.ResidualCell(cn.rnn.GRUCell(4, prefix="b_")))
    seq.add(cn.rnn.ZoneoutCell(cn.rnn.RNNCell(4, prefix="c_"), 0.2, 0.2))
    out, states = seq.unroll(3, cn.sym.var("data"), layout="TNC", merge_outputs=True)
    args = {"data": cn.nd.array(RNG.uniform(-1, 1, (3, 2, 4)))}
    shapes, _, _ = out.infer_shape(data=(3, 2, 4))
    for name, shape in zip(out.list_arguments(), shapes):
        if name != "data":
            args[name] = cn.nd.array(RNG.uniform(-0.5, 0.5, shape))
    (y,) = run(out, args)
    assert y.shape == (3, 2, 4) and len(states) == 4
    with pytest.raises(cn.base.CoarsenetError, match="unroll"):
        cn.rnn.FusedRNNCell(3)(cn.sym.var("x"), [])


def test_encode_sentences_and_bucket_iter():
    sentences = [["a", "b", "c"], ["b", "c"], ["c", "a", "b", "d"], ["a", "b"], ["d", "d"]]
    coded, vocab = cn.rnn.encode_sentences(sentences, invalid_label=0, start_label=1)
    assert vocab["\n"] == 0 and sorted(v for k, v in vocab.items() if k != "\n") == [1, 2, 3, 4]
    assert coded[0] == [vocab["a"], vocab["b"], vocab["c"]]
    again, v2 = cn.rnn.encode_sentences([["a", "zz"]], vocab=vocab, unknown_token="<unk>")
    assert again == [[vocab["a"], v2["<unk>"]]] and "<unk>" not in vocab
    with pytest.raises(cn.base.CoarsenetError, match="zz"):
        cn.rnn.encode_sentences([["zz"]], vocab=vocab)
    it = cn.rnn.BucketSentenceIter(coded, batch_size=2, buckets=[2, 4], invalid_label=0)
    assert it.default_bucket_key == 4 and it.provide_data[0].shape == (2, 4)
    seen = 0
    for batch in it:
        d, lbl = batch.data[0].asnumpy(), batch.label[0].asnumpy()
        assert d.shape == (2, batch.bucket_key) == batch.provide_data[0].shape
        np.testing.assert_array_equal(lbl[:, :-1], d[:, 1:])
        assert (lbl[:, -1] == 0).all()
        seen += 1
    assert seen == 2  # 3 sentences of length <= 2 (one batch), 2 of length 3-4 (one batch)


def test_rnn_checkpoint_unpacks_per_gate_and_packs_back(tmp_path):
    cell = cn.rnn.LSTMCell(3, prefix="l_")
    out, _ = cell.unroll(2, cn.sym.var("data"), layout="NTC", merge_outputs=True)
    shapes, _, _ = out.infer_shape(data=(1, 2, 4))
    arg = {n: cn.nd.array(RNG.uniform(-1, 1, s)) for n, s in zip(out.list_arguments(), shapes)
           if n != "data"}
    cn.rnn.save_rnn_checkpoint(cell, str(tmp_path / "m"), 3, out, arg, {})
    saved = cn.nd.load(str(tmp_path / "m-0003.params"))
    assert "arg:l_i2h_f_weight" in saved and "arg:l_i2h_weight" not in saved
    _, arg2, _ = cn.rnn.load_rnn_checkpoint(cell, str(tmp_path / "m"), 3)
    assert set(arg2) == set(arg)
    for k, v in arg.items():
        np.testing.assert_array_equal(arg2[k].asnumpy(), v.asnumpy())
