import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import check_op


@pytest.mark.parametrize("params", [dict(), dict(grad_scale=2.0, normalization="batch"),
                                    dict(normalization="valid", valid_thresh=0.2)])
def test_make_loss(params):
    def grad_ref(x, grad_scale=1.0, normalization="null", valid_thresh=0.0):
        norm = {"null": 1, "batch": x.shape[0],
                "valid": max(1, int((x > valid_thresh).sum()))}[normalization]
        return np.full(x.shape, grad_scale / norm)
    check_op("MakeLoss", [(4, 3)], params, lambda x, **_: x, grad_inputs=[0], grad_ref=grad_ref)
    assert cn.ops.info("MakeLoss").flags & cn.ops.LOSS


def test_make_loss_lowercase():
    check_op("make_loss", [(2, 5)], {}, lambda x: x, grad_inputs=[0],
             grad_ref=lambda x: np.ones_like(x))


def svm_grad(x, label, margin=1.0, regularization_coefficient=1.0, use_linear=False):
    y = np.where(np.arange(x.shape[-1]) == label[..., None], 1.0, -1.0)
    gap = margin - y * x
    d = -y * (gap > 0) if use_linear else -2 * y * np.maximum(gap, 0)
    return regularization_coefficient * d


@pytest.mark.parametrize("params", [dict(), dict(use_linear=True),
                                    dict(margin=0.5, regularization_coefficient=3.0)])
def test_svm_output(params):
    def labels(i, shape, rng):
        return rng.integers(0, 4, size=shape).astype(float) if i == 1 else None
    check_op("SVMOutput", [(5, 4), (5,)], params, lambda x, label, **_: x, input_fn=labels,
             grad_inputs=[0], grad_ref=svm_grad)
    check_op("SVMOutput", [(2, 3, 4), (2, 3)], params, lambda x, label, **_: x, input_fn=labels,
             grad_inputs=[0], grad_ref=svm_grad)


def test_svm_in_a_module_graph():
    data = cn.sym.var("data")
    net = cn.sym.SVMOutput(cn.sym.FullyConnected(data, num_hidden=3, name="fc"), name="svm")
    assert net.list_arguments() == ["data", "fc_weight", "fc_bias", "svm_label"]
    ex = net.simple_bind(data=(4, 2))
    ex.forward(is_train=True, data=np.ones((4, 2), np.float32), svm_label=np.zeros(4, np.float32))
    ex.backward()
    assert np.isfinite(ex.grad_dict["fc_weight"].asnumpy()).all()
