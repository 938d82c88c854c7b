import numpy as np
import pytest

import coarsenet as cn
from coarsenet import autograd, nn
from coarsenet.testing import assert_close, expect_error

OPS = set(cn.ops.list())


def needs(*names):
    missing = [n for n in names if n not in OPS]
    return pytest.mark.skipif(bool(missing), reason=f"ops not built: {missing}")


def data(shape, seed=0):
    return cn.nd.array(np.random.default_rng(seed).uniform(-1, 1, shape))


def mlp(act=None):
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Dense(16, activation=act), nn.Dense(4))
    return net


def test_deferred_shapes_are_filled_at_first_forward():
    net = mlp()
    net.initialize()
    w0 = net[0].weight
    assert w0.shape == (16, 0)
    expect_error(w0.data, "unknown", "forward")
    out = net(data((3, 7)))
    assert out.shape == (3, 4) and w0.shape == (16, 7) and net[1].weight.shape == (4, 16)
    assert w0.grad().shape == (16, 7)


def test_names_and_collect_params_select():
    net = mlp()
    names = list(net.collect_params().keys())
    prefix = net.prefix
    assert names == [prefix + s for s in ("dense0_weight", "dense0_bias", "dense1_weight",
                                          "dense1_bias")]
    assert list(net.collect_params(".*weight").keys()) == [names[0], names[2]]
    assert list(net._collect_params_with_prefix()) == ["0.weight", "0.bias", "1.weight",
                                                       "1.bias"]


def test_initializers():
    d = nn.Dense(3, in_units=4, weight_initializer=cn.initializer.Constant(0.5))
    d.initialize()
    assert (d.weight.data().asnumpy() == 0.5).all() and not d.bias.data().asnumpy().any()
    d.initialize(cn.initializer.Xavier(), force_reinit=True)  # own init wins
    assert (d.weight.data().asnumpy() == 0.5).all()
    d2 = nn.Dense(50, in_units=60)
    d2.initialize(cn.initializer.Xavier())
    w = d2.weight.data().asnumpy()
    assert np.abs(w).max() <= np.sqrt(3 / 55) and w.std() > 0.05
    d3 = nn.Dense(50, in_units=60)
    d3.initialize(cn.initializer.Normal(0.01))
    assert abs(d3.weight.data().asnumpy().std() - 0.01) < 2e-3
    d4 = nn.Dense(5, in_units=6)
    d4.initialize()  # Uniform(0.07), MXNet's default
    assert np.abs(d4.weight.data().asnumpy()).max() <= 0.07
    expect_error(lambda: cn.initializer.create("nope"), "unknown initializer", "xavier")


def test_dense_matches_numpy_and_gradients():
    d = nn.Dense(3, in_units=5)
    d.initialize()
    x = data((2, 5))
    with autograd.record():
        y = d(x)
    y.backward()
    w, b = d.weight.data().asnumpy(), d.bias.data().asnumpy()
    assert_close(y.asnumpy(), x.asnumpy() @ w.T + b, 1e-5, 1e-6, "dense forward")
    assert_close(d.weight.grad().asnumpy(), np.ones((3, 2)) @ x.asnumpy(), 1e-5, 1e-6, "dW")
    assert_close(d.bias.grad().asnumpy(), np.full(3, 2.0), 1e-6, 1e-6, "db")


def l2(out, target):
    """sum((out - target)^2) / 2 through FullyConnected only (works with any op set)."""
    diff = out.asnumpy() - target
    return float((diff ** 2).sum() / 2), diff


def test_mlp_training_decreases_loss():
    cn.random.seed(1)
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Dense(16, in_units=3), nn.Dense(1))
    net.initialize(cn.initializer.Xavier())
    trainer = nn.Trainer(net.collect_params(), "sgd",
                         dict(learning_rate=0.05, momentum=0.9, wd=1e-4))
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (32, 3)).astype(np.float32)
    target = (x @ np.array([[1.0], [-2.0], [0.5]])).astype(np.float32)
    losses = []
    for _ in range(20):
        with autograd.record():
            out = net(cn.nd.array(x))
        loss, diff = l2(out, target)
        out.backward(cn.nd.array(diff))
        trainer.step(len(x))
        losses.append(loss)
    assert losses[-1] < 0.2 * losses[0], losses


@needs("BatchNorm")
def test_batch_norm_layer_updates_running_stats_in_training_only():
    bn = nn.BatchNorm(in_channels=0)
    bn.initialize()
    x = data((4, 3, 2, 2))
    bn(x)  # inference: running stats unchanged
    assert bn.running_mean.shape == (3,)
    assert not bn.running_mean.data().asnumpy().any()
    with autograd.record():
        y = bn(x)
    y.backward()
    mean = x.asnumpy().mean(axis=(0, 2, 3))
    assert_close(bn.running_mean.data().asnumpy(), 0.1 * mean, 1e-5, 1e-6, "running mean")
    assert bn.gamma.grad().shape == (3,) and bn.running_mean.grad_req == "null"


