import numpy as np
import pytest

import coarsenet as cn
from coarsenet import autograd
from coarsenet.testing import assert_close, expect_error, numeric_gradient

OPS = set(cn.ops.list())


def needs(*names):
    """The ops a test uses; every op is built in, so a missing one fails instead of skipping."""
    missing = [n for n in names if n not in OPS]
    assert not missing, f"ops missing from the build: {missing}"
    return lambda test: test


def arr(shape, seed=0, dtype=np.float64, low=-1.0, high=1.0):
    return cn.nd.array(np.random.default_rng(seed).uniform(low, high, shape), dtype=dtype)


def check_autograd(op_name, shapes, params, n_aux=0, is_train=True, seed=0):
    """autograd (record + backward through cn.nd.<op>) == central differences, float64."""
    rng = np.random.default_rng(seed)
    op = cn.ops.make(op_name, params)
    xs = [rng.uniform(-1, 1, s) for s in shapes]
    n_in = len(xs) - n_aux
    inputs = [cn.nd.array(x, dtype=np.float64) for x in xs]
    for x in inputs[:n_in]:
        x.attach_grad()
    with autograd.record(train_mode=is_train):
        out = getattr(cn.nd, op_name)(*[x.copy() if i >= n_in else x
                                        for i, x in enumerate(inputs)], **params)
    outs = out if isinstance(out, list) else [out]
    heads = [rng.uniform(-1, 1, o.shape) for o in outs]
    autograd.backward(outs, [cn.nd.array(h, dtype=np.float64) for h in heads])

    def loss():
        res = op.invoke(xs[:n_in], [a.copy() for a in xs[n_in:]], is_train, 0)
        return float(sum(np.sum(r * h) for r, h in zip(res, heads)))

    for i in range(n_in):
        numeric, mask = numeric_gradient(loss, xs[i], max_points=60)
        assert_close(inputs[i].grad.asnumpy()[mask], numeric[mask], 1e-4, 1e-6,
                     f"{op_name} autograd grad of input {i}")


@pytest.mark.parametrize("params,shapes", [
    (dict(num_hidden=3), [(4, 5), (3, 5), (3,)]),
    (dict(num_hidden=2, no_bias=True, flatten=False), [(2, 3, 4), (2, 4)]),
])
def test_fully_connected_matches_numeric(params, shapes):
    check_autograd("FullyConnected", shapes, params)


@needs("BatchNorm")
def test_batch_norm_matches_numeric():
    check_autograd("BatchNorm", [(3, 2, 2, 2), (2,), (2,), (2,), (2,)], dict(fix_gamma=False),
                   n_aux=2)


@needs("Pooling")
@pytest.mark.parametrize("pool_type", ["max", "avg"])
def test_pooling_matches_numeric(pool_type):
    check_autograd("Pooling", [(1, 2, 4, 4)], dict(kernel=(2, 2), stride=(2, 2),
                                                   pool_type=pool_type))


# (op, input shapes, params): every op is differentiated through cn.nd + record + backward.
CASES = [
    ("Convolution", [(1, 2, 4, 4), (3, 2, 3, 3), (3,)], dict(kernel=(3, 3), num_filter=3,
                                                          pad=(1, 1))),
    ("Deconvolution", [(1, 2, 3, 3), (2, 3, 2, 2)], dict(kernel=(2, 2), num_filter=3,
                                                         no_bias=True)),
    ("Activation", [(3, 4)], dict(act_type="tanh")),
    ("LeakyReLU", [(3, 4)], dict(act_type="leaky", slope=0.1)),
    ("Flatten", [(2, 3, 2)], {}),
    ("Reshape", [(2, 3, 2)], dict(shape=(3, 4))),
    ("Concat", [(2, 3), (2, 2)], dict(dim=1, num_args=2)),
    ("SliceChannel", [(2, 4)], dict(num_outputs=2, axis=1)),
    ("softmax", [(2, 5)], {}),
    ("log_softmax", [(2, 5)], {}),
    ("sum", [(2, 3, 4)], dict(axis=(1,))),
    ("mean", [(2, 3, 4)], dict(axis=(0, 2), keepdims=True)),
    ("elemwise_mul", [(2, 3), (2, 3)], {}),
    ("broadcast_add", [(2, 3), (1, 3)], {}),
    ("_mul_scalar", [(2, 3)], dict(scalar=3.0)),
    ("clip", [(3, 4)], dict(a_min=-0.5, a_max=0.5)),
    ("add_n", [(2, 2), (2, 2), (2, 2)], dict(num_args=3)),
]


