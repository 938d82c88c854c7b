"""BaseModule's loops, SequentialModule, PythonLossModule, mx.model.FeedForward, Module.score
on batches without `pad`, and mx.mon.Monitor, against real MXNet 1.9.1 trained from the same
parameters on the same batches (tests/fixtures/mxnet/make_module_family.py)."""
import json
import os
import sys

import numpy as np
import pytest

import coarsenet as mx

HERE = os.path.join(os.path.dirname(__file__), "fixtures", "mxnet")
sys.path.insert(0, HERE)
import module_family_cases as C  # noqa: E402  networks and settings the fixture used

REF = np.load(os.path.join(HERE, "module_family.npz"))
X, Y, PARAMS = C.data()


def it():
    return mx.io.NDArrayIter(X, Y, C.BATCH, shuffle=False)


def close(a, b):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_sequential_module_trains_like_mxnet():
    m1 = mx.mod.Module(C.first(mx), label_names=[])
    m2 = mx.mod.Module(mx.sym.SoftmaxOutput(C.second(mx), name="softmax"))
    seq = mx.mod.SequentialModule().add(m1).add(m2, take_labels=True, auto_wiring=True)
    seq.fit(it(), num_epoch=C.EPOCHS, arg_params=C.nd_params(mx, PARAMS, PARAMS),
            optimizer_params=C.OPT, progress_bar=False)
    arg, _ = seq.get_params()
    assert sorted(arg) == sorted(PARAMS)
    for k, v in arg.items():
        close(v.asnumpy(), REF[f"seq_{k}"])
    close(seq.predict(it()).asnumpy(), REF["seq_predict"])
    assert seq.score(it(), "acc")[0][1] == pytest.approx(float(REF["seq_acc"]))
    assert seq.output_shapes == [("softmax_output", (C.BATCH, 3))]


def test_python_loss_module_gives_its_gradient_to_the_module_before():
    m = mx.mod.Module(mx.sym.FullyConnected(C.first(mx), num_hidden=3, name="fc2"),
                      label_names=[])
    loss = mx.mod.PythonLossModule(grad_func=C.softmax_ce_grad)
    pl = mx.mod.SequentialModule().add(m).add(loss, take_labels=True, auto_wiring=True)
    pl.fit(it(), num_epoch=C.EPOCHS, arg_params=C.nd_params(mx, PARAMS, PARAMS),
           optimizer_params=C.OPT, progress_bar=False)
    arg, _ = pl.get_params()
    for k, v in arg.items():
        close(v.asnumpy(), REF[f"pyloss_{k}"])
    assert pl.score(it(), "acc")[0][1] == pytest.approx(float(REF["pyloss_acc"]))


def test_python_loss_module_without_grad_func_says_so():
    loss = mx.mod.PythonLossModule()
    loss.bind([("data", (2, 3))], [("softmax_label", (2,))])
    loss.forward(mx.io.DataBatch([mx.nd.ones((2, 3))], [mx.nd.zeros((2,))]), is_train=True)
    with pytest.raises(NotImplementedError, match="grad_func"):
        loss.backward()


def test_python_module_subclass():
    class Doubler(mx.mod.PythonModule):
        def __init__(self):
            super().__init__(["data"], [], ["double_output"])

        def _compute_output_shapes(self):
            return [("double_output", self.data_shapes[0].shape)]

        def forward(self, data_batch, is_train=None):
            self._out = data_batch.data[0] * 2

        def get_outputs(self, merge_multi_context=True):
            return [self._out]

    d = Doubler()
    d.bind([("data", (4, 2))], for_training=False)
    d.init_params()
    assert d.output_shapes == [("double_output", (4, 2))]
    out = d.predict(mx.io.NDArrayIter(np.arange(12, dtype=np.float32).reshape(6, 2),
                                      batch_size=4))
    close(out.asnumpy(), 2 * np.arange(12).reshape(6, 2))  # padding of the last batch dropped


