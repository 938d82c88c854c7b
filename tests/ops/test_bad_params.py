"""Bad op input (issue 19): declared param bounds, int32 truncation, geometry and shape overflow,
zero-size axes, index casts, max-pooling padding value and BatchNorm on an empty batch."""
import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import expect_error

BIG = 2**63 - 1


@pytest.mark.parametrize("op, params, fragments", [
    ("BatchNorm", dict(eps=float("nan")), ["BatchNorm", "eps", "finite", "nan"]),
    ("BatchNorm", dict(eps=0.0), ["eps", "(0, inf]"]),
    ("BatchNorm", dict(momentum=1.5), ["momentum", "[0, 1]", "1.5"]),
    ("LRN", dict(nsize=3, alpha=float("nan")), ["LRN", "alpha", "finite"]),
    ("LeakyReLU", dict(slope=float("nan")), ["LeakyReLU", "slope"]),
    ("SoftmaxOutput", dict(grad_scale=float("inf")), ["grad_scale", "finite"]),
    ("Dropout", dict(p=-0.1), ["p", "[0, 1]"]),
    ("Pooling", dict(kernel=(2, 2), stride=(0, 1)), ["Pooling", "stride", "(0, 1)"]),
    ("Pooling", dict(kernel=(2, 2), pad=(-1, 0)), ["pad", "-1"]),
    ("Convolution", dict(kernel=(3, 3), num_filter=2, dilate=(0, 1)), ["dilate"]),
    # int params parsed as int64 then truncated to 32 bits used to become other axes or counts
    ("Concat", dict(num_args=2**32 + 2), ["num_args", "32-bit"]),
    ("softmax", dict(axis=2**32 - 1), ["axis", "32-bit"]),
    ("repeat", dict(repeats=2**32 + 1), ["repeats", "32-bit"]),
    ("SliceChannel", dict(num_outputs=2**32 + 2), ["num_outputs", "32-bit"]),
])
def test_declared_bounds_are_enforced_by_the_parser(op, params, fragments):
    expect_error(lambda: cn.ops.make(op, params), *fragments)


def test_bounds_are_documented():
    doc = {p.name: p.doc for p in cn.ops.info("BatchNorm").params}
    assert "Valid: (0, inf], finite." in doc["eps"]
    assert "Valid: [0, 1], finite." in doc["momentum"]


def test_values_at_the_bounds_are_accepted():
    cn.ops.make("BatchNorm", dict(momentum=0.0, eps=1e-30))
    cn.ops.make("BatchNorm", dict(momentum=1.0))
    cn.ops.make("Pooling", dict(kernel=(1, 1), stride=(1, 1), pad=(0, 0)))
    cn.ops.make("softmax", dict(axis=2**31 - 1))


def _infer(op, params, *shapes):
    return cn.ops.make(op, params).infer_shape(list(shapes))


@pytest.mark.parametrize("op, params, shapes, fragments", [
    ("Pooling", dict(kernel=(2, 2), pad=(BIG, 0)), [(1, 1, 5, 5)], ["Pooling", "pad", "overflow"]),
    ("Pooling", dict(kernel=(2, 2), pad=(2**40, 0)), [(1, 1, 5, 5)], ["Pooling", "padded plane"]),
    ("Crop", dict(num_args=1, offset=(BIG - 1, 0), h_w=(2, 2)), [(1, 1, 5, 5)], ["Crop", "does not fit"]),
    ("Convolution", dict(kernel=(3, 3), num_filter=1, pad=(BIG, 0)),
     [(1, 1, 5, 5), None, None], ["Convolution", "overflow"]),
    ("Convolution", dict(kernel=(3, 3), num_filter=1, dilate=(2**62, 1)),
     [(1, 1, 5, 5), None, None], ["Convolution", "overflow"]),
    ("tile", dict(reps=(2**62,)), [(4,)], ["tile", "overflow"]),
    ("repeat", dict(repeats=2**30, axis=0), [(2**40,)], ["repeat", "overflow"]),
    ("Reshape", dict(shape=(2**62, 4, -1)), [(8,)], ["Reshape", "overflow"]),
    ("Pad", dict(mode="constant", pad_width=(0, 0, 0, 0, BIG, 1, 0, 0)), [(1, 1, 2, 2)],
     ["Pad", "overflow"]),
    ("pick", dict(axis=1), [(3, 0), (3,)], ["pick", "size 0"]),
])
def test_geometry_and_shape_arithmetic_fail_cleanly(op, params, shapes, fragments):
    expect_error(lambda: _infer(op, params, *shapes), *fragments)