@pytest.mark.parametrize("op_name,shapes,params", CASES, ids=[c[0] for c in CASES])
def test_op_matches_numeric(op_name, shapes, params):
    check_autograd(op_name, shapes, params)


@needs("Embedding")
def test_embedding_gradient_goes_to_weight():
    idx = cn.nd.array([[0, 2], [2, 3]], dtype=np.float64)
    w = arr((4, 3), 1)
    w.attach_grad()
    with autograd.record():
        y = cn.nd.Embedding(idx, w, input_dim=4, output_dim=3)
    y.backward()
    assert_close(w.grad.asnumpy()[:, 0], np.array([1.0, 0.0, 2.0, 1.0]), 0, 0, "embedding")


@needs("SoftmaxOutput")
def test_loss_op_ignores_head_gradient():
    x, label = arr((3, 4), 1), cn.nd.array([0, 3, 1], dtype=np.float64)
    x.attach_grad()
    with autograd.record():
        y = cn.nd.SoftmaxOutput(x, label)
    y.backward(cn.nd.full((3, 4), 5.0, dtype=np.float64))  # ignored, as in MXNet
    e = np.exp(x.asnumpy() - x.asnumpy().max(1, keepdims=True))
    expected = e / e.sum(1, keepdims=True) - np.eye(4)[[0, 3, 1]]
    assert_close(x.grad.asnumpy(), expected, 1e-10, 1e-12, "SoftmaxOutput gradient")


@needs("elemwise_mul", "elemwise_add")
def test_operators_and_same_input_twice():
    x = arr((2, 3), 1)
    x.attach_grad()
    with autograd.record():
        y = x * x + x
    y.backward()
    assert_close(x.grad.asnumpy(), 2 * x.asnumpy() + 1, 1e-12, 1e-12, "x*x + x")


@needs("SliceChannel")
def test_unused_outputs_get_zero_gradient():
    x = arr((2, 4), 1)
    x.attach_grad()
    with autograd.record():
        a, b = cn.nd.SliceChannel(x, num_outputs=2, axis=1)
    a.backward()
    assert_close(x.grad.asnumpy(), np.array([[1, 1, 0, 0]] * 2, dtype=float), 0, 0, "slice")


def fc(x, w, b=None):
    if b is None:
        return cn.nd.FullyConnected(x, w, num_hidden=w.shape[0], no_bias=True)
    return cn.nd.FullyConnected(x, w, b, num_hidden=w.shape[0])


def test_fan_out_gradients_add_up():
    x, w = arr((4, 3), 1), arr((3, 3), 2)
    w.attach_grad()
    with autograd.record():
        h = fc(x, w)
        y1, y2 = fc(h, w), fc(x, w)  # w read three times, h feeds y1 only
    autograd.backward([y1, y2])
    ones = np.ones((4, 3))
    hv = x.asnumpy() @ w.asnumpy().T
    expected = ones.T @ hv + (ones @ w.asnumpy()).T @ x.asnumpy() + ones.T @ x.asnumpy()
    assert_close(w.grad.asnumpy(), expected, 1e-10, 1e-10, "fan-out grad")


def test_same_array_twice_in_one_op():
    x = arr((3, 3), 3)
    x.attach_grad()
    with autograd.record():
        y = fc(x, x)  # y = x x^T
    y.backward()
    ones = np.ones((3, 3))
    expected = ones @ x.asnumpy() + ones.T @ x.asnumpy()
    assert_close(x.grad.asnumpy(), expected, 1e-10, 1e-10, "x used twice")


def test_grad_req_add_accumulates_and_write_overwrites():
    x, w = arr((2, 3), 4), arr((1, 3), 5)
    w.attach_grad(grad_req="add")
    x.attach_grad()
    for _ in range(2):
        with autograd.record():
            y = fc(x, w)
        y.backward()
    assert_close(w.grad.asnumpy(), 2 * x.asnumpy().sum(0, keepdims=True), 1e-12, 1e-12, "add")
    assert_close(x.grad.asnumpy(), np.repeat(w.asnumpy(), 2, 0), 1e-12, 1e-12, "write")


