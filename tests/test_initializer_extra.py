"""Orthogonal, Bilinear, LSTMBias, Mixed, Load and init.register, against real MXNet 1.9.1
(tests/fixtures/mxnet/make_initializers.py made initializers.npz); `_init_weight(name, arr)`
fills any array it is given, NDArray or numpy, as MXNet's extension point does."""
import os

import numpy as np
import pytest

import coarsenet as mx

REF = np.load(os.path.join(os.path.dirname(__file__), "fixtures", "mxnet", "initializers.npz"))


def test_bilinear_and_lstm_bias_match_mxnet():
    a = mx.nd.zeros((2, 1, 4, 5))
    mx.init.Bilinear()._init_weight("up_weight", a)
    np.testing.assert_allclose(a.asnumpy(), REF["bilinear"], rtol=1e-6)
    b = mx.nd.ones((12,))
    mx.init.LSTMBias(forget_bias=2.5)._init_weight("lstm_i2h_bias", b)
    np.testing.assert_array_equal(b.asnumpy(), REF["lstm_bias"])


def test_load_matches_mxnet(tmp_path):
    saved = {"arg:fc_weight": mx.nd.array(np.arange(6).reshape(2, 3)),
             "aux:bn_moving_var": mx.nd.array([4.0, 5.0])}
    path = str(tmp_path / "p.params")
    mx.nd.save(path, saved)
    for source in (saved, path):
        load = mx.init.Load(source, default_init=mx.init.Constant(7))
        for name, shape in (("fc_weight", (2, 3)), ("bn_moving_var", (2,)),
                            ("other_weight", (2,))):
            arr = mx.nd.zeros(shape)
            load(mx.init.InitDesc(name), arr)
            np.testing.assert_array_equal(arr.asnumpy(), REF[f"load_{name}"])
    with pytest.raises(mx.CoarsenetError, match="shape"):
        mx.init.Load(saved)("fc_weight", mx.nd.zeros((3, 2)))
    with pytest.raises(mx.CoarsenetError, match="no default_init"):
        mx.init.Load(saved)("missing_weight", mx.nd.zeros((2,)))


def test_mixed_matches_mxnet():
    mixed = mx.init.Mixed(["fc1.*", ".*"], [mx.init.Constant(3), mx.init.One()])
    for name in ("fc1_weight", "fc1_bias", "fc2_weight", "fc2_bias"):
        arr = mx.nd.zeros((2,))
        mixed(mx.init.InitDesc(name), arr)
        np.testing.assert_array_equal(arr.asnumpy(), REF[f"mixed_{name}"])
    with pytest.raises(mx.CoarsenetError, match="matches none"):
        mx.init.Mixed(["fc1.*"], [mx.init.One()])("fc2_weight", mx.nd.zeros((2,)))


@pytest.mark.parametrize("shape", [(3, 8), (8, 3), (4, 2, 3)])
def test_orthogonal_has_mxnets_spectrum(shape):
    arr = mx.nd.zeros(shape)
    mx.init.Orthogonal(scale=1.5)._init_weight("w", arr)
    m = arr.asnumpy().reshape(shape[0], -1)
    sv = np.linalg.svd(m, compute_uv=False)
    np.testing.assert_allclose(sv, REF["orthogonal_sv_" + "x".join(map(str, shape))], rtol=1e-5)
    small = min(m.shape)
    gram = m @ m.T if m.shape[0] == small else m.T @ m
    np.testing.assert_allclose(gram, 1.5**2 * np.eye(small), atol=1e-5)


def test_module_uses_mixed_and_orthogonal():
    data = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(mx.sym.FullyConnected(data, num_hidden=4, name="fc1"),
                                num_hidden=2, name="fc2")
    mod = mx.mod.Module(net, label_names=[])
    mod.bind([("data", (3, 5))], for_training=False)
    mod.init_params(mx.init.Mixed(["fc1_weight", ".*"], [mx.init.Orthogonal(), mx.init.One()]))
    arg, _ = mod.get_params()
    w = arg["fc1_weight"].asnumpy()
    np.testing.assert_allclose(w @ w.T, 1.414**2 * np.eye(4), atol=1e-4)
    np.testing.assert_array_equal(arg["fc2_weight"].asnumpy(), 1)
    np.testing.assert_array_equal(arg["fc2_bias"].asnumpy(), 0)


ALL = [mx.init.Zero(), mx.init.One(), mx.init.Constant(0.5), mx.init.Uniform(0.1),
       mx.init.Normal(0.1), mx.init.Xavier(), mx.init.MSRAPrelu(), mx.init.Orthogonal(),
       mx.init.Bilinear(), mx.init.LSTMBias()]


@pytest.mark.parametrize("init", ALL, ids=lambda i: type(i).__name__)
def test_init_weight_fills_any_array(init):
    for arr in (mx.nd.full((4, 1, 2, 2), 9.0), np.full((4, 1, 2, 2), 9.0, np.float32)):
        init._init_weight("anything_bias", arr)  # the name does not pick the rule here
        values = arr.asnumpy() if hasattr(arr, "asnumpy") else arr
        assert not (values == 9.0).all()


def test_register_makes_a_name_known():
    @mx.init.register
    class Fives(mx.init.Initializer):
        def _init_weight(self, name, arr):
            arr[:] = 5

    arr = mx.nd.zeros((2,))
    mx.init.create("fives")("x_weight", arr)
    np.testing.assert_array_equal(arr.asnumpy(), 5)
    own = mx.init.InitDesc("x_bias", {"__init__": Fives().dumps()})
    arr = mx.nd.zeros((2,))
    mx.init.Uniform()(own, arr)  # the per-variable '__init__' attribute names it too
    np.testing.assert_array_equal(arr.asnumpy(), 5)
    with pytest.raises(mx.CoarsenetError, match="subclass of Initializer"):
        mx.init.register(object)
