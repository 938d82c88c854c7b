import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import check_op, expect_error


def _order(x, axis, is_ascend):
    """Stable positions along axis (ascending, or descending keeping ties in index order)."""
    if axis is None:
        x, axis = x.reshape(-1), 0
    return np.argsort(x if is_ascend else -x, axis=axis, kind="stable"), x, axis


def topk_ref(x, axis=-1, k=1, ret_typ="indices", is_ascend=False, dtype="float32"):
    order, flat, ax = _order(x, axis, is_ascend)
    k = flat.shape[ax] if k < 1 else k
    idx = np.take(order, np.arange(k), axis=ax)
    values = np.take_along_axis(flat, idx, axis=ax)
    if ret_typ == "value":
        return values
    if ret_typ == "indices":
        return idx.astype(dtype)
    if ret_typ == "both":
        return values, idx.astype(dtype)
    mask = np.zeros_like(flat)
    np.put_along_axis(mask, idx, 1, axis=ax)
    return mask.reshape(x.shape)


@pytest.mark.parametrize("params", [
    dict(k=2, ret_typ="value"), dict(k=3, axis=1, ret_typ="both", is_ascend=True),
    dict(k=2, axis=0, ret_typ="indices"), dict(k=4, axis=None, ret_typ="value"),
    dict(k=2, ret_typ="mask"), dict(k=0, ret_typ="both", dtype="int32")])
def test_topk(params):
    check_op("topk", [(3, 4, 5)], params, topk_ref)


@pytest.mark.parametrize("params", [dict(), dict(axis=0, is_ascend=False), dict(axis=None)])
def test_sort_argsort(params):
    def sort_ref(x, axis=-1, is_ascend=True):
        return topk_ref(x, axis, 0, "value", is_ascend)

    def argsort_ref(x, axis=-1, is_ascend=True, dtype="float32"):
        return topk_ref(x, axis, 0, "indices", is_ascend, dtype)

    check_op("sort", [(3, 4, 5)], params, sort_ref)
    check_op("argsort", [(3, 4, 5)], params, argsort_ref)


def test_ties_are_stable_and_gradient_goes_to_the_chosen():
    x = cn.nd.array([[1, 3, 3, 2], [5, 5, 0, 5]])
    assert cn.nd.topk(x, k=2).asnumpy().tolist() == [[1, 2], [0, 1]]
    assert cn.nd.argsort(x, is_ascend=False).asnumpy().tolist() == [[1, 2, 3, 0], [0, 1, 3, 2]]
    x.attach_grad()
    with cn.autograd.record():
        y = cn.nd.topk(x, k=2, ret_typ="value")
    y.backward(cn.nd.array([[1, 2], [3, 4]]))
    assert x.grad.asnumpy().tolist() == [[0, 1, 2, 0], [3, 4, 0, 0]]


def test_errors_and_dtypes():
    x = cn.nd.array([[1, 2, 3]])
    expect_error(lambda: cn.nd.topk(x, k=4), "topk", "k = 4", "3 elements")
    expect_error(lambda: cn.nd.sort(x, axis=3), "sort", "axis 3")
    expect_error(lambda: cn.nd.topk(x, ret_typ="top"), "topk", "ret_typ")
    assert cn.nd.topk(x, k=2, dtype="int64").dtype == np.int64
    assert cn.nd.argsort(x, dtype="int32").dtype == np.int32
    assert cn.nd.sort(cn.nd.zeros((2, 0))).shape == (2, 0)
    assert cn.nd.topk(cn.nd.zeros((0, 3)), k=2).shape == (0, 2)


def test_symbol_outputs():
    d = cn.sym.var("d")
    assert cn.sym.topk(d, k=2, ret_typ="both").list_outputs() == ["topk0_output", "topk0_indices"]
    assert len(cn.sym.topk(d, k=2, ret_typ="value").list_outputs()) == 1
