"""mx.test_utils' gradient checks and dataset helpers (files placed locally; offline errors
name the URL)."""
import gzip
import os
import sys

import numpy as np
import pytest

import coarsenet as mx
from coarsenet import test_utils as tu

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "tools"))


def _fc_tanh():
    x = mx.sym.Variable("x")
    return mx.sym.tanh(mx.sym.FullyConnected(x, num_hidden=3, name="fc"))


def test_check_symbolic_backward_against_numpy():
    rng = np.random.default_rng(0)
    x, w, b = rng.normal(size=(2, 4)), rng.normal(size=(3, 4)), rng.normal(size=3)
    g = rng.normal(size=(2, 3))
    t = np.tanh(x @ w.T + b)
    d = g * (1 - t * t)
    expected = {"x": d @ w, "fc_weight": d.T @ x, "fc_bias": d.sum(0)}
    got = tu.check_symbolic_backward(_fc_tanh(), [x, w, b], [g], expected, rtol=1e-4,
                                     atol=1e-5)
    assert sorted(got) == ["fc_bias", "fc_weight", "x"]
    tu.check_symbolic_backward(_fc_tanh(), [x, w, b], [g], expected, rtol=1e-4, atol=1e-5,
                               grad_req="add")  # the random start is added back
    wrong = dict(expected, fc_bias=expected["fc_bias"] + 1)
    with pytest.raises(AssertionError, match="dfc_bias"):
        tu.check_symbolic_backward(_fc_tanh(), [x, w, b], [g], wrong, rtol=1e-4, atol=1e-5)


def test_check_numeric_gradient_passes_and_catches_a_wrong_gradient():
    rng = np.random.default_rng(1)
    loc = {"x": rng.normal(size=(2, 4)), "fc_weight": rng.normal(size=(3, 4)),
           "fc_bias": rng.normal(size=3)}
    tu.check_numeric_gradient(_fc_tanh(), loc, dtype=np.float64, numeric_eps=1e-4, rtol=1e-4)
    blocked = mx.sym.BlockGrad(mx.sym.Variable("x")) * mx.sym.Variable("y")  # dx is cut
    with pytest.raises(AssertionError):
        tu.check_numeric_gradient(blocked, {"x": np.ones(3), "y": np.full(3, 2.0)},
                                  dtype=np.float64)
    tu.check_numeric_gradient(blocked, {"x": np.ones(3), "y": np.full(3, 2.0)},
                              grad_nodes=["y"], dtype=np.float64)


def test_check_consistency_across_dtypes():
    grads = tu.check_consistency(_fc_tanh(), [
        {"ctx": mx.cpu(), "x": (2, 4), "type_dict": {"x": np.float64}},
        {"ctx": mx.cpu(), "x": (2, 4), "type_dict": {"x": np.float32}}])
    assert len(grads) == 2 and set(grads[0]) == {"x", "fc_weight", "fc_bias"}


def test_download_returns_an_existing_file_and_names_the_url_offline(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "there.bin").write_bytes(b"x")
    assert tu.download("http://example.invalid/there.bin") == "there.bin"
    with pytest.raises(mx.CoarsenetError, match=r"http://127\.0\.0\.1:9/missing\.bin.*place"):
        tu.download("http://127.0.0.1:9/missing.bin", dirname="sub", retries=0)
    assert not (tmp_path / "sub" / "missing.bin").exists()


def test_mnist_helpers_read_local_files(tmp_path, monkeypatch):
    from mxnet_scoreboard import synthetic_mnist

    monkeypatch.chdir(tmp_path)
    synthetic_mnist(str(tmp_path), train=30, test=10)  # data/*-ubyte, as get_mnist_ubyte wants
    tu.get_mnist_ubyte()  # present: nothing fetched
    train, val = tu.get_mnist_iterator(10, (784,))
    batch = next(iter(train))
    assert batch.data[0].shape == (10, 784) and batch.label[0].shape == (10,)
    for f in os.listdir("data"):  # get_mnist reads the .gz files from the current directory
        with open(os.path.join("data", f), "rb") as src, gzip.open(f + ".gz", "wb") as dst:
            dst.write(src.read())
    d = tu.get_mnist()
    assert d["train_data"].shape == (30, 1, 28, 28) and d["test_label"].shape == (10,)
    assert d["train_data"].dtype == np.float32 and d["train_data"].max() == 1.0
    os.remove("train-images-idx3-ubyte.gz")
    monkeypatch.setattr(tu, "download", None, raising=False)  # the module's own is used
    from coarsenet import test_utils_extra

    monkeypatch.setattr(test_utils_extra, "_MNIST_URL", "http://127.0.0.1:9/")
    with pytest.raises(mx.CoarsenetError, match="train-images-idx3-ubyte.gz"):
        tu.get_mnist()
