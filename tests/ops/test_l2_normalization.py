import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import check_op, expect_error


def l2_normalization_ref(x, eps=1e-10, mode="instance"):
    axes = {"instance": tuple(range(1, x.ndim)), "channel": (1,),
            "spatial": tuple(range(2, x.ndim))}[mode]
    return x / np.sqrt(np.sum(x * x, axis=axes, keepdims=True) + eps)


@pytest.mark.parametrize("mode", ["instance", "channel", "spatial"])
@pytest.mark.parametrize("shape", [(2, 3, 4), (2, 3, 2, 3)])
def test_l2_normalization(mode, shape):
    check_op("L2Normalization", [shape], dict(mode=mode), l2_normalization_ref)


def test_instance_mode_on_matrices_and_wide_channel_maps():
    check_op("L2Normalization", [(5, 7)], {}, l2_normalization_ref)
    check_op("L2Normalization", [(2, 3, 9, 10)], dict(mode="channel", eps=0.01),
             l2_normalization_ref, max_points=100)  # 90 positions: two blocks per sample


def test_norm_shapes_follow_mxnet():
    shape = (2, 3, 4, 5)
    norms = {mode: cn.ops.make("L2Normalization", dict(mode=mode)).infer_shape([shape])[1][1]
             for mode in ("instance", "channel", "spatial")}
    assert norms == {"instance": (2,), "channel": (2, 1, 4, 5), "spatial": (2, 3)}


def test_bad_input_errors_name_the_op():
    x = cn.nd.ones((2, 3))
    expect_error(lambda: cn.nd.L2Normalization(x, mode="channel"),
                 "L2Normalization", "at least 3 dims", "(2, 3)")
    expect_error(lambda: cn.nd.L2Normalization(x, mode="row"), "L2Normalization", "mode", "row")
    expect_error(lambda: cn.nd.L2Normalization(x, eps=-1.0), "L2Normalization", "eps")
    expect_error(lambda: cn.nd.L2Normalization(x.astype(np.int32)), "L2Normalization", "int32")
