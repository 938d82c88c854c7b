import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import check_op, expect_error


def slice_ref(x, begin, end, step=()):
    step = step or (None,) * len(begin)
    return x[tuple(slice(b, e, s) for b, e, s in zip(begin, end, step))]


@pytest.mark.parametrize("shape, begin, end, step", [
    ((3, 4), (0, 1), (2, 4), ()),                     # MXNet's first doc example
    ((3, 4), (None, 0), (None, 3), (-1, 2)),          # MXNet's second doc example
    ((4, 5, 6), (1,), (3,), ()),
    ((4, 5, 6), (-3, None, 1), (None, -1, 100), (1, 2, 2)),
    ((4, 5, 6), (None, 4, None), (None, 0, None), (None, -2, -3)),
    ((2, 3, 4, 5), (0, 0, 1, 1), (2, 3, 3, 4), ()),   # a spatial crop of NCHW
    ((6,), (-100,), (100,), (2,)),                    # clamped like Python
])
def test_slice(shape, begin, end, step):
    check_op("slice", [shape], dict(begin=begin, end=end, step=step), slice_ref)


def test_slice_parses_mxnet_json_strings():
    op = cn.ops.make("slice", {"begin": "(None, 1)", "end": "(None, None)", "step": "(None, -1)"})
    _, outs, _ = op.infer_shape([(3, 4)])
    assert outs == [(3, 2)]  # x[:, 1::-1]
    x = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(cn.nd.crop(cn.nd.array(x), begin=(None, 1), end=(None, None),
                                             step=(None, -1)).asnumpy(), x[:, 1::-1])


@pytest.mark.parametrize("shape, axis, begin, end", [
    ((3, 4), 0, 1, 3), ((3, 4), 1, 0, 2), ((3, 4), 1, -3, -1), ((2, 3, 4), -1, 1, None),
    ((2, 3, 4), 1, 2, None)])
def test_slice_axis(shape, axis, begin, end):
    def ref(x, axis, begin, end):
        index = [slice(None)] * x.ndim
        index[axis] = slice(begin, end)
        return x[tuple(index)]
    check_op("slice_axis", [shape], dict(axis=axis, begin=begin, end=end), ref)


def test_symbol_slice_axis_infers_shape():
    y = cn.sym.slice_axis(cn.sym.Variable("x"), axis=1, begin=1, end=None)
    assert y.infer_shape(x=(2, 5))[1] == [(2, 4)]


def test_bad_slices():
    x = cn.nd.ones((3, 4))
    expect_error(lambda: cn.nd.slice(x, begin=(0,), end=(1, 2)), "slice", "same length")
    expect_error(lambda: cn.nd.slice(x, begin=(0, 0, 0), end=(1, 1, 1)), "slice", "(3, 4)",
                 "more indices")
    expect_error(lambda: cn.nd.slice(x, begin=(0,), end=(2,), step=(0,)), "slice", "step",
                 "not be 0")
    expect_error(lambda: cn.nd.slice(x, begin=(2,), end=(1,)), "slice", "axis 0",
                 "no elements")
    expect_error(lambda: cn.nd.slice(x, begin=(0,)), "slice", "end", "missing")
    expect_error(lambda: cn.nd.slice(x, begin="(a,)", end=(1,)), "slice", "begin", "'(a,)'")
    expect_error(lambda: cn.nd.slice_axis(x, axis=1, begin=3, end=2), "slice_axis", "begin=3",
                 "(3, 4)")
    expect_error(lambda: cn.nd.slice_axis(x, axis=2, begin=0, end=1), "slice_axis", "axis 2")
    expect_error(lambda: cn.nd.slice_axis(x, begin=0, end=1), "slice_axis", "axis", "missing")
