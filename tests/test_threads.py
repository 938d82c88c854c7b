"""Several Python threads using coarsenet at once get what one thread alone gets.

Autograd's recording and training state is per thread (as in MXNet): a thread doing inference
next to a recording thread runs in inference mode (Dropout off, BatchNorm running statistics
untouched), and recording threads keep separate tapes.
"""
import threading

import numpy as np

import coarsenet as cn
from coarsenet import autograd

THREADS, ITERATIONS = 4, 200


def run_threads(worker):
    errors = []

    def guarded(index):
        try:
            worker(index)
        except BaseException as e:  # surfaced in the main thread below
            errors.append((index, e))

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def make_net(seed):
    net = cn.nn.Sequential()
    net.add(cn.nn.Dense(8, activation="relu"), cn.nn.BatchNorm(), cn.nn.Dropout(0.5),
            cn.nn.Dense(3))
    cn.random.seed(seed)
    net.initialize(cn.init.Xavier())
    net(cn.nd.array(np.zeros((4, 5), np.float32)))  # infer parameter shapes
    return net


def params_of(net):
    """Parameter values in order (each net has its own name prefix)."""
    return [p.data().asnumpy().copy() for p in net.collect_params().values()]


def test_recording_in_one_thread_does_not_leak_into_inference_threads():
    x = cn.nd.array(np.random.default_rng(0).uniform(-1, 1, (4, 5)).astype(np.float32))
    nets = [make_net(seed=1) for _ in range(THREADS)]
    expected = nets[0](x).asnumpy()  # inference mode: deterministic
    start = params_of(nets[0])
    barrier = threading.Barrier(THREADS)

    def worker(i):
        barrier.wait()
        for _ in range(ITERATIONS):
            if i == 0:  # records with Dropout and batch statistics
                with autograd.record():
                    loss = nets[0](x).sum()
                loss.backward()
            else:
                assert not autograd.is_recording() and not autograd.is_training()
                np.testing.assert_array_equal(nets[i](x).asnumpy(), expected)

    run_threads(worker)
    for i in range(1, THREADS):  # inference never touched the running statistics
        after = params_of(nets[i])
        for a, b in zip(after, start, strict=True):
            np.testing.assert_array_equal(a, b)


def test_recording_threads_keep_separate_tapes():
    rng = np.random.default_rng(1)
    data = [rng.uniform(-1, 1, (3, 4)) for _ in range(THREADS)]
    w = rng.uniform(-1, 1, (2, 4))

    def gradient(x_np):
        x = cn.nd.array(x_np, dtype=np.float64)
        weight = cn.nd.array(w, dtype=np.float64)
        x.attach_grad()
        with autograd.record():
            y = cn.nd.FullyConnected(x, weight, num_hidden=2, no_bias=True)
            loss = (cn.nd.tanh(y) * y).sum()
        loss.backward()
        return x.grad.asnumpy()

    expected = [gradient(d) for d in data]

    def worker(i):
        for _ in range(ITERATIONS):
            np.testing.assert_array_equal(gradient(data[i]), expected[i])

    run_threads(worker)


def test_executors_in_several_threads_match_one_thread():
    data = cn.sym.Variable("data")
    net = cn.sym.FullyConnected(data, num_hidden=6, name="fc1")
    net = cn.sym.Activation(net, act_type="tanh")
    net = cn.sym.SoftmaxOutput(cn.sym.FullyConnected(net, num_hidden=3, name="fc2"),
                               name="softmax")
    rng = np.random.default_rng(2)
    x, label = rng.uniform(-1, 1, (5, 4)), np.array([0, 1, 2, 0, 1])
    params = {"fc1_weight": rng.uniform(-1, 1, (6, 4)), "fc1_bias": np.zeros(6),
              "fc2_weight": rng.uniform(-1, 1, (3, 6)), "fc2_bias": np.zeros(3)}

    def step(exe):
        exe.forward(is_train=True, data=x, softmax_label=label)
        exe.backward()
        return exe.outputs[0].asnumpy().copy(), exe.grad_dict["fc1_weight"].asnumpy().copy()

    def bound():
        exe = net.simple_bind(data=(5, 4), softmax_label=(5,))
        for k, v in params.items():
            exe.arg_dict[k][:] = v
        return exe

    out_ref, grad_ref = step(bound())

    def worker(i):
        exe = bound()
        for _ in range(ITERATIONS):
            out, grad = step(exe)
            np.testing.assert_array_equal(out, out_ref)
            np.testing.assert_array_equal(grad, grad_ref)

    run_threads(worker)