def test_feedforward_fit_predict_score_save_load(tmp_path):
    ff = mx.model.FeedForward(C.whole(mx), num_epoch=C.EPOCHS, numpy_batch_size=C.BATCH,
                              arg_params=C.nd_params(mx, PARAMS, PARAMS), aux_params={},
                              **C.OPT)
    ff.fit(it())
    for k, v in ff.arg_params.items():
        close(v.asnumpy(), REF[f"ff_{k}"])
    close(ff.predict(X[:25]), REF["ff_predict"])
    assert ff.score(it()) == pytest.approx(float(REF["ff_acc"]))
    prefix = str(tmp_path / "ff")
    ff.save(prefix)
    loaded = mx.model.FeedForward.load(prefix, C.EPOCHS)
    close(loaded.predict(X[:25]), REF["ff_predict"])
    out, data, label = loaded.predict(it(), return_data=True)
    assert out.shape == (40, 3) and data.shape == (40, 6) and label.shape == (40,)


def test_feedforward_create_on_arrays_learns():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 6)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32)
    mx.random.seed(1)
    ff = mx.model.FeedForward.create(C.whole(mx), x, y, num_epoch=8, numpy_batch_size=20,
                                     initializer=mx.init.Xavier(), learning_rate=0.5,
                                     momentum=0.9)
    assert ff.score(mx.io.NDArrayIter(x, y, 20)) > 0.9
    with pytest.raises(mx.CoarsenetError, match="y is required"):
        mx.model.FeedForward(C.whole(mx), num_epoch=1).fit(x)


def test_score_on_user_batches_without_pad():
    mod = mx.mod.Module(C.whole(mx))
    mod.bind(data_shapes=[("data", (C.BATCH, 6))], label_shapes=[("softmax_label", (C.BATCH,))])
    mod.init_params(arg_params=C.nd_params(mx, PARAMS, PARAMS))

    class Batches:  # a plain iterator of objects with data and label only
        def __init__(self):
            self.i = 0

        def reset(self):
            self.i = 0

        def __iter__(self):
            return self

        def __next__(self):
            if self.i == 4:
                raise StopIteration
            s = slice(self.i * C.BATCH, (self.i + 1) * C.BATCH)
            self.i += 1
            return type("B", (), {"data": [mx.nd.array(X[s])], "label": [mx.nd.array(Y[s])]})

    assert mod.score(Batches(), "acc")[0][1] == pytest.approx(float(REF["nopad_acc"]))


def test_monitor_reports_mxnets_names_and_values():
    mod = mx.mod.Module(C.whole(mx))
    mod.bind(data_shapes=[("data", (C.BATCH, 6))], label_shapes=[("softmax_label", (C.BATCH,))])
    mod.init_params(arg_params=C.nd_params(mx, PARAMS, PARAMS))
    mod.init_optimizer(optimizer_params=C.OPT)
    mon = mx.mon.Monitor(1, pattern=".*")
    mod.install_monitor(mon)
    mon.tic()
    mod.forward_backward(next(iter(it())))
    mod.update()
    stats = mon.toc()
    with open(os.path.join(HERE, "module_family_monitor.json")) as f:
        ref_names = json.load(f)
    ref = dict(zip(ref_names, REF["monitor_values"]))
    names = [k for _, k, _ in stats]
    # MXNet also reports the gradients nobody asked for (of the data and of the label);
    # coarsenet computes none there. Every other name, in MXNet's order:
    assert names == [n for n in ref_names
                     if n not in ("softmax_backward_output1", "fc1_backward_output0")]
    for _, name, text in stats:
        assert float(text.split()[0]) == pytest.approx(float(ref[name]), rel=1e-4, abs=1e-6)
    assert mon.toc() == []  # inactive until the next tic
    mon.tic()  # interval 1: active again; the pattern filters names
    mon.re_prog = __import__("re").compile("fc1_")
    mod.forward(next(iter(it())), is_train=False)
    assert [k for _, k, _ in mon.toc()] == ["fc1_output", "fc1_weight", "fc1_bias"]


