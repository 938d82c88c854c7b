"""Batch parallelism: small batch-separable calls run as single-threaded calls on slices of
their batch (passes/batch_split.py chooses, bindings/batch_split.h runs).

Results must be the same bits for any thread count; against batch parallelism off, ops computed
element by element or sample by sample give the same bits, convolutions and sums over the
batch (weight and bias gradients) agree to rounding. Slice workspaces and gradient buffers are
planned memory.
"""
import numpy as np
import pytest

import coarsenet as cn
from coarsenet import _core


@pytest.fixture
def threads():
    before = cn.get_num_threads()
    yield cn.set_num_threads
    cn.set_num_threads(before)


BOTH = _core.BATCH_INFERENCE | _core.BATCH_TRAIN


@pytest.mark.parametrize("name, attrs, modes, sliced_in, sliced_out", [
    ("Convolution", {"kernel": "(3,3)", "num_filter": "4"}, BOTH, [1, 0, 0], [1]),
    ("Convolution", {"kernel": "(3,3)", "num_filter": "4", "no_bias": "True"}, BOTH, [1, 0],
     [1]),
    ("BatchNorm", {}, _core.BATCH_INFERENCE, [1, 0, 0], [1, 0, 0]),
    ("BatchNorm", {"use_global_stats": "True"}, BOTH, [1, 0, 0], [1, 0, 0]),
    ("BatchNorm", {"axis": "0"}, 0, [1, 0, 0], [1, 0, 0]),
    ("Activation", {"act_type": "relu"}, BOTH, [1], [1]),
    ("Pooling", {"kernel": "(2,2)", "pool_type": "max"}, BOTH, [1], [1, 1]),
    ("elemwise_add", {}, BOTH, [1, 1], [1]),
])
def test_ops_declare_which_tensors_are_sliced(name, attrs, modes, sliced_in, sliced_out):
    got_modes, got_in, got_out = _core.Op(name, attrs).batch_split
    assert got_modes == modes
    if modes:
        assert (list(got_in), list(got_out)) == (sliced_in, sliced_out)


@pytest.mark.parametrize("name, attrs", [("Dropout", {}), ("SoftmaxOutput", {}),
                                         ("FullyConnected", {"num_hidden": "3"})])
def test_undeclared_ops_are_never_split(name, attrs):
    assert _core.Op(name, attrs).batch_split[0] == 0


def resnet_like(classes=10):
    """Conv / BN / ReLU, a residual unit with a projection shortcut, pooling, FC."""
    sym = cn.sym

    def cbr(x, f, name, stride=1):
        x = sym.Convolution(x, kernel=(3, 3), pad=(1, 1), stride=(stride, stride), num_filter=f,
                            no_bias=True, name=name + "_conv")
        return sym.Activation(sym.BatchNorm(x, name=name + "_bn"), act_type="relu")

    x = cbr(sym.Variable("data"), 16, "stem")
    body = cbr(cbr(x, 16, "a"), 16, "b")
    x = sym.Activation(x + body, act_type="relu")
    body = cbr(cbr(x, 32, "c", stride=2), 32, "d")
    short = sym.Convolution(x, kernel=(1, 1), stride=(2, 2), num_filter=32, name="proj")
    x = sym.Pooling(body + short, kernel=(2, 2), stride=(2, 2), pool_type="max")
    x = sym.Pooling(x, global_pool=True, pool_type="avg", kernel=(1, 1))
    return sym.SoftmaxOutput(sym.FullyConnected(sym.Flatten(x), num_hidden=classes),
                             name="softmax")


def _bind(net, monkeypatch, batch_par, batch=16, req="write", size=16):
    monkeypatch.setenv("COARSENET_BATCH_PAR", "1" if batch_par else "0")
    exe = net.simple_bind(data=(batch, 3, size, size), softmax_label=(batch,), grad_req=req)
    rng = np.random.RandomState(0)
    for name in sorted(exe.arg_dict):
        a = exe.arg_dict[name]
        a[:] = rng.uniform(-0.5, 0.5, a.shape).astype(a.dtype)
    exe.arg_dict["softmax_label"][:] = np.arange(batch) % 10
    for name, a in exe.aux_dict.items():
        a[:] = 1 if name.endswith("var") else 0
    return exe


