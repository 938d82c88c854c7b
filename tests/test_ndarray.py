"""NDArray arithmetic goes through the registered elementwise, broadcast and scalar ops."""
import numpy as np
import pytest

import coarsenet as cn


@pytest.fixture
def arrays():
    rng = np.random.default_rng(0)
    a = rng.uniform(0.5, 1.5, (2, 3)).astype(np.float32)
    b = rng.uniform(0.5, 1.5, (2, 3)).astype(np.float32)
    return a, b


CASES = {
    "add": (lambda x, y: x + y),
    "sub": (lambda x, y: x - y),
    "mul": (lambda x, y: x * y),
    "div": (lambda x, y: x / y),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_array_with_array(arrays, name):
    a, b = arrays
    fn = CASES[name]
    result = fn(cn.nd.array(a), cn.nd.array(b))
    assert isinstance(result, cn.nd.NDArray) and result.dtype == np.float32
    np.testing.assert_allclose(result.asnumpy(), fn(a, b), rtol=1e-6)


@pytest.mark.parametrize("name", sorted(CASES))
def test_array_with_broadcast_array(arrays, name):
    a, _ = arrays
    row = np.array([1.0, 2.0, 4.0], dtype=np.float32)
    fn = CASES[name]
    np.testing.assert_allclose(fn(cn.nd.array(a), cn.nd.array(row)).asnumpy(), fn(a, row),
                               rtol=1e-6)
    np.testing.assert_allclose(fn(cn.nd.array(row), cn.nd.array(a)).asnumpy(), fn(row, a),
                               rtol=1e-6)


@pytest.mark.parametrize("name", sorted(CASES))
def test_array_with_scalar_both_sides(arrays, name):
    a, _ = arrays
    fn = CASES[name]
    x = cn.nd.array(a)
    np.testing.assert_allclose(fn(x, 2.5).asnumpy(), fn(a, np.float32(2.5)), rtol=1e-6)
    np.testing.assert_allclose(fn(2.5, x).asnumpy(), fn(np.float32(2.5), a), rtol=1e-6)


def test_array_with_numpy_array_and_negation(arrays):
    a, b = arrays
    x = cn.nd.array(a)
    np.testing.assert_allclose((x + b).asnumpy(), a + b, rtol=1e-6)
    np.testing.assert_allclose((-x).asnumpy(), -a)
    np.testing.assert_allclose((x * 2 - 1 / x).asnumpy(), a * 2 - 1 / a, rtol=1e-6)


def test_float64_arrays_stay_float64():
    x = cn.nd.array(np.arange(4.0), dtype=np.float64)
    y = (x + 1) * x / 2 - x
    assert y.dtype == np.float64
    r = np.arange(4.0)
    np.testing.assert_allclose(y.asnumpy(), (r + 1) * r / 2 - r)


def test_documented_submodules_are_attributes_after_import_coarsenet():
    """`import coarsenet as cn; cn.testing.check_op(...)` works without importing testing."""
    code = ("import coarsenet as cn; cn.testing.check_op; cn.passes.plan_memory; "
            "cn.mxnet_format.load_arrays; cn.graph.Graph\n"
            "try:\n    cn.no_such_module\nexcept AttributeError as e:\n    print(e)")
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "no attribute 'no_such_module'" in out.stdout


def test_array_copies_its_source_like_mxnet():
    # nd.array used to wrap a float32 numpy array (and another NDArray's buffer) without a copy,
    # so an in-place update of the result silently changed the caller's data.
    src = np.zeros(3, dtype=np.float32)
    x = cn.nd.array(src)
    x[:] = 5
    x += 1
    np.testing.assert_array_equal(src, np.zeros(3, dtype=np.float32))
    src[0] = 7
    np.testing.assert_array_equal(x.asnumpy(), np.full(3, 6, dtype=np.float32))
    y = cn.nd.array(x)
    y[:] = 0
    np.testing.assert_array_equal(x.asnumpy(), np.full(3, 6, dtype=np.float32))


def test_asnumpy_returns_a_copy_like_mxnet():
    # asnumpy() used to return the NDArray's own buffer. The common MXNet pattern of collecting
    # an executor's outputs over batches then silently kept N references to the one output
    # buffer, which the next forward overwrites: every "prediction" equalled the last batch's.
    data = cn.sym.Variable("data")
    net = cn.sym.FullyConnected(data, num_hidden=2, name="fc")
    exe = net.simple_bind(data=(1, 3))
    exe.arg_dict["fc_weight"][:] = 1
    exe.arg_dict["fc_bias"][:] = 0
    preds = []
    for i in range(3):
        exe.arg_dict["data"][:] = i
        exe.forward()
        preds.append(exe.outputs[0].asnumpy())
    np.testing.assert_array_equal(np.stack(preds)[:, 0, 0], [0, 3, 6])
    x = cn.nd.ones((2,))
    x.asnumpy()[:] = 9  # writing to the copy leaves the array alone, as in MXNet
    np.testing.assert_array_equal(x.asnumpy(), [1, 1])


def test_reshape_outside_autograd_is_a_view_like_mxnet():
    # MXNet's NDArray.reshape shares memory: writing through the reshaped array changes the
    # original (checked against MXNet 1.9.1: x.reshape((3, 4))[:] = 2 sets all of x).
    x = cn.nd.zeros((4, 3))
    y = x.reshape((3, 4))
    y[:] = 2
    np.testing.assert_array_equal(x.asnumpy(), np.full((4, 3), 2, dtype=np.float32))
    with cn.autograd.record():  # recorded: the Reshape op, so the gradient flows back
        x.attach_grad()
        z = (x.reshape((-1,)) * 3).sum()
    z.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), np.full((4, 3), 3, dtype=np.float32))
