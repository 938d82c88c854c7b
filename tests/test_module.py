"""Module (fit/score/predict/checkpoints), the model zoo and the command line."""
import os
import subprocess
import sys

import numpy as np
import pytest

import coarsenet as cn
from coarsenet import mxnet_format
from coarsenet.testing import expect_error


@pytest.fixture(scope="module")
def digits():
    x, y = cn.datasets.load_digits()
    order = np.random.default_rng(0).permutation(len(x))
    return x[order[400:]], y[order[400:]], x[order[:400]], y[order[:400]]


@pytest.fixture(scope="module")
def trained(digits):
    x, y, xv, yv = digits
    cn.random.seed(0)
    it = cn.io.NDArrayIter(x, y, 32, shuffle=True, last_batch_handle="discard", seed=0)
    mod = cn.mod.Module(cn.model_zoo.get_symbol("mlp", num_classes=10))
    mod.fit(it, optimizer="sgd", optimizer_params={"learning_rate": 0.05, "momentum": 0.9},
            initializer=cn.init.Xavier(magnitude=2.0), num_epoch=8, progress_bar=False)
    return mod


def test_fit_reaches_95_percent_on_digits(trained, digits):
    _, _, xv, yv = digits
    acc = dict(trained.score(cn.io.NDArrayIter(xv, yv, 50), "acc"))["accuracy"]
    assert acc >= 0.95


def test_predict_trims_padding_and_matches_score(trained, digits):
    _, _, xv, yv = digits
    probs = trained.predict(cn.io.NDArrayIter(xv, yv, 32))  # 400 = 12 batches + 16 padded
    assert probs.shape == (400, 10)
    np.testing.assert_allclose(probs.asnumpy().sum(axis=1), 1, rtol=1e-5)


def test_checkpoint_round_trip_gives_identical_predictions(trained, digits, tmp_path):
    _, _, xv, yv = digits
    prefix = str(tmp_path / "mlp")
    trained.save_checkpoint(prefix, 3)
    before = trained.predict(cn.io.NDArrayIter(xv, yv, 50)).asnumpy()
    loaded = cn.mod.Module.load(prefix, 3)
    loaded.bind([("data", (50, 1, 8, 8))], for_training=False)
    loaded.init_params()
    after = loaded.predict(cn.io.NDArrayIter(xv, yv, 50)).asnumpy()
    np.testing.assert_array_equal(before, after)
    sym, arg, aux = cn.model.load_checkpoint(prefix, 3)
    assert set(arg) == set(trained.get_params()[0])


def test_interrupted_checkpoint_write_keeps_the_old_file(trained, tmp_path, monkeypatch):
    prefix = str(tmp_path / "mlp")
    trained.save_checkpoint(prefix, 1)
    path = f"{prefix}-0001.params"
    good = open(path, "rb").read()

    def crash(f, arrays, names, where):
        f.write(b"\x12\x01\x00\x00partial")
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(mxnet_format, "_write_list", crash)
    with pytest.raises(KeyboardInterrupt):
        trained.save_checkpoint(prefix, 1)
    assert open(path, "rb").read() == good
    assert sorted(os.listdir(tmp_path)) == ["mlp-0001.params", "mlp-symbol.json"]


def test_module_bad_input(digits):
    x, y, _, _ = digits
    sym = cn.model_zoo.get_symbol("mlp", num_classes=10)
    expect_error(lambda: cn.mod.Module(sym, data_names=["image"]), "image", "arguments")
    mod = cn.mod.Module(sym)
    mod.bind([("data", (32, 1, 8, 8))], [("softmax_label", (32,))])
    mod.init_params()
    bad = cn.io.DataBatch([cn.nd.zeros((32, 64))], [cn.nd.zeros(32)])
    expect_error(lambda: mod.forward(bad), "data", "(32, 1, 8, 8)", "(32, 64)")
    expect_error(lambda: mod.update(), "init_optimizer")
    expect_error(lambda: mod.init_params(arg_params={"fc1_weight": np.zeros((3, 3))},
                                         force_init=True), "fc1_weight", "(128, 64)", "(3, 3)")
    expect_error(lambda: mod.init_params(arg_params={"fc1_weight": np.zeros((128, 64))},
                                         force_init=True), "fc1_bias", "missing")
    expect_error(lambda: cn.model_zoo.get_symbol("resnet7"), "resnet7", "lenet")