def test_fit_with_monitor_and_batch_end_param():
    seen = []
    mod = mx.mod.Module(C.whole(mx))
    mod.fit(it(), num_epoch=1, monitor=mx.mon.Monitor(2, pattern="softmax_output"),
            batch_end_callback=lambda p: seen.append((p.epoch, p.nbatch, p.eval_metric.name)),
            progress_bar=False)
    assert seen == [(0, i, "accuracy") for i in range(4)]
    assert mx.model.BatchEndParam is mx.module.BatchEndParam


def test_base_module_is_the_base_of_every_module():
    for klass in (mx.mod.Module, mx.mod.BucketingModule, mx.mod.SequentialModule,
                  mx.mod.PythonModule, mx.mod.PythonLossModule):
        assert issubclass(klass, mx.mod.BaseModule)
    with pytest.raises(NotImplementedError, match="forward"):
        mx.mod.BaseModule().forward(None)


def test_optimizer_states_round_trip_through_a_checkpoint(tmp_path):
    """Adam's moments and update counts saved with the checkpoint continue training exactly
    as if it had never stopped (coarsenet's .npz states format, no pickle)."""
    def fresh():
        mod = mx.mod.Module(C.whole(mx))
        mod.bind(data_shapes=[("data", (C.BATCH, 6))],
                 label_shapes=[("softmax_label", (C.BATCH,))])
        mod.init_params(arg_params=C.nd_params(mx, PARAMS, PARAMS))
        mod.init_optimizer(optimizer="adam", optimizer_params={"learning_rate": 0.01})
        return mod

    batches = list(it())
    a = fresh()
    for b in batches[:2]:
        a.forward_backward(b)
        a.update()
    prefix = str(tmp_path / "ck")
    a.save_checkpoint(prefix, 2, save_optimizer_states=True)
    b = mx.mod.Module.load(prefix, 2, load_optimizer_states=True)
    b.bind(data_shapes=[("data", (C.BATCH, 6))], label_shapes=[("softmax_label", (C.BATCH,))])
    b.init_params()
    b.init_optimizer(optimizer="adam", optimizer_params={"learning_rate": 0.01})
    for m in (a, b):
        for batch in batches[2:]:
            m.forward_backward(batch)
            m.update()
    for k, v in a.get_params()[0].items():
        np.testing.assert_array_equal(v.asnumpy(), b.get_params()[0][k].asnumpy())
    c = mx.mod.Module(C.whole(mx))
    c.bind(data_shapes=[("data", (C.BATCH, 6))], label_shapes=[("softmax_label", (C.BATCH,))])
    c.init_params()
    c.borrow_optimizer(a)
    assert c._updater is a._updater
    with pytest.raises(mx.CoarsenetError, match="set_states"):
        a._updater.set_states(b"not an archive")


def test_callbacks_module_checkpoint_log_validation_and_progress_bar(tmp_path, caplog):
    import logging

    mod = mx.mod.Module(C.whole(mx))
    prefix = str(tmp_path / "m")
    with caplog.at_level(logging.INFO):
        mod.fit(it(), eval_data=it(), num_epoch=2, progress_bar=False,
                arg_params=C.nd_params(mx, PARAMS, PARAMS),
                epoch_end_callback=mx.callback.module_checkpoint(mod, prefix, period=2,
                                                                 save_optimizer_states=True),
                eval_end_callback=mx.callback.LogValidationMetricsCallback(),
                batch_end_callback=mx.callback.ProgressBar(total=4, length=8))
    assert os.path.exists(prefix + "-0002.params") and os.path.exists(prefix + "-0002.states")
    assert not os.path.exists(prefix + "-0001.params")
    assert "[====----] 50%" in caplog.text
    assert caplog.text.count("Epoch[1] Validation-accuracy") == 2  # fit's log and the callback
    assert mx.module.base_module.BaseModule is mx.mod.BaseModule


