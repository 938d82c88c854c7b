import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import REQ_NULL, REQ_WRITE, check_op, expect_error


def embedding_ref(data, weight, **_):
    return weight[data.astype(int)]


def indices(input_dim):
    def make(i, shape, rng):
        return rng.integers(0, input_dim, size=shape).astype(np.float64) if i == 0 else None
    return make


@pytest.mark.parametrize("data_shape", [(7,), (2, 3), (2, 2, 2)])
def test_embedding(data_shape):
    check_op("Embedding", [data_shape, (5, 4)], dict(input_dim=5, output_dim=4), embedding_ref,
             input_fn=indices(5), grad_inputs=[1])


def test_weight_gradient_accumulates_repeated_rows():
    op = cn.ops.make("Embedding", dict(input_dim=1000, output_dim=3))
    rng = np.random.default_rng(0)
    data = rng.integers(0, 1000, size=20_000).astype(np.float32)
    head = rng.normal(size=(20_000, 3)).astype(np.float32)
    dw = np.empty((1000, 3), dtype=np.float32)
    op.backward([head], [data, None], [None], [None, dw], [REQ_NULL, REQ_WRITE], [])
    expected = np.zeros((1000, 3))
    np.add.at(expected, data.astype(int), head)
    np.testing.assert_allclose(dw, expected, rtol=1e-4, atol=1e-4)


def test_integer_indices_and_shapes():
    w = cn.nd.array(np.arange(12).reshape(4, 3))
    out = cn.nd.Embedding(cn.nd.array([[3, 0]], dtype=np.int32), w, input_dim=4, output_dim=3)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out.asnumpy(), [[[9, 10, 11], [0, 1, 2]]])
    op = cn.ops.make("Embedding", dict(input_dim=4, output_dim=3))
    ins, outs, _ = op.infer_shape([(2, 5), None])
    assert tuple(ins[1]) == (4, 3) and tuple(outs[0]) == (2, 5, 3)


def test_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    w = rng.normal(size=(6, 4))
    idx = rng.integers(0, 6, size=(3, 5))
    got = cn.nd.Embedding(cn.nd.array(idx, dtype=np.float64), cn.nd.array(w, dtype=np.float64),
                          input_dim=6, output_dim=4).asnumpy()
    want = torch.nn.functional.embedding(torch.tensor(idx), torch.tensor(w)).numpy()
    np.testing.assert_array_equal(got, want)


def test_bad_indices_and_params():
    w = cn.nd.ones((4, 3))
    for bad in ([4.0], [-1.0], [1.5], [np.nan]):
        expect_error(lambda bad=bad: cn.nd.Embedding(cn.nd.array(bad), w, input_dim=4,
                                                     output_dim=3),
                     "Embedding", "index", "[0, 4)")
    expect_error(lambda: cn.nd.Embedding(cn.nd.array([0.0]), w, input_dim=4, output_dim=2),
                 "Embedding", "weight", "(4, 2)", "(4, 3)")
    expect_error(lambda: cn.nd.Embedding(cn.nd.array([0.0]), w, input_dim=0, output_dim=3),
                 "Embedding", "input_dim")
    expect_error(lambda: cn.nd.Embedding(cn.nd.array([0.0]), w, output_dim=3),
                 "Embedding", "input_dim", "missing")
