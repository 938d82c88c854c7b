import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import check_op, expect_error


def lrn_ref(x, nsize, alpha=1e-4, beta=0.75, knorm=2.0):
    c = x.shape[1]
    sq = x * x
    norm = np.empty_like(x)
    for i in range(c):
        lo, hi = max(0, i - nsize // 2), min(c, i + nsize // 2 + 1)
        norm[:, i] = knorm + alpha / nsize * sq[:, lo:hi].sum(axis=1)
    return x * norm ** -beta


@pytest.mark.parametrize("params", [
    dict(nsize=3),
    dict(nsize=5, alpha=0.5, beta=0.6, knorm=1.0),
    dict(nsize=7, alpha=2.0, beta=0.75, knorm=1.5),  # window wider than the 4 channels
])
def test_lrn(params):
    check_op("LRN", [(2, 4, 3, 5)], params, lrn_ref)


def test_lrn_large_spatial_blocks():
    # more than one spatial block of 256 positions per image
    check_op("LRN", [(1, 3, 17, 19)], dict(nsize=3, alpha=1.0), lrn_ref, max_points=60)


def test_defaults_and_hidden_norm():
    info = cn.ops.info("LRN")
    defaults = {p.name: p.default for p in info.params}
    assert defaults["beta"] == "0.75" and defaults["knorm"] == "2" and defaults["nsize"] is None
    op = cn.ops.make("LRN", dict(nsize=3))
    assert op.num_visible_outputs == 1
    assert list(op.needs_inputs) == [True] and list(op.needs_outputs) == [False, True]


def test_bad_input():
    x = cn.nd.ones((1, 4, 2, 2))
    expect_error(lambda: cn.nd.LRN(x, nsize=4), "LRN", "odd", "4")
    expect_error(lambda: cn.nd.LRN(x), "LRN", "nsize", "missing")
    expect_error(lambda: cn.nd.LRN(cn.nd.ones((4, 2)), nsize=3), "LRN", "4-D", "(4, 2)")


def test_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 6, 4, 4)).astype(np.float32)
    dy = rng.normal(size=x.shape).astype(np.float32)
    op = cn.ops.make("LRN", dict(nsize=5, alpha=0.1))
    y, norm = op.invoke([x], [], False, 0)
    dx = np.zeros_like(x)
    op.backward([dy, None], [x], [None, norm], [dx], [1], [])
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.local_response_norm(tx, 5, alpha=0.1, beta=0.75, k=2.0)
    ty.backward(torch.tensor(dy))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-4, atol=1e-5)
