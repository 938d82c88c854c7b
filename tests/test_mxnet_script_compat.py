"""API details MXNet 1.9.1's example scripts rely on (found by tools/mxnet_scoreboard.py);
expected values were read from real MXNet 1.9.1 (/work/mxvenv) on the same inputs."""
import numpy as np
import pytest

import coarsenet as mx
from coarsenet import autograd as ag
from coarsenet import nd


def test_indexing_under_record_is_differentiated():
    # example/gluon/lstm_crf scores a tag path with transitions[i, j] and feat[i]
    w = nd.array(np.arange(12.).reshape(3, 4))
    w.attach_grad()
    with ag.record():
        y = (w[1, 2] * 3 + w[2].sum() + w[0:2, 1:3].sum() * 2 + w[-1][0]
             + w[nd.array([0, 0])].sum())
        assert (w[1, 2].shape, w[1].shape, w[0:2, 1:3].shape, w[1:1].shape) == \
            ((1,), (4,), (2, 2), (0, 4))
    y.backward()
    # MXNet 1.9.1 gives exactly this gradient
    np.testing.assert_array_equal(w.grad.asnumpy(), [[2, 4, 4, 2], [0, 2, 5, 0], [2, 1, 1, 1]])


def test_indexing_out_of_range_under_record_raises():
    w = nd.ones((2, 3))
    w.attach_grad()
    with ag.record(), pytest.raises(IndexError):
        w[2]


def test_data_desc_is_a_name_shape_pair():
    # example/image-classification/benchmark_score.py: `for _, shape in mod.data_shapes`
    d = mx.io.DataDesc("data", (2, 3), np.float64, "NC")
    name, shape = d
    assert (name, shape, d.dtype, d.layout) == ("data", (2, 3), np.float64, "NC")
    assert mx.io.DataDesc("x", (1,)).dtype == np.float32
    assert mx.io.DataDesc.get_batch_axis("TNC") == 1
    mod = mx.mod.Module(mx.sym.FullyConnected(mx.sym.var("data"), num_hidden=2),
                        label_names=None)
    mod.bind(data_shapes=[("data", (4, 3))], for_training=False)
    assert [s for _, s in mod.data_shapes] == [(4, 3)]


def test_reshape_of_integer_array():
    # example/gluon/mnist: data.reshape((-1,)).astype(np.float32) on uint8 images
    img = nd.array(np.arange(12).reshape(3, 4), dtype="uint8")
    flat = img.reshape((-1,))
    assert flat.dtype == np.uint8 and flat.shape == (12,)
    np.testing.assert_array_equal(flat.asnumpy(), np.arange(12))
    assert img.reshape(0, 2, -1).shape == (3, 2, 2)  # MXNet's special codes


def _linreg_svrg(update_freq=2):
    from coarsenet.contrib.svrg_optimization.svrg_module import SVRGModule

    x = mx.sym.var("data")
    out = mx.sym.LinearRegressionOutput(mx.sym.FullyConnected(x, num_hidden=1, name="fc1"),
                                        label=mx.sym.var("lin_reg_label"), name="lro")
    rng = np.random.default_rng(0)
    data = rng.normal(size=(40, 3)).astype(np.float32)
    label = data @ np.array([1.0, -2.0, 0.5], np.float32)
    it = mx.io.NDArrayIter(data, label, batch_size=10, label_name="lin_reg_label")
    mod = SVRGModule(out, data_names=["data"], label_names=["lin_reg_label"],
                     update_freq=update_freq)
    return it, mod, data, label


def test_svrg_step_right_after_snapshot_is_the_full_gradient():
    # at w == w~ the SVRG gradient g(w) - g(w~) + mu is mu, the data set's mean batch gradient
    it, mod, data, label = _linreg_svrg()
    mod.bind(data_shapes=it.provide_data, label_shapes=it.provide_label)
    mod.init_params(initializer=mx.init.Uniform(0.1))
    mod.init_optimizer(optimizer="sgd", optimizer_params=(("learning_rate", 1.0),
                                                          ("rescale_grad", 1.0)))
    w0 = mod.get_params()[0]["fc1_weight"].asnumpy().copy()
    b0 = mod.get_params()[0]["fc1_bias"].asnumpy().copy()
    mod.update_full_grads(it)
    batch = next(iter(it))
    mod.forward_backward(batch)
    mod.update()
    # LinearRegressionOutput's gradient per sample is (pred - label); mean over 4 batches of 10
    residual = data @ w0.ravel() + b0[0] - label
    mu_w = (residual[:, None] * data).sum(0) / 4
    np.testing.assert_allclose(mod.get_params()[0]["fc1_weight"].asnumpy().ravel(), w0.ravel() - mu_w,
                               rtol=1e-5, atol=1e-5)


def test_svrg_fit_converges_and_needs_snapshot():
    it, mod, _, _ = _linreg_svrg()
    mod.fit(it, eval_metric="mse", optimizer="sgd",
            optimizer_params=(("learning_rate", 0.3),), num_epoch=20)
    assert mod.score(it, "mse")[0][1] < 1e-3
    it2, mod2, _, _ = _linreg_svrg()
    mod2.bind(data_shapes=it2.provide_data, label_shapes=it2.provide_label)
    mod2.init_params()
    mod2.init_optimizer()
    mod2.forward_backward(next(iter(it2)))
    with pytest.raises(mx.base.CoarsenetError, match="update_full_grads"):
        mod2.update()


def test_data_loader_iter_pads_the_last_batch():
    from coarsenet.contrib.io import DataLoaderIter

    ds = mx.gluon.data.ArrayDataset(np.arange(10, dtype=np.float32).reshape(5, 2),
                                    np.arange(5, dtype=np.float32))
    it = DataLoaderIter(mx.gluon.data.DataLoader(ds, batch_size=2))
    assert [(d.name, d.shape) for d in it.provide_data] == [("data", (2, 2))]
    batches = list(it)
    assert [b.pad for b in batches] == [0, 0, 1]
    np.testing.assert_array_equal(batches[-1].data[0].asnumpy(), [[8, 9], [0, 0]])
    it.reset()
    assert len(list(it)) == 3
