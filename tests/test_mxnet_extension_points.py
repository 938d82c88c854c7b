"""MXNet's extension points that user code relies on: Initializer._init_weight with NDArrays,
fluent NDArray methods."""
import numpy as np

import coarsenet as cn


def test_builtin_init_weight_fills_an_ndarray():
    a = cn.nd.ones((3,))
    cn.init.Zero()._init_weight("fc1_bias", a)  # as in MXNet
    np.testing.assert_array_equal(a.asnumpy(), 0)
    b = cn.nd.zeros((1000,))
    cn.init.Uniform(0.5)._init_weight("w", b)
    assert 0 < np.abs(b.asnumpy()).max() <= 0.5


def test_user_initializer_gets_an_ndarray_over_the_parameter():
    class MyInit(cn.init.Initializer):  # the Gluon tutorial's initializer, unchanged
        def _init_weight(self, name, data):
            data[:] = cn.nd.random.uniform(low=-10, high=10, shape=data.shape)
            data *= data.abs() >= 5

    net = cn.gluon.nn.Dense(50, in_units=20)
    net.initialize(MyInit())
    w = net.weight.data().asnumpy()
    assert np.all((w == 0) | (np.abs(w) >= 5)) and np.abs(w).max() > 5
    np.testing.assert_array_equal(net.bias.data().asnumpy(), 0)  # bias rule unchanged


def test_fluent_methods_call_the_ops():
    x = cn.nd.array([-1.0, 2.0])
    np.testing.assert_allclose(x.exp().asnumpy(), np.exp([-1.0, 2.0]), rtol=1e-6)
    np.testing.assert_array_equal(x.abs().asnumpy(), [1, 2])
    np.testing.assert_allclose(x.norm().asnumpy(), [np.sqrt(5)], rtol=1e-6)
    np.testing.assert_array_equal(x.clip(0, 1).asnumpy(), [0, 1])


def test_get_constant_holds_fixed_values_without_gradient():
    class Scale(cn.gluon.HybridBlock):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            with self.name_scope():
                self.s = self.params.get_constant("s", [[1.0, 2.0]])

        def hybrid_forward(self, F, x, s):
            return x * s

    net = Scale(prefix="scale0_")
    net.initialize(cn.init.Xavier())  # the constant ignores the block's initializer
    assert list(net.collect_params().keys()) == ["scale0_s"]
    assert net.s.grad_req == "null" and net.s.data().dtype == np.float32
    for hybridize in (False, True):
        if hybridize:
            net.hybridize()
        np.testing.assert_array_equal(net(cn.nd.ones((1, 2))).asnumpy(), [[1, 2]])