def _train(exe, steps=2):
    for _ in range(steps):
        exe.forward(is_train=True)
        exe.backward()
    train = ([o.asnumpy().copy() for o in exe.outputs]
             + [g.asnumpy().copy() for g in exe.grad_arrays if g is not None]
             + [a.asnumpy().copy() for a in exe.aux_arrays])
    return train + [exe.forward(is_train=False)[0].asnumpy().copy()]


def test_resnet_like_same_bits_for_any_thread_count(monkeypatch, threads):
    net = resnet_like()
    ref = None
    for n in (1, 2, 3):
        threads(n)
        exe = _bind(net, monkeypatch, True)
        assert exe.batch_parallel and exe.memory_stats()["batch_split_calls"] >= 10
        got = _train(exe)
        if ref is None:
            ref = got
            continue
        for a, b in zip(ref, got):
            assert a.dtype == b.dtype and np.array_equal(a, b), n


def test_one_executor_same_bits_when_the_count_changes_at_run_time(monkeypatch, threads):
    net = resnet_like()
    threads(2)
    exe = _bind(net, monkeypatch, True)
    ref = None
    for n in (1, 2, 3, 4):
        threads(n)
        for name, a in exe.aux_dict.items():  # the same starting state each time
            a[:] = 1 if name.endswith("var") else 0
        got = _train(exe, steps=1)
        if ref is None:
            ref = got
            continue
        for a, b in zip(ref, got):
            assert np.array_equal(a, b), n


def test_resnet_like_on_and_off_agree(monkeypatch, threads):
    threads(2)
    net = resnet_like()
    on, off = _bind(net, monkeypatch, True), _bind(net, monkeypatch, False)
    assert off.memory_stats()["batch_split_calls"] == 0 and not off.batch_parallel
    for a, b in zip(_train(on), _train(off)):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)


def test_gradient_add_accumulates_over_slices(monkeypatch, threads):
    threads(2)
    net = resnet_like()
    on, off = _bind(net, monkeypatch, True, req="add"), _bind(net, monkeypatch, False, req="add")
    for exe in (on, off):
        for g in exe.grad_arrays:
            if g is not None:
                g[:] = 0.25
    for a, b in zip(_train(on, steps=3), _train(off, steps=3)):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=5e-5)


def test_attribute_switches_at_run_time_and_workspace_is_planned(monkeypatch, threads):
    threads(2)
    net = resnet_like()
    exe = _bind(net, monkeypatch, True)
    off = _bind(net, monkeypatch, False)
    assert exe.memory_stats()["workspace_bytes"] > off.memory_stats()["workspace_bytes"]
    on_bits = _train(exe, steps=1)
    exe.batch_parallel = False
    assert not exe.batch_parallel
    exe2 = _bind(net, monkeypatch, True)
    exe2.batch_parallel = False
    # Off at run time computes what an executor bound without batch parallelism does.
    for a, b in zip(_train(exe2, steps=1), _train(off, steps=1)):
        assert np.array_equal(a, b)
    exe.batch_parallel = True
    assert len(on_bits) == len(_train(exe, steps=1))


def test_elementwise_ops_give_the_same_bits_on_and_off(monkeypatch, threads):
    """ReLU, element-wise add, pooling and BatchNorm with moving statistics are computed sample
    by sample: slicing cannot change a bit (inference forward and the data gradient)."""
    threads(2)
    sym = cn.sym
    x = sym.Variable("data")
    y = sym.BatchNorm(x, name="bn", use_global_stats=True)
    y = sym.Activation(y, act_type="relu") + x
    y = sym.Pooling(y, kernel=(2, 2), stride=(2, 2), pool_type="max")
    net = sym.MakeLoss(sym.sum(y * y))
    exes = []
    for on in (True, False):
        monkeypatch.setenv("COARSENET_BATCH_PAR", "1" if on else "0")
        exe = net.simple_bind(data=(16, 8, 32, 32))
        rng = np.random.RandomState(1)
        for name in sorted(exe.arg_dict):
            exe.arg_dict[name][:] = rng.standard_normal(exe.arg_dict[name].shape)
        for a in exe.aux_dict.values():
            a[:] = rng.uniform(0.5, 1.5, a.shape)
        exes.append(exe)
    assert exes[0].memory_stats()["batch_split_calls"] >= 4
    for exe in exes:
        exe.forward(is_train=True)
        exe.backward()
    assert np.array_equal(exes[0].outputs[0].asnumpy(), exes[1].outputs[0].asnumpy())
    assert np.array_equal(exes[0].grad_dict["data"].asnumpy(),
                          exes[1].grad_dict["data"].asnumpy())
    np.testing.assert_allclose(exes[0].grad_dict["bn_gamma"].asnumpy(),
                               exes[1].grad_dict["bn_gamma"].asnumpy(), rtol=1e-5)