def test_pause_and_modes():
    x, w = arr((2, 3)), arr((1, 3))
    w.attach_grad()
    assert not autograd.is_recording() and not autograd.is_training()
    with autograd.record():
        assert autograd.is_recording() and autograd.is_training()
        with autograd.pause():
            assert not autograd.is_recording() and not autograd.is_training()
            frozen = fc(x, w)
        with autograd.predict_mode():
            assert autograd.is_recording() and not autograd.is_training()
        y = fc(x, w) + 0 if "_plus_scalar" in OPS else fc(x, w)
    assert frozen._tape is None and y._tape is not None
    with autograd.train_mode():
        assert autograd.is_training() and not autograd.is_recording()
    assert not autograd.is_training()


def test_retain_graph():
    x, w = arr((2, 3)), arr((1, 3))
    w.attach_grad(grad_req="add")
    with autograd.record():
        y = fc(x, w)
    y.backward(retain_graph=True)
    y.backward()
    assert_close(w.grad.asnumpy(), 2 * x.asnumpy().sum(0, keepdims=True), 1e-12, 1e-12, "twice")
    expect_error(y.backward, "FullyConnected", "retain_graph=True")


def test_grad_function_leaves_dot_grad_alone():
    x, w = arr((2, 3)), arr((1, 3))
    w.attach_grad()
    with autograd.record():
        h = fc(x, w)
        y = fc(h, cn.nd.ones((1, 1), dtype=np.float64))
    gw, gh = autograd.grad(y, [w, h])
    assert_close(gw.asnumpy(), x.asnumpy().sum(0, keepdims=True), 1e-12, 1e-12, "grad w")
    assert_close(gh.asnumpy(), np.ones((2, 1)), 1e-12, 1e-12, "grad of intermediate")
    assert not w.grad.asnumpy().any()
    expect_error(lambda: autograd.grad(y, [w], create_graph=True), "create_graph")


def test_only_saves_what_backward_needs():
    x, w, b = arr((2, 3)), arr((4, 3)), arr((4,))
    w.attach_grad()
    with autograd.record():
        y = cn.nd.FullyConnected(x, w, b, num_hidden=4)
    node = y._tape[0]
    op = node.op
    # unneeded inputs are kept as their shape only, never their data
    assert [isinstance(s, np.ndarray) for s in node.saved_in] == [bool(n) for n in op.needs_inputs]
    assert all(isinstance(s, tuple) for s, n in zip(node.saved_in, op.needs_inputs) if not n)
    assert [s is not None for s in node.saved_out] == [bool(n) for n in op.needs_outputs]
    assert node.entries[0] is None and node.entries[2] is None  # constants: no tape entries


def test_unrecorded_inputs_are_not_recorded():
    x, w = arr((2, 3)), arr((1, 3))
    with autograd.record():
        y = fc(x, w)
    assert y._tape is None
    expect_error(y.backward, "attach_grad")


def test_inplace_on_recorded_array_is_an_error():
    x, w = arr((2, 3)), arr((1, 3))
    w.attach_grad()
    with autograd.record():
        y = fc(x, w)
        expect_error(lambda: y.__iadd__(1.0), "in-place", "+=")
        expect_error(lambda: w.__setitem__(0, 1.0), "in-place")
    y += 1.0  # outside recording it is allowed (MXNet allows it too)


def test_head_gradient_shape_is_checked():
    x, w = arr((2, 3)), arr((1, 3))
    w.attach_grad()
    with autograd.record():
        y = fc(x, w)
    expect_error(lambda: y.backward(cn.nd.ones((3, 1), dtype=np.float64)), "shape")


def test_mark_variables():
    x, w = arr((2, 3)), arr((1, 3))
    g = cn.nd.zeros((1, 3), dtype=np.float64)
    autograd.mark_variables([w], [g])
    with autograd.record():
        y = fc(x, w)
    y.backward()
    assert_close(g.asnumpy(), x.asnumpy().sum(0, keepdims=True), 1e-12, 1e-12, "marked")
    expect_error(lambda: autograd.mark_variables([w], [cn.nd.zeros((2,))]), "shape")


