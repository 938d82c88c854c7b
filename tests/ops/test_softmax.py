import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import check_op, expect_error


def np_softmax(x, axis=-1, temperature=None):
    z = x / (temperature or 1.0)
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def np_log_softmax(x, axis=-1, temperature=None):
    return np.log(np_softmax(x, axis, temperature))


@pytest.mark.parametrize("params", [{}, dict(axis=0), dict(axis=1), dict(axis=-1, temperature=2.5)])
def test_softmax(params):
    check_op("softmax", [(2, 3, 4)], params, np_softmax)


@pytest.mark.parametrize("params", [{}, dict(axis=1), dict(axis=0, temperature=0.5)])
def test_log_softmax(params):
    check_op("log_softmax", [(3, 4, 2)], params, np_log_softmax)


def test_softmax_is_stable_for_large_inputs():
    x = cn.nd.array([[1000.0, 1000.0], [-1000.0, 0.0]])
    np.testing.assert_allclose(cn.nd.softmax(x).asnumpy(), [[0.5, 0.5], [0.0, 1.0]])
    assert np.isfinite(cn.nd.log_softmax(x).asnumpy()).all()


def test_matches_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(1).normal(size=(3, 5, 4))
    for axis in (0, 1, 2):
        got = cn.nd.softmax(cn.nd.array(x, dtype=np.float64), axis=axis).asnumpy()
        np.testing.assert_allclose(got, torch.softmax(torch.tensor(x), axis).numpy(), rtol=1e-12)
        got = cn.nd.log_softmax(cn.nd.array(x, dtype=np.float64), axis=axis).asnumpy()
        np.testing.assert_allclose(got, torch.log_softmax(torch.tensor(x), axis).numpy(),
                                   rtol=1e-12)


def test_bad_params():
    x = cn.nd.ones((2, 3))
    expect_error(lambda: cn.nd.softmax(x, axis=2), "softmax", "axis 2", "(2, 3)")
    expect_error(lambda: cn.nd.log_softmax(x, temperature=0), "log_softmax", "temperature")


def test_mxnet_params_accepted_or_rejected_clearly():
    x = cn.nd.ones((2, 3))
    np.testing.assert_allclose(cn.nd.softmax(x, dtype="None", use_length=False).asnumpy(), 1 / 3)
    expect_error(lambda: cn.nd.softmax(x, dtype="float16"), "softmax", "dtype", "float16")
    expect_error(lambda: cn.nd.softmax(x, use_length=True), "softmax", "length", "missing")


def masked_softmax_ref(log):
    def ref(x, length, axis=-1, temperature=None, use_length=True):
        t = temperature or 1.0
        xm = np.moveaxis(x, axis, -1) / t
        lm = np.clip(np.trunc(length), 0, xm.shape[-1])[..., None]
        keep = np.arange(xm.shape[-1]) < lm
        z = np.where(keep, xm, -np.inf)
        z = z - np.max(np.where(keep, z, -np.inf), axis=-1, keepdims=True, initial=-1e300)
        e = np.where(keep, np.exp(z), 0)
        s = e.sum(-1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(keep, z - np.log(s), 0) if log else np.where(keep, e / s, 0)
        return np.moveaxis(out, -1, axis)
    return ref


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
@pytest.mark.parametrize("axis,temperature", [(-1, None), (1, 2.0), (0, 0.5)])
def test_use_length(op, axis, temperature):
    shape = (3, 4, 5)
    rest = tuple(d for i, d in enumerate(shape) if i != axis % 3)

    def lengths(i, s, rng):
        return rng.integers(0, shape[axis] + 2, size=s).astype(float) if i == 1 else None

    check_op(op, [shape, rest], dict(axis=axis, temperature=temperature, use_length=True),
             masked_softmax_ref(op == "log_softmax"), input_fn=lengths, grad_inputs=[0])