def test_model_zoo_shapes_and_resnet50_parameter_count():
    for name in cn.model_zoo.list_models():
        if name == "lstm_lm":  # a text model (ids in, per-token outputs): tests/test_lstm_lm.py
            continue
        shape = (2, 1, 8, 8) if name in ("mlp", "lenet") else (2, 3, 32, 32)
        _, out, _ = cn.model_zoo.get_symbol(name, num_classes=7).infer_shape(data=shape)
        assert out == [(2, 7)], name
    lines = []
    total = cn.viz.print_summary(cn.model_zoo.get_symbol("resnet50", num_classes=1000),
                                 {"data": (1, 3, 224, 224)}, print_fn=lines.append)
    assert total == 25_557_032  # torchvision's resnet50 has the same count
    assert any("stage4_unit3_out" in line and "(1, 2048, 7, 7)" in line for line in lines)
    dot = cn.viz.plot_network(cn.model_zoo.get_symbol("lenet"), shape={"data": (1, 1, 8, 8)})
    dot = dot if isinstance(dot, str) else dot.source  # a graphviz.Digraph when installed
    assert dot.startswith("digraph") and "Convolution" in dot and "20x8x8" in dot


def run_cli(*args, cwd):
    # The package this test imported, also when it runs from a source checkout.
    root = os.path.dirname(os.path.dirname(os.path.abspath(cn.__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "coarsenet", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd, env=env)


def test_cli_train_and_summary(tmp_path):
    out = run_cli("train", "--model", "mlp", "--epochs", "3", "--no-progress", "--out",
                  str(tmp_path / "ck" / "mlp"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "epoch   3/3" in out.stdout and "val-acc" in out.stdout
    assert (tmp_path / "ck" / "mlp-0003.params").exists()
    out = run_cli("summary", "--model", "resnet18", "--shape", "1,3,64,64", cwd=tmp_path)
    assert out.returncode == 0 and "Total params" in out.stdout


def test_cli_user_data_and_errors(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 1, 4, 4)).astype(np.float32)
    y = (x.reshape(120, -1).sum(axis=1) > 0).astype(np.float32)
    np.savez(tmp_path / "mine.npz", x=x, y=y)
    out = run_cli("train", "--model", "mlp", "--epochs", "2", "--no-progress", "--data",
                  str(tmp_path / "mine.npz"), "--out", str(tmp_path / "m"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    np.savez(tmp_path / "bad.npz", x=x, y=y[:10])
    out = run_cli("train", "--data", str(tmp_path / "bad.npz"), cwd=tmp_path)
    assert out.returncode == 2 and "120 samples" in out.stderr and "10 labels" in out.stderr
    np.savez(tmp_path / "empty.npz", x=x[:0], y=y[:0])
    out = run_cli("train", "--data", str(tmp_path / "empty.npz"), cwd=tmp_path)
    assert out.returncode == 2 and "empty" in out.stderr
    out = run_cli("summary", "--model", "nonet", "--shape", "1,3,8,8", cwd=tmp_path)
    assert out.returncode == 2 and "nonet" in out.stderr


@pytest.mark.parametrize("args,message", [
    (["--epochs", "0"], "--epochs must be an integer >= 1, found 0"),
    (["--epochs", "-1"], "--epochs must be an integer >= 1, found -1"),
    (["--lr", "0"], "--lr must be a finite number > 0, found 0.0"),
    (["--lr", "nan"], "--lr must be a finite number > 0, found nan"),
    (["--batch-size", "0"], "--batch-size must be an integer >= 1"),
    (["--momentum", "1.5"], "--momentum must be in [0, 1)"),
    (["--mirror", "lots"], "--mirror must be 'auto' or a byte budget"),
    (["--data", "missing.npz"], "no such file or folder 'missing.npz'"),
    (["--out", "/proc/no/such/dir/model"], "--out: cannot write checkpoints"),
])
def test_cli_rejects_bad_options_before_any_work(args, message, tmp_path):
    out = run_cli("train", *args, cwd=tmp_path)
    assert out.returncode == 2 and message in out.stderr, out.stderr
    assert "training" not in out.stdout  # nothing ran


def test_cli_out_directory_progress_total_and_mirror_report(tmp_path):
    (tmp_path / "runs").mkdir()
    out = run_cli("train", "--model", "mlp", "--epochs", "1", "--mirror", "auto", "--out",
                  "runs", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "runs" / "model-0001.params").exists()  # written inside the directory
    assert "planned memory:" in out.stdout and "without mirror" in out.stdout
    assert "epoch   1/1" in out.stdout
    assert "epoch 1:" in out.stderr and "/1408" in out.stderr  # the bar: same epoch, a total
    helptext = run_cli("train", "--help", cwd=tmp_path).stdout
    assert "(default: 32)" in helptext and "(default: checkpoints/model)" in helptext
