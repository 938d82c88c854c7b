import numpy as np

import coarsenet as cn
from coarsenet.testing import check_op, expect_error


def gather_ref(data, idx):
    k = np.trunc(idx).astype(np.int64)
    return data[tuple(k)]


def make_indices(dims):
    def make(i, shape, rng):
        if i != 1:
            return None
        return np.stack([rng.integers(-n, n, size=shape[1:]) for n in dims]).astype(np.float64)
    return make


def test_gather_nd():
    check_op("gather_nd", [(3, 4, 2), (2, 5)], {}, gather_ref, input_fn=make_indices((3, 4)),
             grad_inputs=[0])
    check_op("gather_nd", [(3, 4), (2, 2, 3)], {}, gather_ref, input_fn=make_indices((3, 4)),
             grad_inputs=[0])


def test_scatter_nd():
    # Distinct positions, so the result does not depend on which repeat writes last.
    idx = np.array([[0, 2, 1], [3, 0, 1]], np.float64)

    def ref(data, indices, shape):
        out = np.zeros(shape)
        out[tuple(indices.astype(np.int64))] = data
        return out

    rng = np.random.default_rng(1)
    check_op("scatter_nd", params=dict(shape=(3, 4, 2)), ref=ref,
             inputs=[rng.uniform(-1, 1, (3, 2)), idx], grad_inputs=[0])


def test_repeats_and_errors():
    data = cn.nd.array(np.arange(6).reshape(2, 3))
    data.attach_grad()
    with cn.autograd.record():
        y = cn.nd.gather_nd(data, cn.nd.array([[1, 1], [2, 2]]))
    y.backward()
    assert data.grad.asnumpy().tolist() == [[0, 0, 0], [0, 0, 2]]
    expect_error(lambda: cn.nd.gather_nd(data, cn.nd.array([[0, 5]])), "gather_nd", "index 5")
    expect_error(lambda: cn.nd.gather_nd(data, cn.nd.array([[0], [1], [0]])), "gather_nd",
                 "indexes 3 dims")
    expect_error(lambda: cn.nd.scatter_nd(cn.nd.ones((2,)), cn.nd.array([[0, 3]]), shape=(2,)),
                 "scatter_nd", "index 3")