def test_feedforward_with_a_symbol_generator_buckets():
    """MXNet's FeedForward(symbol=sym_gen) over a bucketing iterator: one parameter set for
    every bucket (here sequences of 2 or 4 steps, averaged over time before the classifier)."""
    def sym_gen(steps):
        data = mx.sym.Variable("data")
        pooled = mx.sym.mean(data, axis=1)
        return mx.sym.SoftmaxOutput(mx.sym.FullyConnected(pooled, num_hidden=2, name="fc"),
                                    name="softmax")

    rng = np.random.default_rng(0)

    class Buckets(mx.io.DataIter):
        default_bucket_key = 4

        def __init__(self):
            super().__init__(8)
            self.provide_data = [mx.io.DataDesc("data", (8, 4, 3))]
            self.provide_label = [mx.io.DataDesc("softmax_label", (8,))]
            self.reset()

        def reset(self):
            self.left = [4, 2, 4, 2]

        def next(self):
            if not self.left:
                raise StopIteration
            steps = self.left.pop()
            x = rng.normal(size=(8, steps, 3)).astype(np.float32)
            y = (x[:, :, 0].mean(axis=1) > 0).astype(np.float32)
            return mx.io.DataBatch([mx.nd.array(x)], [mx.nd.array(y)], bucket_key=steps,
                                   provide_data=[mx.io.DataDesc("data", x.shape)],
                                   provide_label=[mx.io.DataDesc("softmax_label", (8,))])

    ff = mx.model.FeedForward(sym_gen, num_epoch=15, learning_rate=0.5, momentum=0.9,
                              initializer=mx.init.Xavier())
    ff.fit(Buckets())
    assert sorted(ff.arg_params) == ["fc_bias", "fc_weight"]
    assert ff.score(Buckets()) > 0.8


def test_monitor_all_reports_op_inputs_as_mxnet():
    """MXNet 1.9.1 (subgraph fusion off) reports, for monitor_all=True on FullyConnected then
    Activation: data, fc1_data, fc1_weight, fc1_weight, fc1_bias, fc1_bias, fc1_output,
    r_input0, r_output, then the arguments. coarsenet names the Activation input by its
    declared name (r_data) where MXNet says r_input0."""
    x = mx.sym.Variable("data")
    y = mx.sym.Activation(mx.sym.FullyConnected(x, num_hidden=2, name="fc1"), act_type="relu",
                          name="r")
    exe = y.simple_bind(data=(1, 3), grad_req="null")
    mon = mx.mon.Monitor(1, pattern=".*", monitor_all=True)
    mon.install(exe)
    mon.tic()
    exe.forward()
    assert [k for _, k, _ in mon.toc()] == [
        "data", "fc1_data", "fc1_weight", "fc1_weight", "fc1_bias", "fc1_bias", "fc1_output",
        "r_data", "r_output", "data", "fc1_weight", "fc1_bias"]


def test_trainer_save_and_load_states(tmp_path):
    from coarsenet.gluon import nn

    def make():
        mx.random.seed(3)
        net = nn.Dense(2, in_units=3)
        net.initialize(mx.init.Xavier())
        return net, mx.gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.1})

    def step(net, trainer):
        with mx.autograd.record():
            loss = (net(mx.nd.ones((4, 3))) ** 2).sum()
        loss.backward()
        trainer.step(4)

    a, ta = make()
    step(a, ta)
    ta.save_states(str(tmp_path / "t.states"))
    b, tb = make()
    for p, q in zip(a.collect_params().values(), b.collect_params().values()):
        q.set_data(p.data())
    tb.load_states(str(tmp_path / "t.states"))
    step(a, ta)
    step(b, tb)
    for p, q in zip(a.collect_params().values(), b.collect_params().values()):
        np.testing.assert_array_equal(p.data().asnumpy(), q.data().asnumpy())