def test_batchnorm_in_training_is_not_split(monkeypatch):
    """Batch statistics couple the batch: the moving statistics after a training step are the
    same bits with batch parallelism on and off."""
    sym = cn.sym
    net = sym.MakeLoss(sym.sum(sym.BatchNorm(sym.Variable("data"), name="bn")))
    stats = []
    for on in (True, False):
        monkeypatch.setenv("COARSENET_BATCH_PAR", "1" if on else "0")
        exe = net.simple_bind(data=(16, 8, 32, 32))
        exe.arg_dict["data"][:] = np.random.RandomState(2).standard_normal((16, 8, 32, 32))
        exe.arg_dict["bn_gamma"][:] = 1
        exe.forward(is_train=True)
        exe.backward()
        stats.append([a.asnumpy().copy() for a in exe.aux_arrays]
                     + [exe.grad_dict["data"].asnumpy().copy()])
    for a, b in zip(*stats):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("slices", [2, 3, 5])
def test_program_slices_a_convolution_backward(slices, threads):
    """The mechanism alone: a conv backward in `slices` slices against the whole call, with
    weight and bias gradients reduced in a fixed order (write and add)."""
    threads(2)
    rng = np.random.RandomState(3)
    op = _core.Op("Convolution", {"kernel": "(3,3)", "num_filter": "6", "pad": "(1,1)"})
    x = rng.standard_normal((7, 4, 9, 9))
    w, b = rng.standard_normal((6, 4, 3, 3)), rng.standard_normal(6)
    dy = rng.standard_normal((7, 6, 9, 9))
    results = {}
    for s in (1, slices):
        grads = [np.zeros_like(x), np.full_like(w, 0.5), np.full_like(b, 0.5)]
        req = [1, 3, 3]  # write, add, add
        need = op.split_workspace_bytes([x.shape, w.shape, b.shape], [dy.shape], True,
                                        [1, 1, 1], [1], s, req) if s > 1 else \
            op.workspace_bytes([x.shape, w.shape, b.shape], [dy.shape], True, 1)
        ws = np.zeros(max(need, 8), np.uint8)
        prog = _core.Program()
        prog.add_backward(op, [dy], [x, w, b], [None], grads, req, [], ws, slices=s,
                          workspace_bytes=need)
        assert prog.slices(0) == s
        prog.run(0, -1, True, 0)
        results[s] = grads
    for a, b_ in zip(results[1], results[slices]):
        np.testing.assert_allclose(a, b_, rtol=1e-10, atol=1e-10)


def test_program_refuses_a_workspace_too_small_for_its_slices():
    op = _core.Op("Activation", {"act_type": "relu"})
    x = np.ones((4, 3))
    with pytest.raises(cn.CoarsenetError, match="cannot cut a batch of 4 into 5"):
        _core.Program().add_forward(op, [x], [np.zeros_like(x)], [1], [], None, slices=5)
    op = _core.Op("Convolution", {"kernel": "(3,3)", "num_filter": "2"})
    x, w, b = np.ones((4, 3, 8, 8)), np.ones((2, 3, 3, 3)), np.ones(2)
    dy = np.ones((4, 2, 6, 6))
    with pytest.raises(cn.CoarsenetError, match="workspace"):
        _core.Program().add_backward(op, [dy], [x, w, b], [None],
                                     [np.zeros_like(x), np.zeros_like(w), np.zeros_like(b)],
                                     [1, 1, 1], [], np.zeros(8, np.uint8), slices=2,
                                     workspace_bytes=8)
