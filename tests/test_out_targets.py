"""out= arrays written straight into (Op.invoke's `targets`): an unrecorded nd call with out=
writes its result into the out array itself when dtype, shape and layout match and no input
overlaps it, except an input the op lets that output share in place (an optimizer update with
out=weight). Every other case computes into a fresh array and copies, so results must equal
NumPy's whatever the aliasing."""
import numpy as np
import pytest

import coarsenet as cn
from coarsenet import ops

RNG = np.random.default_rng(3)


def rand(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


def test_update_with_out_weight_writes_the_weight_in_place():
    w, g, m = rand(1000), rand(1000), rand(1000)
    op = ops.make("sgd_mom_update", dict(lr=0.1, momentum=0.9, wd=0.01))
    w0, m0 = w.copy(), m.copy()
    (res,) = op.invoke([w, g], [m], False, 0, [w])
    assert res is w  # no fresh output, no copy
    new_m = np.float32(0.9) * m0 - np.float32(0.1) * (g + np.float32(0.01) * w0)
    np.testing.assert_allclose(m, new_m, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(w, w0 + new_m, rtol=1e-6, atol=1e-6)


def test_nd_update_out_weight_matches_a_separate_out():
    w, g, m = rand(3, 50), rand(3, 50), rand(3, 50)
    a = [cn.nd.array(x) for x in (w, g, m)]
    b = [cn.nd.array(x) for x in (w, g, m)]
    target = cn.nd.zeros((3, 50))
    before = a[0]._data
    assert cn.nd.sgd_mom_update(*a, lr=0.05, momentum=0.9, out=a[0]) is a[0]
    assert a[0]._data is before
    cn.nd.sgd_mom_update(*b, lr=0.05, momentum=0.9, out=target)
    np.testing.assert_array_equal(a[0].asnumpy(), target.asnumpy())
    np.testing.assert_array_equal(b[0].asnumpy(), w)  # weight untouched with another out
    np.testing.assert_array_equal(a[2].asnumpy(), b[2].asnumpy())


def test_out_that_is_an_input_the_op_cannot_share_is_copied():
    a, b = rand(8, 8), rand(8, 8)
    op = ops.make("dot", {})
    (res,) = op.invoke([a, b], [], False, 0, [a])
    assert res is not a  # dot reads all of a while writing: never in place
    np.testing.assert_allclose(res, a @ b, rtol=1e-5, atol=1e-5)
    x, y = cn.nd.array(a), cn.nd.array(b)
    cn.nd.dot(x, y, out=x)
    np.testing.assert_allclose(x.asnumpy(), a @ b, rtol=1e-5, atol=1e-5)


def test_partly_overlapping_out_is_copied():
    base = rand(12)
    x = cn.nd.array(base)
    cn.nd.relu(x[0:8], out=x[2:10])  # relu may share its input, but not a shifted one
    expect = base.copy()
    expect[2:10] = np.maximum(base[0:8], 0)
    np.testing.assert_array_equal(x.asnumpy(), expect)


def test_out_overlapping_an_aux_state_is_copied():
    w, g, m = rand(20), rand(20), rand(20)
    op = ops.make("sgd_mom_update", dict(lr=0.1, momentum=0.9))
    (res,) = op.invoke([w, g], [m], False, 0, [m])
    assert res is not m


@pytest.mark.parametrize("target", [
    np.zeros((4, 5), np.float64),         # another dtype: cast on the copy
    np.zeros((5, 4), np.float32),         # another shape
    np.zeros((5, 4), np.float32).T,       # not C-contiguous
])
def test_mismatched_targets_are_left_to_the_copy(target):
    x = rand(4, 5)
    (res,) = ops.make("relu", {}).invoke([x], [], False, 0, [target])
    assert res is not target
    np.testing.assert_array_equal(res, np.maximum(x, 0))


def test_the_same_array_in_two_input_slots_is_copied():
    x = rand(5, 5)
    snapshot = x.copy()
    (res,) = ops.make("elemwise_add", {}).invoke([x, x], [], False, 0, [x])
    assert res is not x  # as the memory planner: in place only for one input slot
    np.testing.assert_array_equal(res, snapshot + snapshot)


def test_two_outputs_into_one_buffer_are_not_both_written_directly():
    x = rand(6, 4)
    op = ops.make("split", dict(num_outputs=2, axis=0))
    shared = np.zeros((3, 4), np.float32)
    res = op.invoke([x], [], False, 0, [shared, shared])
    assert res[0] is shared and res[1] is not shared
    np.testing.assert_array_equal(res[1], x[3:])


def test_recorded_calls_keep_the_copy():
    x = cn.nd.array(rand(3, 3))
    x.attach_grad()
    target = cn.nd.zeros((3, 3))
    with cn.autograd.record():
        y = cn.nd.relu(x, out=target)
    assert y is target
    np.testing.assert_array_equal(target.asnumpy(), np.maximum(x.asnumpy(), 0))
