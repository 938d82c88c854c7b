import numpy as np
import pytest

import coarsenet as cn
from coarsenet import autograd, nn
from coarsenet.testing import assert_close, numeric_gradient

OPS = set(cn.ops.list())
pytestmark = pytest.mark.skipif(
    not {"log_softmax", "pick", "mean", "elemwise_mul"} <= OPS, reason="loss ops not built")


def log_softmax(x):
    z = x - x.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def test_softmax_cross_entropy_value_and_gradient():
    rng = np.random.default_rng(0)
    pred_np, label_np = rng.uniform(-2, 2, (4, 5)), np.array([0, 4, 2, 2.0])
    pred, label = cn.nd.array(pred_np, dtype=np.float64), cn.nd.array(label_np,
                                                                      dtype=np.float64)
    pred.attach_grad()
    loss_fn = nn.loss.SoftmaxCrossEntropyLoss()
    with autograd.record():
        loss = loss_fn(pred, label)
    loss.backward()
    expected = -log_softmax(pred_np)[np.arange(4), label_np.astype(int)]
    assert_close(loss.asnumpy(), expected, 1e-10, 1e-12, "cross-entropy value")
    p = np.exp(log_softmax(pred_np))
    assert_close(pred.grad.asnumpy(), p - np.eye(5)[label_np.astype(int)], 1e-10, 1e-12,
                 "cross-entropy gradient")


def test_l2_loss():
    rng = np.random.default_rng(1)
    x, y = rng.uniform(-1, 1, (3, 4)), rng.uniform(-1, 1, (3, 4))
    pred = cn.nd.array(x, dtype=np.float64)
    pred.attach_grad()
    with autograd.record():
        loss = nn.loss.L2Loss()(pred, cn.nd.array(y, dtype=np.float64))
    loss.backward()
    assert_close(loss.asnumpy(), 0.5 * ((x - y) ** 2).mean(1), 1e-12, 1e-12, "L2 value")

    def total():
        return float((0.5 * ((x - y) ** 2).mean(1)).sum())

    numeric, mask = numeric_gradient(total, x)
    assert_close(pred.grad.asnumpy()[mask], numeric[mask], 1e-6, 1e-8, "L2 gradient")


def test_mlp_with_cross_entropy_trains():
    cn.random.seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    labels = (x[:, 0] + x[:, 1] > 0).astype(np.float32) + (x[:, 2] > 1)
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Dense(16, activation="relu"), nn.Dense(3))
    net.initialize(cn.initializer.Xavier())
    trainer = nn.Trainer(net.collect_params(), "sgd", dict(learning_rate=0.5, momentum=0.9))
    loss_fn = nn.loss.SoftmaxCrossEntropyLoss()
    xs, ys = cn.nd.array(x), cn.nd.array(labels)
    losses = []
    for _ in range(15):
        with autograd.record():
            loss = loss_fn(net(xs), ys)
        loss.backward()
        trainer.step(len(x))
        losses.append(float(loss.asnumpy().mean()))
    assert losses[-1] < 0.5 * losses[0], losses
