import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import REQ_WRITE, check_op, expect_error


def _bcast(v, ndim, axis):
    shape = [1] * ndim
    shape[axis] = -1
    return v.reshape(shape)


def bn_ref(x, gamma, beta, moving_mean=None, moving_var=None, *, train, eps=1e-3, fix_gamma=True,
           use_global_stats=False, axis=1, **_):
    axis = axis % x.ndim
    others = tuple(d for d in range(x.ndim) if d != axis)
    if train and not use_global_stats:
        mean, var = x.mean(axis=others), x.var(axis=others)
    else:
        mean, var = moving_mean, moving_var
    g = np.ones_like(gamma) if fix_gamma else gamma
    invstd = 1 / np.sqrt(var + eps)
    y = (x - _bcast(mean, x.ndim, axis)) * _bcast(invstd * g, x.ndim, axis) + _bcast(beta, x.ndim, axis)
    return y, mean, invstd


def train_ref(**kw):
    return lambda x, g, b, **p: bn_ref(x, g, b, train=True, **{**p, **kw})


@pytest.mark.parametrize("fix_gamma", [True, False])
@pytest.mark.parametrize("shape", [(4, 3, 5, 6), (6, 4)])
def test_train_mode_batch_statistics(fix_gamma, shape):
    c = shape[1]
    check_op("BatchNorm", [shape, (c,), (c,)], dict(fix_gamma=fix_gamma), train_ref(),
             is_train=True)


def test_train_mode_outputs_mean_and_invstd():
    shape = (3, 4, 5, 2)
    case = check_op("BatchNorm", [shape, (4,), (4,)], dict(output_mean_var=True, fix_gamma=False),
                    train_ref(), is_train=True, grad=False)
    assert case.op.num_visible_outputs == 3


@pytest.mark.parametrize("axis", [-1, 2, 0])
def test_other_axis(axis):
    shape = (3, 4, 5)
    c = shape[axis]
    check_op("BatchNorm", [shape, (c,), (c,)], dict(axis=axis, fix_gamma=False), train_ref(),
             is_train=True)


def test_inference_uses_moving_stats():
    rng = np.random.default_rng(1)
    aux = [rng.uniform(-0.5, 0.5, 3), rng.uniform(0.5, 1.5, 3)]

    def ref(x, g, b, **p):
        return bn_ref(x, g, b, *aux, train=False, **p)

    check_op("BatchNorm", [(2, 3, 4, 4), (3,), (3,)], dict(fix_gamma=False, eps=1e-5), ref,
             aux=aux)


def test_use_global_stats_while_training():
    rng = np.random.default_rng(2)
    aux = [rng.uniform(-0.5, 0.5, 5), rng.uniform(0.5, 1.5, 5)]

    def ref(x, g, b, **p):
        return bn_ref(x, g, b, *aux, train=True, **p)

    check_op("BatchNorm", [(3, 5, 2, 3), (5,), (5,)],
             dict(use_global_stats=True, fix_gamma=False), ref, aux=aux, is_train=True)


def _run_forward(op, x, aux, is_train, is_recompute=False):
    c = x.shape[1]
    gamma, beta = np.ones(c), np.zeros(c)
    outs = [np.empty_like(x), np.empty(c), np.empty(c)]
    op.forward([x, gamma, beta], outs, [REQ_WRITE] * 3, aux, is_train=is_train,
               is_recompute=is_recompute)
    return outs


def test_running_statistics_update_uses_biased_variance():
    rng = np.random.default_rng(3)
    x = rng.normal(2.0, 3.0, size=(8, 4, 3, 3))
    op = cn.ops.make("BatchNorm", dict(momentum=0.8))
    mm, mv = rng.uniform(size=4), rng.uniform(0.5, 1.5, size=4)
    aux = [mm.copy(), mv.copy()]
    _run_forward(op, x, aux, is_train=True)
    batch_mean, batch_var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    np.testing.assert_allclose(aux[0], 0.8 * mm + 0.2 * batch_mean, rtol=1e-7)  # momentum is a float32 param
    np.testing.assert_allclose(aux[1], 0.8 * mv + 0.2 * batch_var, rtol=1e-7)  # momentum is a float32 param


