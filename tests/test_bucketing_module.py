"""mx.mod.BucketingModule: one executor per bucket sharing parameters, gradients, optimizer and
the default (largest) bucket's arena; results equal a plain Module bound to each bucket."""
import numpy as np
import pytest

import coarsenet as cn
from coarsenet.gluon import rnn
from coarsenet.io import DataBatch

VOCAB, HIDDEN, BATCH = 7, 5, 3


def make_sym_gen():
    cell = rnn.LSTMCell(HIDDEN, prefix="lstm_")

    def sym_gen(seq_len):
        data, label = cn.sym.var("data"), cn.sym.var("softmax_label")
        emb = cn.sym.Embedding(data, input_dim=VOCAB, output_dim=4, name="embed")
        out, _ = cell.unroll(seq_len, emb, layout="NTC", merge_outputs=True)
        pred = cn.sym.FullyConnected(cn.sym.reshape(out, shape=(-1, HIDDEN)), num_hidden=VOCAB,
                                     name="pred")
        sm = cn.sym.SoftmaxOutput(pred, cn.sym.reshape(label, shape=(-1,)), name="softmax")
        return sm, ("data",), ("softmax_label",)

    return sym_gen


def batch(rng, seq_len):
    x = rng.integers(0, VOCAB, (BATCH, seq_len)).astype(np.float32)
    y = (x + 1) % VOCAB  # a learnable target: the next symbol of the alphabet
    b = DataBatch([cn.nd.array(x)], [cn.nd.array(y)])
    b.bucket_key = seq_len
    b.provide_data = [("data", (BATCH, seq_len))]
    b.provide_label = [("softmax_label", (BATCH, seq_len))]
    return b


def test_buckets_share_params_and_arena_and_match_plain_modules():
    rng = np.random.default_rng(0)
    gen = make_sym_gen()
    mod = cn.mod.BucketingModule(gen, default_bucket_key=6)
    mod.bind([("data", (BATCH, 6))], [("softmax_label", (BATCH, 6))])
    mod.init_params(cn.init.Uniform(0.3))
    mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.5})
    for key in (6, 3, 4, 3):
        b = batch(rng, key)
        mod.forward(b, is_train=True)
        assert mod.get_outputs()[0].shape == (BATCH * key, VOCAB)
        mod.backward()
        mod.update()
    stats = mod.memory_stats()
    assert stats["num_buckets"] == 3 and stats["own_arena_buckets"] == []
    assert stats["separate_arena_bytes"] > stats["arena_bytes"]
    big, small = mod._buckets[6]._exec, mod._buckets[3]._exec
    assert big.arg_dict["lstm_i2h_weight"] is small.arg_dict["lstm_i2h_weight"]
    assert np.shares_memory(big._arena, small._arena)

    # The small bucket, after training, gives what a plain Module with those params gives.
    arg, aux = mod.get_params()
    b = batch(rng, 3)
    mod.forward(b, is_train=False)
    got = mod.get_outputs()[0].asnumpy().copy()
    sym, _, _ = gen(3)
    plain = cn.mod.Module(sym)
    plain.bind([("data", (BATCH, 3))], [("softmax_label", (BATCH, 3))])
    plain.init_params(arg_params=arg, aux_params=aux)
    plain.forward(b, is_train=False)
    np.testing.assert_allclose(got, plain.get_outputs()[0].asnumpy(), rtol=1e-6)


def test_training_lowers_the_loss_across_buckets():
    rng = np.random.default_rng(1)
    mod = cn.mod.BucketingModule(make_sym_gen(), default_bucket_key=5)
    mod.bind([("data", (BATCH, 5))], [("softmax_label", (BATCH, 5))])
    mod.init_params(cn.init.Uniform(0.3))
    mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 1.0})
    batches = [batch(rng, k) for k in (5, 2, 5, 2)]
    metric = cn.metric.Perplexity(None)

    def perplexity():
        metric.reset()
        for b in batches:
            mod.forward(b, is_train=False)
            mod.update_metric(metric, [cn.nd.array(b.label[0].asnumpy().reshape(-1))])
        return metric.get()[1]

    before = perplexity()
    for _ in range(30):
        for b in batches:
            mod.forward(b, is_train=True)
            mod.backward()
            mod.update()
    assert perplexity() < 0.5 * before


def test_needs_default_bucket_key():
    with pytest.raises(cn.base.CoarsenetError, match="default_bucket_key"):
        cn.mod.BucketingModule(make_sym_gen())


def test_monitor_watches_every_bucket():
    rng = np.random.default_rng(2)
    mod = cn.mod.BucketingModule(make_sym_gen(), default_bucket_key=6)
    mod.bind([("data", (BATCH, 6))], [("softmax_label", (BATCH, 6))])
    mod.init_params(cn.init.Uniform(0.3))
    mon = cn.mon.Monitor(1, pattern="pred_output")
    mod.install_monitor(mon)
    for key in (6, 3):  # bucket 3 is bound after install_monitor
        mon.tic()
        mod.forward(batch(rng, key), is_train=False)
        stats = mon.toc()
        assert [name for _, name, _ in stats] == ["pred_output"]