@needs("LayerNorm", "InstanceNorm")
def test_layer_and_instance_norm_layers():
    x = data((4, 3, 5))
    ln = nn.LayerNorm()
    ln.initialize()
    with autograd.record():
        y = ln(x)
    y.backward()
    xs = x.asnumpy()
    want = (xs - xs.mean(-1, keepdims=True)) / np.sqrt(xs.var(-1, keepdims=True) + 1e-5)
    assert_close(y.asnumpy(), want, 1e-5, 1e-5, "LayerNorm layer")
    assert ln.gamma.shape == (5,) and ln.gamma.grad().shape == (5,)
    inorm = nn.InstanceNorm(scale=True)
    inorm.initialize()
    y = inorm(x)
    want = (xs - xs.mean(-1, keepdims=True)) / np.sqrt(xs.var(-1, keepdims=True) + 1e-5)
    assert_close(y.asnumpy(), want, 1e-5, 1e-5, "InstanceNorm layer")
    assert inorm.gamma.shape == (3,) and nn.InstanceNorm().gamma.grad_req == "null"
    expect_error(lambda: nn.InstanceNorm(axis=2), "InstanceNorm", "axis=2")


@needs("Pooling")
def test_pooling_layers():
    x = data((1, 2, 4, 4))
    assert nn.MaxPool2D()(x).shape == (1, 2, 2, 2)
    assert_close(nn.AvgPool2D(pool_size=4)(x).asnumpy().ravel(),
                 x.asnumpy().mean(axis=(2, 3)).ravel(), 1e-5, 1e-6, "avg pool")
    assert_close(nn.GlobalAvgPool2D()(x).asnumpy().ravel(),
                 x.asnumpy().mean(axis=(2, 3)).ravel(), 1e-5, 1e-6, "global avg pool")


@needs("Convolution", "Activation", "Flatten")
def test_small_cnn_deferred_init():
    net = nn.HybridSequential()
    with net.name_scope():
        net.add(nn.Conv2D(4, 3, padding=1, activation="relu"), nn.MaxPool2D(),
                nn.Flatten(), nn.Dense(3))
    net.initialize()
    out = net(data((2, 1, 6, 6)))
    assert out.shape == (2, 3) and net[0].weight.shape == (4, 1, 3, 3)


def test_save_and_load_parameters(tmp_path):
    net = mlp()
    net.initialize()
    x = data((2, 5))
    expected = net(x).asnumpy()
    path = str(tmp_path / "net.params")
    net.save_parameters(path)
    net2 = mlp()
    net2.load_parameters(path)  # deferred shapes come from the file
    assert_close(net2(x).asnumpy(), expected, 0, 0, "reloaded net")
    loaded = cn.mxnet_format.load_arrays(path)
    assert sorted(loaded) == ["0.bias", "0.weight", "1.bias", "1.weight"]
    # collect_params().save writes full names; load_parameters accepts them too
    full = str(tmp_path / "full.params")
    net.collect_params().save(full, strip_prefix=net.prefix)
    net3 = mlp()
    net3.collect_params().load(full, restore_prefix=net3.prefix)
    assert_close(net3(x).asnumpy(), expected, 0, 0, "collect_params().load")


def test_load_parameters_errors(tmp_path):
    net = mlp()
    net.initialize()
    net(data((2, 5)))
    path = str(tmp_path / "a.params")
    net.save_parameters(path)
    small = nn.HybridSequential()
    small.add(nn.Dense(16))
    expect_error(lambda: small.load_parameters(path), "a.params", "1.weight", "ignore_extra")
    wrong = nn.HybridSequential()
    wrong.add(nn.Dense(16, in_units=3), nn.Dense(4))
    expect_error(lambda: wrong.load_parameters(path), "0.weight", "(16, 5)", "(16, 3)")


def test_errors_name_the_problem():
    d = nn.Dense(3, in_units=4)
    expect_error(lambda: d(data((2, 4))), "dense", "initialize")
    d.initialize()
    expect_error(lambda: d(data((2, 5))), "FullyConnected", "(3, 4)", "(3, 5)")
    expect_error(lambda: d(np.ones((2, 4))), "dense", "NDArray", "ndarray")
    expect_error(lambda: setattr(d.weight, "grad_req", "maybe"), "grad_req")
    expect_error(lambda: nn.Trainer([1], "sgd"), "Trainer", "Parameter")
    expect_error(lambda: nn.Trainer(d.collect_params(), "nosuch"), "nosuch")


def test_gluon_alias():
    assert cn.gluon.nn.Dense is nn.Dense and cn.gluon.Trainer is nn.Trainer
    from coarsenet.gluon.nn import Dense

    assert Dense is nn.Dense