def test_huge_pooling_stride_is_one_window_and_cheap():
    x = np.arange(25, dtype=np.float32).reshape(1, 1, 5, 5)
    for stride in (2**23, 2**62, BIG):
        op = cn.ops.make("Pooling", dict(kernel=(2, 2), stride=(stride, stride)))
        (y, _), = [op.invoke([x], [], False, 0)]
        np.testing.assert_array_equal(y, [[[[6.0]]]])
    op = cn.ops.make("Pooling", dict(kernel=(2, 2), stride=(2**62, 1),
                                     pooling_convention="full"))
    y = op.invoke([x], [], False, 0)[0]
    assert y.shape == (1, 1, 2, 4) and np.isfinite(y).all()


def test_max_pooling_window_wholly_in_padding_gives_lowest_like_mxnet():
    x = np.ones((1, 1, 2, 2), dtype=np.float32)
    op = cn.ops.make("Pooling", dict(kernel=(1, 1), pad=(1, 1), pool_type="max"))
    y = op.invoke([x], [], False, 0)[0]
    low = np.finfo(np.float32).min
    expected = np.full((1, 1, 4, 4), low, np.float32)
    expected[0, 0, 1:3, 1:3] = 1
    np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize("mode", ["clip", "wrap"])
def test_pick_on_empty_axis_and_huge_indices(mode):
    expect_error(lambda: cn.nd.pick(cn.nd.array(np.zeros((3, 0))), cn.nd.array(np.zeros(3)),
                                    axis=1, mode=mode), "pick", "size 0")
    y = cn.nd.pick(cn.nd.array(np.zeros((0, 4))), cn.nd.array(np.zeros(0)), axis=1, mode=mode)
    assert y.shape == (0,)
    x = np.arange(12, dtype=np.float64).reshape(3, 4)
    idx = np.array([2.0**63, -np.inf, np.nan])
    y = cn.nd.pick(cn.nd.array(x), cn.nd.array(idx), axis=1, mode=mode).asnumpy()
    assert np.isfinite(y).all() and ((y >= x[:, :1].ravel()) & (y <= x[:, -1])).all()


def test_batchnorm_training_on_an_empty_batch_keeps_moving_stats():
    op = cn.ops.make("BatchNorm", dict(fix_gamma=False))
    x = np.zeros((0, 3, 2, 2))
    mean, var = np.full(3, 0.25), np.full(3, 2.0)
    outs = op.invoke([x, np.ones(3), np.zeros(3)], [mean, var], True, 0)
    assert outs[0].shape == (0, 3, 2, 2)
    np.testing.assert_array_equal(mean, 0.25)
    np.testing.assert_array_equal(var, 2.0)


@pytest.mark.parametrize("make, fragments", [
    (lambda: cn.nd.tile(cn.nd.ones((2, 2)), reps=(2**20, 2**20)),
     ["tile", "outputs", "(2097152, 2097152)", "MiB of memory"]),
    (lambda: cn.nd.broadcast_to(cn.nd.ones((1, 1)), shape=(2**22, 2**22)),
     ["broadcast_to", "outputs", "MiB of memory"]),
    (lambda: cn.nd.zeros((2**22, 2**22)), ["nd.zeros", "(4194304, 4194304)", "GiB"]),
    (lambda: cn.nd.empty(2**42, dtype=np.float64), ["nd.empty", "(4398046511104,)", "float64"]),
])
def test_arrays_larger_than_the_machine_are_a_clear_error_not_a_memory_error(make, fragments):
    # Small inputs whose params ask for outputs of 16-64 TiB: named before numpy is asked.
    expect_error(make, *fragments)