def test_checkpoint_gives_the_same_gradients():
    x, w1, w2 = arr((4, 3), 1), arr((5, 3), 2), arr((2, 5), 3)
    for a in (x, w1, w2):
        a.attach_grad()

    def block(x):
        return fc(fc(x, w1), w2)

    with autograd.record():
        y = block(x)
    y.backward()
    expected = [a.grad.asnumpy().copy() for a in (x, w1, w2)]
    with autograd.record():
        y2 = autograd.checkpoint(block, x)
    assert y2._tape[0].custom is not None  # one node: internals were not recorded
    y2.backward()
    for a, e in zip((x, w1, w2), expected):
        assert_close(a.grad.asnumpy(), e, 1e-12, 1e-12, "checkpoint grad")


@needs("BatchNorm")
def test_checkpoint_updates_batch_norm_stats_once():
    x, gamma, beta = arr((4, 2, 3, 3), 1), arr((2,), 2), arr((2,), 3)
    mean, var = cn.nd.zeros((2,), dtype=np.float64), cn.nd.ones((2,), dtype=np.float64)
    for a in (x, gamma, beta):
        a.attach_grad()

    def block(x):
        return cn.nd.BatchNorm(x, gamma, beta, mean, var, fix_gamma=False)

    with autograd.record():
        y = block(x)
    y.backward()
    expected = [a.grad.asnumpy().copy() for a in (x, gamma, beta)]
    stats = mean.asnumpy().copy(), var.asnumpy().copy()
    mean._data[...], var._data[...] = 0, 1
    with autograd.record():
        y2 = autograd.checkpoint(block, x)
    y2.backward()
    for a, e in zip((x, gamma, beta), expected):
        assert_close(a.grad.asnumpy(), e, 1e-10, 1e-10, "checkpoint BN grad")
    assert_close(mean.asnumpy(), stats[0], 1e-12, 1e-12, "moving mean updated once")
    assert_close(var.asnumpy(), stats[1], 1e-12, 1e-12, "moving var updated once")


@needs("Dropout")
def test_checkpoint_replays_dropout_mask():
    x = arr((8, 16), 1)
    x.attach_grad()
    with autograd.record():
        y = autograd.checkpoint(lambda a: cn.nd.Dropout(a, p=0.5), x)
    y.backward()
    kept = y.asnumpy() != 0
    assert_close(x.grad.asnumpy(), kept * 2.0, 1e-12, 1e-12, "same mask in recompute")


@needs("Activation")
def test_checkpoint_keeps_none_of_the_segments_activations():
    """Without checkpoint the tape holds relu's output (its backward reads it); inside a
    checkpointed segment nothing does: it is freed after forward and recomputed."""
    import gc
    import weakref

    x, w1, w2 = arr((4, 3), 1), arr((5, 3), 2), arr((2, 5), 3)
    w1.attach_grad()
    refs = []

    def block(x):
        h = cn.nd.Activation(fc(x, w1), act_type="relu")
        refs.append(weakref.ref(h._data))
        return fc(h, w2)

    grads = []
    for use_checkpoint in (False, True):
        refs.clear()
        with autograd.record():
            y = autograd.checkpoint(block, x) if use_checkpoint else block(x)
        gc.collect()
        assert (refs[0]() is None) == use_checkpoint
        y.backward()
        assert len(refs) == 1 + use_checkpoint  # the backward ran the segment again
        grads.append(w1.grad.asnumpy().copy())
    assert_close(grads[1], grads[0], 1e-12, 1e-12, "checkpoint grad")


@needs("BatchNorm", "Dropout")
def test_checkpoint_of_dropout_and_batch_norm_equals_the_plain_run():
    """One segment with Dropout and BatchNorm: under the same seed, the output, every
    gradient and the running statistics equal the run without checkpoint."""
    def run(use_checkpoint):
        x, w = arr((6, 4), 1), arr((3, 4), 2)
        gamma, beta = arr((3,), 3), arr((3,), 4)
        mean, var = cn.nd.zeros((3,), dtype=np.float64), cn.nd.ones((3,), dtype=np.float64)
        for a in (x, w, gamma, beta):
            a.attach_grad()

        def block(x):
            h = cn.nd.Dropout(fc(x, w), p=0.5)
            return cn.nd.BatchNorm(h, gamma, beta, mean, var, fix_gamma=False)

        cn.random.seed(11)
        with autograd.record():
            y = autograd.checkpoint(block, x) if use_checkpoint else block(x)
        y.backward(cn.nd.array(np.random.default_rng(5).uniform(-1, 1, y.shape)))
        return [a.asnumpy().copy() for a in (y, x.grad, w.grad, gamma.grad, beta.grad,
                                            mean, var)]

    for got, want in zip(run(True), run(False)):
        assert_close(got, want, 1e-12, 1e-12, "checkpointed Dropout + BatchNorm")


