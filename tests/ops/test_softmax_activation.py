import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import check_op, expect_error


def softmax_activation_ref(x, mode="instance"):
    axes = (1,) if mode == "channel" else tuple(range(1, x.ndim))
    e = np.exp(x - x.max(axis=axes, keepdims=True))
    return e / e.sum(axis=axes, keepdims=True)


@pytest.mark.parametrize("shape", [(3, 5), (2, 3, 4), (1, 7)])
def test_instance_mode(shape):
    check_op("SoftmaxActivation", [shape], {}, softmax_activation_ref)


@pytest.mark.parametrize("shape", [(2, 3, 4), (2, 4, 3, 3)])
def test_channel_mode(shape):
    check_op("SoftmaxActivation", [shape], dict(mode="channel"), softmax_activation_ref)


def test_mxnet_doc_example():
    x = np.array([[3., 0.5, -0.5, 2., 7.], [2., -.4, 7., 3., 0.2]], np.float32)
    out = cn.nd.SoftmaxActivation(cn.nd.array(x)).asnumpy()
    np.testing.assert_allclose(out[0], [1.78322066e-02, 1.46375655e-03, 5.38485940e-04,
                                        6.56010211e-03, 9.73605454e-01], rtol=1e-5)


def test_bad_input_errors_name_the_op():
    x = cn.nd.ones((2, 3))
    expect_error(lambda: cn.nd.SoftmaxActivation(x, mode="channel"),
                 "SoftmaxActivation", "at least 3 dims", "(2, 3)")
    expect_error(lambda: cn.nd.SoftmaxActivation(x, mode="spatial"),
                 "SoftmaxActivation", "mode", "spatial")
    expect_error(lambda: cn.nd.SoftmaxActivation(x.astype(np.int32)), "SoftmaxActivation", "int32")
