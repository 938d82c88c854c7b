import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import REQ_ADD, REQ_WRITE, check_op, expect_error


def np_softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _view(x, multi_output, preserve_shape):
    """(outer, classes, inner) view of the data, as MXNet's SoftmaxOutput modes define it."""
    if multi_output:
        return x.reshape(x.shape[0], x.shape[1], -1)
    if preserve_shape:
        return x.reshape(-1, x.shape[-1], 1)
    return x.reshape(x.shape[0], -1, 1)


def softmax_output_ref(x, label, multi_output=False, preserve_shape=False, **_):
    return np_softmax(_view(x, multi_output, preserve_shape), axis=1).reshape(x.shape)


def softmax_output_grad(x, label, grad_scale=1.0, ignore_label=-1.0, multi_output=False,
                        use_ignore=False, preserve_shape=False, normalization="null",
                        smooth_alpha=0.0, **_):
    v = _view(x, multi_output, preserve_shape)
    outer, classes, inner = v.shape
    lab = label.reshape(outer, inner).astype(int)
    target = np.full(v.shape, smooth_alpha / (classes - 1))
    o, i = np.meshgrid(np.arange(outer), np.arange(inner), indexing="ij")
    ignored = lab == int(ignore_label)
    target[o, np.where(ignored, 0, lab), i] = np.where(ignored, target[o, 0, i], 1 - smooth_alpha)
    g = np_softmax(v, axis=1) - target
    if use_ignore:
        g *= ~ignored[:, None, :]
    norm = {"null": 1, "batch": outer if multi_output else outer * inner,
            "valid": max(int((~ignored).sum()), 1)}[normalization]
    if multi_output and normalization != "valid":
        norm *= inner
    return (grad_scale * g / norm).reshape(x.shape)


def labels(classes, ignore=None):
    """input_fn for (data, label): integer class labels, some set to `ignore`."""
    def make(i, shape, rng):
        if i != 1:
            return None
        lab = rng.integers(0, classes, size=shape).astype(np.float64)
        if ignore is not None:
            lab.reshape(-1)[::3] = ignore
        return lab
    return make


@pytest.mark.parametrize("shapes, params, ignore", [
    ([(4, 5), (4,)], {}, None),
    ([(4, 5), (4,)], dict(grad_scale=2.0, normalization="batch"), None),
    ([(6, 3), (6,)], dict(use_ignore=True, normalization="valid"), -1),
    ([(6, 3), (6,)], dict(use_ignore=True, ignore_label=2, normalization="batch"), 2),
    ([(4, 5), (4,)], dict(smooth_alpha=0.1), None),
    ([(2, 3, 4), (2,)], {}, None),
    ([(2, 3, 4), (2, 3)], dict(preserve_shape=True, normalization="batch"), None),
    ([(2, 4, 3, 2), (2, 6)], dict(multi_output=True), None),
    ([(2, 4, 3), (2, 3)], dict(multi_output=True, normalization="batch"), None),
    ([(2, 4, 3), (2, 3)], dict(multi_output=True, use_ignore=True, normalization="valid"), -1),
])
def test_softmax_output(shapes, params, ignore):
    classes = shapes[0][1] if params.get("multi_output") else int(
        shapes[0][-1] if params.get("preserve_shape") else np.prod(shapes[0][1:]))
    check_op("SoftmaxOutput", shapes, params, softmax_output_ref, input_fn=labels(classes, ignore),
             grad_inputs=[0], grad_ref=softmax_output_grad)


def test_softmax_output_infers_label_shapes():
    def label_shape(data, **params):
        return tuple(cn.ops.make("SoftmaxOutput", params).infer_shape([data, None])[0][1])
    assert label_shape((4, 10)) == (4,)
    assert label_shape((4, 3, 5), preserve_shape=True) == (4, 3)
    assert label_shape((4, 3, 5, 6), multi_output=True) == (4, 30)
    assert cn.ops.make("SoftmaxOutput", {}).input_names == ["data", "label"]
    assert cn.ops.info("SoftmaxOutput").flags & cn.ops.LOSS


def test_softmax_output_probability_label():
    rng = np.random.default_rng(0)
    x, p = rng.normal(size=(3, 4)), np_softmax(rng.normal(size=(3, 4)), axis=1)
    check_op("Softmax", inputs=[x, p], params=dict(grad_scale=0.5),
             ref=lambda x, target, **_: np_softmax(x, 1), grad_inputs=[0],
             grad_ref=lambda x, target, grad_scale: grad_scale * (np_softmax(x, 1) - target))


