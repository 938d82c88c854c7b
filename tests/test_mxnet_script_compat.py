"""API details MXNet 1.9.1's example scripts rely on (found by tools/mxnet_scoreboard.py);
expected values were read from real MXNet 1.9.1 (/work/mxvenv) on the same inputs."""
import numpy as np
import pytest

import coarsenet as mx
from coarsenet import autograd as ag
from coarsenet import nd


def test_indexing_under_record_is_differentiated():
    # example/gluon/lstm_crf scores a tag path with transitions[i, j] and feat[i]
    w = nd.array(np.arange(12.).reshape(3, 4))
    w.attach_grad()
    with ag.record():
        y = (w[1, 2] * 3 + w[2].sum() + w[0:2, 1:3].sum() * 2 + w[-1][0]
             + w[nd.array([0, 0])].sum())
        assert (w[1, 2].shape, w[1].shape, w[0:2, 1:3].shape, w[1:1].shape) == \
            ((1,), (4,), (2, 2), (0, 4))
    y.backward()
    # MXNet 1.9.1 gives exactly this gradient
    np.testing.assert_array_equal(w.grad.asnumpy(), [[2, 4, 4, 2], [0, 2, 5, 0], [2, 1, 1, 1]])


def test_indexing_out_of_range_under_record_raises():
    w = nd.ones((2, 3))
    w.attach_grad()
    with ag.record(), pytest.raises(IndexError):
        w[2]


def test_data_desc_is_a_name_shape_pair():
    # example/image-classification/benchmark_score.py: `for _, shape in mod.data_shapes`
    d = mx.io.DataDesc("data", (2, 3), np.float64, "NC")
    name, shape = d
    assert (name, shape, d.dtype, d.layout) == ("data", (2, 3), np.float64, "NC")
    assert mx.io.DataDesc("x", (1,)).dtype == np.float32
    assert mx.io.DataDesc.get_batch_axis("TNC") == 1
    mod = mx.mod.Module(mx.sym.FullyConnected(mx.sym.var("data"), num_hidden=2),
                        label_names=None)
    mod.bind(data_shapes=[("data", (4, 3))], for_training=False)
    assert [s for _, s in mod.data_shapes] == [(4, 3)]


def test_reshape_of_integer_array():
    # example/gluon/mnist: data.reshape((-1,)).astype(np.float32) on uint8 images
    img = nd.array(np.arange(12).reshape(3, 4), dtype="uint8")
    flat = img.reshape((-1,))
    assert flat.dtype == np.uint8 and flat.shape == (12,)
    np.testing.assert_array_equal(flat.asnumpy(), np.arange(12))
    assert img.reshape(0, 2, -1).shape == (3, 2, 2)  # MXNet's special codes