def test_no_update_in_inference_recompute_or_global_stats():
    x = np.random.default_rng(4).normal(size=(4, 3, 2, 2))
    mm, mv = np.zeros(3), np.ones(3)
    for params, is_train, is_recompute in [({}, False, False), ({}, True, True),
                                           ({"use_global_stats": True}, True, False)]:
        aux = [mm.copy(), mv.copy()]
        _run_forward(cn.ops.make("BatchNorm", params), x, aux, is_train, is_recompute)
        assert np.array_equal(aux[0], mm) and np.array_equal(aux[1], mv), (params, is_train)


def test_recompute_output_equals_training_output():
    x = np.random.default_rng(5).normal(size=(4, 3, 2, 2))
    op = cn.ops.make("BatchNorm", {})
    first = _run_forward(op, x, [np.zeros(3), np.ones(3)], True)
    again = _run_forward(op, x, [np.zeros(3), np.ones(3)], True, is_recompute=True)
    for a, b in zip(first, again):
        assert np.array_equal(a, b)


def test_fix_gamma_gives_zero_gamma_grad():
    rng = np.random.default_rng(6)
    x, g, b = rng.normal(size=(3, 2, 4)), rng.normal(size=2), rng.normal(size=2)
    op = cn.ops.make("BatchNorm", dict(fix_gamma=True))
    outs = op.invoke([x, g, b], [np.zeros(2), np.ones(2)], True, 0)
    grads = [np.full(x.shape, 7.0), np.full(2, 7.0), np.full(2, 7.0)]
    op.backward([np.ones_like(x), None, None], [x, g, None], [None, outs[1], outs[2]], grads,
                [REQ_WRITE] * 3, [np.zeros(2), np.ones(2)], is_train=True)
    assert np.all(grads[1] == 0)
    np.testing.assert_allclose(grads[2], np.full(2, 12.0))


def test_flags_and_needs():
    op = cn.ops.make("BatchNorm", {})
    assert cn.ops.info("BatchNorm").flags & cn.ops.UPDATES_AUX
    assert op.num_visible_outputs == 1
    assert list(op.needs_inputs) == [True, True, False]
    assert (0, 0) in [tuple(p) for p in op.inplace]
    ins, outs, aux = op.infer_shape([(2, 7, 3), None, None])
    assert ins[1:] == [(7,), (7,)] and outs == [(2, 7, 3), (7,), (7,)] and aux == [(7,), (7,)]


def test_bad_input():
    x, c3 = cn.nd.ones((2, 3, 4)), cn.nd.ones(3)
    expect_error(lambda: cn.nd.BatchNorm(x, cn.nd.ones(4), c3, c3, c3), "BatchNorm", "gamma",
                 "(3,)", "(4,)")
    expect_error(lambda: cn.nd.BatchNorm(x, c3, c3, c3, cn.nd.ones(2)), "BatchNorm", "moving_var",
                 "(3,)", "(2,)")
    expect_error(lambda: cn.nd.BatchNorm(x, c3, c3, c3, c3, axis=3), "BatchNorm", "axis")
    expect_error(lambda: cn.nd.BatchNorm(x, c3, c3, c3, c3, momentun=0.5), "BatchNorm", "momentun")
    i3 = cn.nd.ones(3).astype(np.int32)
    expect_error(lambda: cn.nd.BatchNorm(x.astype(np.int32), i3, i3, i3, i3), "BatchNorm", "dtype")


def test_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    x = rng.normal(size=(4, 3, 5, 5)).astype(np.float32)
    g, b = rng.normal(size=3).astype(np.float32), rng.normal(size=3).astype(np.float32)
    dy = rng.normal(size=x.shape).astype(np.float32)
    op = cn.ops.make("BatchNorm", dict(fix_gamma=False, eps=1e-5))
    aux = [np.zeros(3, np.float32), np.ones(3, np.float32)]
    outs = op.invoke([x, g, b], aux, True, 0)
    grads = [np.zeros_like(x), np.zeros_like(g), np.zeros_like(b)]
    op.backward([dy, None, None], [x, g, None], [None, outs[1], outs[2]], grads, [REQ_WRITE] * 3,
                aux, is_train=True)
    tx, tg, tb = (torch.tensor(v, requires_grad=True) for v in (x, g, b))
    ty = torch.nn.functional.batch_norm(tx, None, None, tg, tb, training=True, eps=1e-5)
    ty.backward(torch.tensor(dy))
    np.testing.assert_allclose(outs[0], ty.detach().numpy(), rtol=1e-4, atol=1e-4)
    for mine, theirs in zip(grads, (tx, tg, tb)):
        np.testing.assert_allclose(mine, theirs.grad.numpy(), rtol=1e-3, atol=1e-4)