def test_softmax_output_out_grad_multiplies_head():
    op = cn.ops.make("SoftmaxOutput", dict(out_grad=True))
    x, label = np.random.default_rng(0).normal(size=(3, 4)), np.array([0.0, 3.0, 1.0])
    (y,) = op.invoke([x, label], [])
    head = np.random.default_rng(1).normal(size=(3, 4))
    dx, dl = np.zeros((3, 4)), np.ones(3)
    op.backward([head], [x, label], [y], [dx, dl], [REQ_WRITE, REQ_WRITE], [])
    np.testing.assert_allclose(dx, softmax_output_grad(x, label) * head)
    np.testing.assert_array_equal(dl, 0)  # the label gets a zero gradient


def test_softmax_output_matches_torch_cross_entropy():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    x, label = rng.normal(size=(5, 4)), np.array([0, 3, -1, 2, -1], dtype=np.float64)
    t = torch.tensor(x, requires_grad=True)
    torch.nn.functional.cross_entropy(t, torch.tensor(label).long(), ignore_index=-1).backward()
    op = cn.ops.make("SoftmaxOutput", dict(use_ignore=True, normalization="valid"))
    (y,) = op.invoke([x, label], [])
    dx = np.zeros_like(x)
    op.backward([None], [x, label], [y], [dx, None], [REQ_WRITE, 0], [])
    np.testing.assert_allclose(dx, t.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_bad_labels_raise():
    op = cn.ops.make("SoftmaxOutput", {})
    x = np.zeros((2, 3))
    (y,) = op.invoke([x, np.zeros(2)], [])
    for bad in ([0.0, 3.0], [0.0, -1.0], [0.5, 1.0], [0.0, np.nan]):
        expect_error(lambda bad=bad: op.backward([None], [x, np.array(bad)], [y],
                                                 [np.zeros((2, 3)), None], [REQ_WRITE, 0], []),
                     "SoftmaxOutput", "label", "[0, 3)")
    expect_error(lambda: cn.nd.SoftmaxOutput(cn.nd.ones((2, 3)), cn.nd.ones(3)),
                 "SoftmaxOutput", "label", "(2,)", "(3,)")
    expect_error(lambda: cn.nd.SoftmaxOutput(cn.nd.ones((2, 3, 4)), cn.nd.ones((2, 5)),
                                             multi_output=True),
                 "SoftmaxOutput", "(2, 4)", "(2, 5)")
    expect_error(lambda: cn.nd.SoftmaxOutput(cn.nd.ones((2, 3)), cn.nd.ones(2),
                                             normalization="mean"),
                 "SoftmaxOutput", "normalization")


def regression_grad(kind):
    def grad(x, label, grad_scale=1.0):
        out = 1 / (1 + np.exp(-x)) if kind == "Logistic" else x
        d = out - label.reshape(x.shape)
        if kind == "MAE":
            d = np.sign(d)
        return grad_scale * d / (label.size / label.shape[0])
    return grad


def regression_ref(kind):
    return lambda x, label, **_: 1 / (1 + np.exp(-x)) if kind == "Logistic" else x


@pytest.mark.parametrize("kind", ["Linear", "Logistic", "MAE"])
@pytest.mark.parametrize("shapes, params", [
    ([(4, 3), (4, 3)], {}),
    ([(5, 1), (5,)], dict(grad_scale=3.0)),
    ([(2, 3, 2), (2, 6)], {}),
])
def test_regression_outputs(kind, shapes, params):
    check_op(f"{kind}RegressionOutput", shapes, params, regression_ref(kind), grad_inputs=[0],
             grad_ref=regression_grad(kind))


def test_regression_label_shape_and_add_request():
    op = cn.ops.make("LinearRegressionOutput", {})
    assert tuple(op.infer_shape([(5, 1), None])[0][1]) == (5,)
    assert tuple(op.infer_shape([(5, 2), None])[0][1]) == (5, 2)
    x, label = np.ones((2, 2)), np.zeros((2, 2))
    dx = np.full((2, 2), 10.0)
    op.backward([None], [x, label], [x], [dx, None], [REQ_ADD, 0], [])
    np.testing.assert_allclose(dx, 10.5)
    expect_error(lambda: cn.nd.LinearRegressionOutput(cn.nd.ones((2, 3)), cn.nd.ones((3, 2))),
                 "LinearRegressionOutput", "label", "(3, 2)")