@needs("BlockGrad")
def test_block_grad_gives_zero():
    x, w = arr((2, 3)), arr((1, 3))
    w.attach_grad()
    w.grad._data[...] = 7
    with autograd.record():
        y = cn.nd.BlockGrad(fc(x, w))
    y.backward()
    assert not w.grad.asnumpy().any()


def test_attach_grad_bad_request():
    expect_error(lambda: arr((2,)).attach_grad("sometimes"), "grad_req")


@needs("Activation")
def test_unneeded_intermediates_are_freed():
    import gc
    import weakref

    x, w = arr((2, 3)), arr((4, 3))
    w.attach_grad()
    with autograd.record():
        h = fc(x, w)  # FullyConnected's backward does not read its output
        y = cn.nd.Activation(h, act_type="relu")  # relu's backward reads only its output
    ref = weakref.ref(h._data)
    del h
    gc.collect()
    assert ref() is None, "an intermediate no backward needs is still alive"
    y.backward()
    assert w.grad.asnumpy().any()


def test_custom_python_op_is_differentiated():
    from coarsenet import operator

    @operator.register("autograd_test_sqr")
    class SqrProp(operator.CustomOpProp):
        def list_arguments(self):
            return ["data"]

        def infer_shape(self, in_shape):
            return in_shape, [in_shape[0]], []

        def create_operator(self, ctx, shapes, dtypes):
            return Sqr()

    class Sqr(operator.CustomOp):
        def forward(self, is_train, req, in_data, out_data, aux):
            self.assign(out_data[0], req[0], in_data[0].asnumpy() ** 2)

        def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
            self.assign(in_grad[0], req[0], 2 * in_data[0].asnumpy() * out_grad[0].asnumpy())

    x = arr((3,), 1)
    x.attach_grad()
    with autograd.record():
        y = cn.nd.Custom(x, op_type="autograd_test_sqr")
    y.backward()
    assert_close(x.grad.asnumpy(), 2 * x.asnumpy(), 1e-12, 1e-12, "custom op gradient")


@pytest.mark.parametrize("op_name,shapes,params", CASES, ids=[c[0] for c in CASES])
def test_op_matches_executor(op_name, shapes, params):
    """The tape's gradients equal the bound executor's for the same one-op graph."""
    sym = cn.sym
    rng = np.random.default_rng(0)
    xs = [rng.uniform(-1, 1, s) for s in shapes]
    names = [f"x{i}" for i in range(len(xs))]
    out = getattr(sym, op_name)(*[sym.var(n) for n in names], **params)
    exe = out.bind(args={n: cn.nd.array(x, dtype=np.float64) for n, x in zip(names, xs)},
                   args_grad={n: cn.nd.zeros(x.shape, dtype=np.float64)
                              for n, x in zip(names, xs)})
    outs = exe.forward(is_train=True)
    heads = [rng.uniform(-1, 1, o.shape) for o in outs]
    exe.backward([cn.nd.array(h, dtype=np.float64) for h in heads])
    inputs = [cn.nd.array(x, dtype=np.float64) for x in xs]
    for x in inputs:
        x.attach_grad()
    with autograd.record():
        res = getattr(cn.nd, op_name)(*inputs, **params)
    res = res if isinstance(res, list) else [res]
    autograd.backward(res, [cn.nd.array(h, dtype=np.float64) for h in heads])
    for n, x in zip(names, inputs):
        assert_close(x.grad.asnumpy(), exe.grad_dict[n].asnumpy(), 1e-12, 1e-12,
                     f"{op_name} tape vs executor gradient of {n}")


def test_concat_with_several_constant_inputs():
    """Inputs without gradient still give their shapes to backward (Concat needs the widths)."""
    x = cn.nd.array(np.random.default_rng(0).normal(size=(2, 3)))
    x.attach_grad()
    c1, c2 = cn.nd.ones((2, 2)), cn.nd.ones((2, 4))
    with cn.autograd.record():
        y = cn.nd.Concat(c1, x, c2, dim=1)
    y.backward(cn.nd.array(np.arange(18.0).reshape(2, 9)))
    np.testing.assert_array_equal(x.grad.asnumpy(), np.arange(18.0).reshape(2, 9)[:, 2:5])
