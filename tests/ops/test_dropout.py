import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import REQ_NULL, REQ_WRITE, check_op, expect_error


def run(x, seed, is_train=True, **params):
    output, mask = cn.ops.make("Dropout", params).invoke([x], [], is_train, seed)
    return output, mask


def test_inference_is_identity():
    check_op("Dropout", [(3, 4)], dict(p=0.5), lambda x, **_: x)


@pytest.mark.parametrize("params", [dict(p=0.3), dict(p=0.5, axes=(1,)), dict(p=0.0)])
def test_training_gradient_is_mask_times_head(params):
    # The mask is a function of the seed, so numeric differences see the same mask.
    check_op("Dropout", [(4, 5, 3)], params, is_train=True, seed=7)


def test_always_mode_drops_in_inference():
    out, _ = run(np.ones((100,)), seed=1, is_train=False, p=0.5, mode="always")
    assert (out == 0).any() and set(np.unique(out)) <= {0.0, 2.0}


def test_same_seed_same_mask_different_seed_different_mask():
    x = np.ones((64, 64), dtype=np.float32)
    a, ma = run(x, seed=3, p=0.5)
    b, mb = run(x, seed=3, p=0.5)
    c, mc = run(x, seed=4, p=0.5)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ma, mb)
    assert (mc != ma).mean() > 0.3
    assert set(np.unique(ma)) == {0.0, 2.0}
    np.testing.assert_array_equal(a, x * ma)


def test_mask_does_not_depend_on_thread_count():
    x = np.ones(1 << 17)
    before = cn._core.get_num_threads()
    try:
        cn._core.set_num_threads(1)
        one = run(x, seed=11, p=0.4)[1]
        cn._core.set_num_threads(2)
        two = run(x, seed=11, p=0.4)[1]
    finally:
        cn._core.set_num_threads(before)
    np.testing.assert_array_equal(one, two)


def test_keep_rate_and_mean_are_preserved():
    x = np.random.default_rng(0).uniform(1, 2, size=200_000)
    for p in (0.1, 0.5, 0.8):
        out, mask = run(x, seed=5, p=p)
        assert abs((mask == 0).mean() - p) < 0.01
        assert abs(out.mean() / x.mean() - 1) < 0.02


def test_axes_share_the_mask():
    _, mask = run(np.ones((4, 6, 5)), seed=2, p=0.5, axes=(1,))
    assert (mask == mask[:, :1, :]).all()
    assert len(np.unique(mask)) == 2


def test_backward_reads_only_mask_and_head():
    op = cn.ops.make("Dropout", dict(p=0.5))
    assert op.needs_inputs == [0] and op.needs_outputs == [0, 1]
    assert op.num_visible_outputs == 1 and op.output_names == ["output", "mask"]
    assert cn.ops.info("Dropout").flags & cn.ops.NONDETERMINISTIC
    x = np.random.default_rng(1).normal(size=(3, 4))
    _, mask = run(x, seed=9, p=0.5)
    head, dx = np.random.default_rng(2).normal(size=(3, 4)), np.zeros((3, 4))
    op.backward([head, None], [None], [None, mask], [dx], [REQ_WRITE], [])
    np.testing.assert_array_equal(dx, head * mask)
    op.backward([head, None], [None], [None, mask], [None], [REQ_NULL], [])


def test_p_one_drops_everything():
    out, mask = run(np.ones(10), seed=1, p=1.0)
    assert (out == 0).all() and np.isfinite(mask).all()


def test_bad_params():
    x = cn.nd.ones((2, 3))
    expect_error(lambda: cn.nd.Dropout(x, p=1.5), "Dropout", "p", "[0, 1]", "1.5")
    expect_error(lambda: cn.nd.Dropout(x, mode="sometimes"), "Dropout", "sometimes")
    expect_error(lambda: cn.nd.Dropout(x, axes=(2,)), "Dropout", "axes", "(2, 3)")
