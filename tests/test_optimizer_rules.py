"""The optimizers of coarsenet/optimizer_rules.py against real MXNet 1.9.1
(tests/fixtures/mxnet/make_optimizer_rules.py made optimizer_rules.npz)."""
import os
import sys

import numpy as np
import pytest

import coarsenet as cn

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "fixtures", "mxnet"))
from optimizer_cases import CASES, OPTIMIZER, SGLD  # noqa: E402  (the fixture's settings)

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "mxnet", "optimizer_rules.npz")


@pytest.mark.parametrize("name", sorted(CASES))
def test_three_updates_match_mxnet(name):
    ref = np.load(FIXTURE)
    opt = cn.optimizer.create(OPTIMIZER.get(name, name), wd=0.01, rescale_grad=0.5, clip_gradient=1.0,
                              param_idx2name={0: "fc_weight"}, **CASES[name])
    w = cn.nd.array(ref["w0"])
    state = opt.create_state(0, w)
    for g in ref["grads"]:
        opt.update(0, w, cn.nd.array(g), state)
    np.testing.assert_allclose(w.asnumpy(), ref[name], rtol=2e-5, atol=2e-6)


def test_sgld_moves_by_half_a_step_plus_seeded_noise():
    def run():
        cn.random.seed(4)
        opt = cn.optimizer.create("sgld", learning_rate=0.01)
        w = cn.nd.zeros((20000,))
        opt.update(0, w, cn.nd.ones((20000,)), None)
        return w.asnumpy()

    a = run()
    np.testing.assert_array_equal(a, run())  # mx.random.seed repeats the noise
    assert abs(a.mean() + 0.005) < 6 * 0.1 / np.sqrt(a.size)  # -lr/2 * g on average
    assert abs(a.std() - 0.1) < 0.003  # noise std sqrt(lr)


def test_sgld_noise_has_mxnets_distribution():
    """Same update in MXNet 1.9.1 (fixture): the added noise's mean and std agree within what
    two independent samples of this size allow."""
    mean_ref, std_ref = np.load(FIXTURE)["sgld_noise_mean_std"]
    lr, n = SGLD["learning_rate"], SGLD["size"]
    cn.random.seed(0)
    w = cn.nd.zeros((n,))
    cn.optimizer.create("sgld", learning_rate=lr).update(0, w, cn.nd.ones((n,)), None)
    noise = w.asnumpy() + lr / 2
    sigma = np.sqrt(lr)
    assert abs(std_ref - sigma) < 5 * sigma / np.sqrt(2 * n)  # MXNet's own noise: N(0, lr)
    assert abs(noise.mean() - mean_ref) < 5 * sigma * np.sqrt(2.0 / n)
    assert abs(noise.std() - std_ref) < 5 * sigma / np.sqrt(n)


def test_lbsgd_holds_the_step_until_batch_scale_gradients_are_summed():
    opt = cn.optimizer.create("lbsgd", learning_rate=1.0, batch_scale=2, warmup_epochs=0)
    w = cn.nd.ones((2,))
    opt.update(0, w, cn.nd.ones((2,)), None)
    np.testing.assert_array_equal(w.asnumpy(), [1, 1])  # first half of the large batch
    opt.update(0, w, 3 * cn.nd.ones((2,)), None)
    np.testing.assert_allclose(w.asnumpy(), [1 - 2 * 2, 1 - 2 * 2])  # lr * mult 2 * mean 2
    with pytest.raises(cn.CoarsenetError, match="warmup_strategy"):
        cn.optimizer.create("lbsgd", warmup_strategy="cosine")


def test_optimizer_classes_are_module_attributes():
    for name in ("AdaGrad", "AdaDelta", "Adamax", "Nadam", "Ftrl", "Signum", "FTML", "DCASGD",
                 "SGLD", "LBSGD", "LAMB", "LARS", "ccSGD"):
        klass = getattr(cn.optimizer, name)
        assert isinstance(cn.optimizer.create(name.lower()), klass)


def test_register_adds_an_optimizer_by_lowercase_name():
    @cn.optimizer.register
    class HalfStep(cn.optimizer.Optimizer):
        def _step(self, index, w, g, state):
            w -= 0.5 * g

    w = cn.nd.ones((2,))
    cn.optimizer.create("halfstep").update(0, w, cn.nd.ones((2,)), None)
    np.testing.assert_array_equal(w.asnumpy(), [0.5, 0.5])
