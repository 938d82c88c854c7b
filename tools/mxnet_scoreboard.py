"""Scoreboard: MXNet 1.9.1 example scripts run with real MXNet and through `python -m coarsenet run`.

    python tools/mxnet_scoreboard.py [--mxnet-src DIR] [--mxnet-python PY] [--only NAME ...]

Each script runs unchanged, in a scratch copy of its directory (scripts write logs and
checkpoints next to themselves), with small arguments so one run takes seconds. Data the scripts
would download is replaced by small synthetic files of the same format placed where the script
looks (the "locally placed data" case). Prints one row per script: pass/FAIL with each runtime and
the last line of the error, then the totals.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# put on PYTHONPATH of real-MXNet runs only (see its docstring)
LOCAL_DATA_SHIM = os.path.join(REPO, "tools", "mxnet_local_data")


def _write_idx(path: str, array) -> None:
    """An MNIST idx file (big-endian dims after a magic naming the type and rank)."""
    import numpy as np

    array = np.ascontiguousarray(array, dtype=np.uint8)
    with open(path, "wb") as f:
        f.write(bytes([0, 0, 0x08, array.ndim]))
        f.write(np.array(array.shape, dtype=">i4").tobytes())
        f.write(array.tobytes())


def synthetic_mnist(workdir: str, train: int = 1000, test: int = 200) -> None:
    """Small learnable MNIST-format files in workdir/data (MXNet's example/module layout): each
    class lights a different band of rows, plus noise."""
    import numpy as np

    rng = np.random.default_rng(0)
    data = os.path.join(workdir, "data")
    os.makedirs(data, exist_ok=True)
    for prefix, n in (("train", train), ("t10k", test)):
        labels = rng.integers(0, 10, size=n)
        images = rng.integers(0, 60, size=(n, 28, 28))
        for i, c in enumerate(labels):
            images[i, 2 + 2 * c: 4 + 2 * c, 4:24] = 255
        _write_idx(os.path.join(data, f"{prefix}-images-idx3-ubyte"), images)
        _write_idx(os.path.join(data, f"{prefix}-labels-idx1-ubyte"), labels)


def _gzip_into(src_dir: str, dst_dir: str) -> None:
    import gzip

    os.makedirs(dst_dir, exist_ok=True)
    for name in os.listdir(src_dir):
        with open(os.path.join(src_dir, name), "rb") as src, \
                gzip.open(os.path.join(dst_dir, name + ".gz"), "wb") as dst:
            shutil.copyfileobj(src, dst)


def mnist_everywhere(workdir: str, train: int = 1000, test: int = 200) -> None:
    """Synthetic MNIST where each MXNet loader looks: raw idx files in data/ (mx.io.MNISTIter,
    test_utils.get_mnist_iterator), .gz in data/ (image-classification/train_mnist.py), .gz in
    the working directory (test_utils.get_mnist) and in $HOME/.mxnet/datasets/mnist
    (gluon.data.vision.MNIST; HOME is the run's scratch home)."""
    synthetic_mnist(workdir, train, test)
    data = os.path.join(workdir, "data")
    _gzip_into(data, data)
    _gzip_into(data, workdir)
    _gzip_into(data, os.path.join(os.environ["HOME"], ".mxnet", "datasets", "mnist"))


def sentences_text(workdir: str, names=("sherlockholmes.train.txt", "sherlockholmes.test.txt"),
                   lines: int = 200) -> None:
    """Small word-level text files in data/ (a 50-word vocabulary, sentences of 3-20 words)."""
    import numpy as np

    rng = np.random.default_rng(1)
    vocab = [f"w{i}" for i in range(50)]
    os.makedirs(os.path.join(workdir, "data"), exist_ok=True)
    for name in names:
        with open(os.path.join(workdir, "data", name), "w", encoding="utf-8") as f:
            for _ in range(lines):
                # the Penn Treebank layout of MXNet's text files: " w w w \n"
                f.write(" " + " ".join(rng.choice(vocab, size=rng.integers(3, 20))) + " \n")


def cifar10_rec_placeholders(workdir: str) -> None:
    """train_cifar10.py fetches its .rec files before it parses --benchmark; with --benchmark 1
    they are never read, so empty files where it looks keep it offline."""
    os.makedirs(os.path.join(workdir, "data"), exist_ok=True)
    for name in ("cifar10_train.rec", "cifar10_val.rec"):
        open(os.path.join(workdir, "data", name), "wb").close()


# name: (script path under example/, arguments, setup(workdir) or None).
# Left out, with why: module/sequential_module.py and profiler/profiler_matmul.py make GPU
# contexts (GPU-only); module/python_loss.py needs numba; profiler/profiler_executor.py imports
# `memonger` (example/memcost, not in the 1.9.1 tree); scripts that only download data
# (gluon/dc_gan, super_resolution, ...) and sparse/ are out of the scope;
# bayesian-methods toy data is a download; nce-loss toy_* run 20 fixed epochs (minutes);
# rnn/word_lm and rnn/old make GPU contexts; gluon/dc_gan needs cv2; the
# restricted-boltzmann-machine scripts run minutes even when small and call plt.show(block).
SCRIPTS = {
    "lstm_crf": ("gluon/lstm_crf/lstm_crf.py", [], None),
    "bdk_synthetic_sgld": ("bayesian-methods/bdk_demo.py", ["-d", "2"], None),
    "lipnet_beamsearch": ("gluon/lipnet/tests/test_beamsearch.py", [], None),
    "module_mnist_mlp": ("module/mnist_mlp.py", [], synthetic_mnist),
    "stochastic_depth_mnist": ("stochastic-depth/sd_mnist.py", [],
                               lambda work: synthetic_mnist(work, 500, 200)),
    # a CustomOp whose infer_shape fills the label's shape from the data's
    "numpy_ops_weighted_lr": ("numpy-ops/weighted_logistic_regression.py", [], None),
    "numpy_ops_custom_softmax": ("numpy-ops/custom_softmax.py", [],
                                 lambda work: synthetic_mnist(work, 300, 100)),
    "ic_train_mnist_mlp": ("image-classification/train_mnist.py",
                           ["--network", "mlp", "--num-epochs", "1", "--num-examples", "1000",
                            "--batch-size", "100"], mnist_everywhere),
    "ic_train_mnist_lenet": ("image-classification/train_mnist.py",
                             ["--network", "lenet", "--num-epochs", "1", "--num-examples", "1000",
                              "--batch-size", "100"], mnist_everywhere),
    "ic_cifar10_resnet_synth": ("image-classification/train_cifar10.py",
                                ["--benchmark", "1", "--network", "resnet", "--num-layers", "20",
                                 "--num-examples", "128", "--batch-size", "32",
                                 "--num-epochs", "1"], cifar10_rec_placeholders),
    "ic_imagenet_resnet_synth": ("image-classification/train_imagenet.py",
                                 ["--benchmark", "1", "--network", "resnet", "--num-layers", "18",
                                  "--image-shape", "3,64,64", "--num-examples", "32",
                                  "--batch-size", "16", "--num-epochs", "1"], None),
    "gluon_mnist": ("gluon/mnist/mnist.py", ["--epochs", "1"], mnist_everywhere),
    "gluon_ic_dummy_resnet": ("gluon/image_classification.py",
                              ["--dataset", "dummy", "--model", "mobilenet0.25", "--epochs", "1",
                               "--batch-size", "2", "-j", "0"], None),
    "profiler_ndarray": ("profiler/profiler_ndarray.py", [], None),
    "svrg_api_train": ("svrg_module/api_usage_example/example_api_train.py", ["-e", "2"], None),
    "svrg_inference": ("svrg_module/api_usage_example/example_inference.py", ["-e", "2"], None),
    "dsd_mlp": ("dsd/mlp.py", ["--pruning_switch_epoch", "1,2", "--weight_sparsity", "0,50",
                               "--bias_sparsity", "0,50"], synthetic_mnist),
    "rnn_lstm_bucketing": ("rnn/bucketing/lstm_bucketing.py",
                           ["--num-epochs", "1", "--num-hidden", "16", "--num-embed", "16",
                            "--num-layers", "1"], sentences_text),
    "ic_benchmark_score": ("image-classification/benchmark_score.py",
                           ["--network", "mobilenet", "--batch-size", "2"], None),
}


# Tutorials run block by block (tools/mxnet_tutorial_blocks.py); paths under
# docs/python_docs/python/tutorials/.
TUTORIALS = [f"getting-started/crash-course/{n}.md" for n in
             ("1-ndarray", "2-nn", "3-autograd", "4-train")] + [
    f"packages/gluon/blocks/{n}.md" for n in
    ("activations/activations", "custom-layer", "custom_layer_beginners", "hybridize", "init",
     "naming", "nn", "parameters", "save_load_params")]


def run_tutorials(python: list[str], tutorial_dir: str, timeout: float, alias: bool) -> dict:
    """{file: (blocks, passed, failures)} for every tutorial, run in a scratch directory."""
    runner = os.path.join(REPO, "tools", "mxnet_tutorial_blocks.py")
    files = [os.path.join(tutorial_dir, t) for t in TUTORIALS]
    with tempfile.TemporaryDirectory(prefix="mxtut_") as tmp:
        # the tutorials' MNIST / FashionMNIST: small synthetic files in a scratch HOME (same
        # for both; MXNet's SHA-1 check of the published files accepts them via the shim)
        home = os.path.join(tmp, "home")
        synthetic_mnist(os.path.join(tmp, "raw"), train=600, test=200)
        for name in ("mnist", "fashion-mnist"):
            _gzip_into(os.path.join(tmp, "raw", "data"),
                       os.path.join(home, ".mxnet", "datasets", name))
        path = [REPO] + ([] if alias else [LOCAL_DATA_SHIM])
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(path), MPLBACKEND="Agg", HOME=home)
        flag = ["--coarsenet"] if alias else []
        p = subprocess.run(python + [runner, *flag, *files], cwd=tmp, env=env, timeout=timeout,
                           check=False, capture_output=True, text=True)
    rows = [json.loads(ln[len("@@RESULT "):]) for ln in p.stdout.splitlines()
            if ln.startswith("@@RESULT ")]
    return {os.path.relpath(r["file"], tutorial_dir): (r["blocks"], r["passed"], r["failures"])
            for r in rows}


def run_one(python: list[str], example_dir: str, rel: str, args: list[str], setup,
            timeout: float, real_mxnet: bool = False) -> tuple[bool, float, str]:
    import time

    src_dir = os.path.dirname(os.path.join(example_dir, rel))
    with tempfile.TemporaryDirectory(prefix="mxscore_") as tmp:
        work = os.path.join(tmp, "w")
        home = os.path.join(tmp, "home")
        os.makedirs(home)
        shutil.copytree(src_dir, work, ignore=shutil.ignore_patterns("*.params", ".git"))
        if setup is not None:
            old_home = os.environ.get("HOME")
            os.environ["HOME"] = home  # setups place dataset files under the run's home
            try:
                setup(work)
            finally:
                os.environ["HOME"] = old_home or ""
        script = os.path.join(work, os.path.basename(rel))
        path = [REPO, os.path.dirname(src_dir)] + ([LOCAL_DATA_SHIM] if real_mxnet else [])
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(path), MPLBACKEND="Agg", HOME=home)
        start = time.time()
        try:
            p = subprocess.run(python + [script] + args, cwd=work, env=env, timeout=timeout,
                               check=False, capture_output=True, text=True)
        except subprocess.TimeoutExpired:
            return False, time.time() - start, f"timeout after {timeout:.0f}s"
        took = time.time() - start
        lines = [ln for ln in (p.stderr or "").strip().splitlines() if ln.strip()]
        return p.returncode == 0, took, (lines[-1] if lines and p.returncode else "")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mxnet-src", default=os.environ.get("MXNET_SRC", "/work/mxnet-1.9.1"))
    ap.add_argument("--mxnet-python", default="/work/mxvenv/bin/python",
                    help="a Python with real MXNet; '' skips that column")
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--no-tutorials", action="store_true")
    ap.add_argument("--no-coarsenet", action="store_true", help="only the real MXNet column")
    ap.add_argument("--coarsenet-python", default=sys.executable,
                    help="the Python that runs coarsenet; MXNet 1.9.1's scripts use NumPy names "
                         "removed in NumPy 1.24-2.0 (np.int, binary fromstring), so a fair "
                         "comparison gives it the NumPy of the MXNet environment (1.23)")
    a = ap.parse_args(argv)
    example_dir = os.path.join(a.mxnet_src, "example")
    if not os.path.isdir(example_dir):
        print(f"no MXNet source at {a.mxnet_src} (set --mxnet-src or MXNET_SRC)")
        return 1
    names = a.only or list(SCRIPTS)
    totals = {"mxnet": 0, "coarsenet": 0}
    runners = {"coarsenet": [a.coarsenet_python, "-m", "coarsenet", "run"]}
    if a.mxnet_python:
        runners = {"mxnet": [a.mxnet_python], **runners}
    if a.no_coarsenet:
        del runners["coarsenet"]
    for name in names:
        rel, args, setup = SCRIPTS[name]
        row = [f"{name:22s}"]
        for who, python in runners.items():
            ok, took, err = run_one(python, example_dir, rel, args, setup, a.timeout,
                                    real_mxnet=who == "mxnet")
            totals[who] += ok
            status = "pass" if ok else "FAIL"
            row.append(f"{who} {status} {took:6.1f}s" + ("" if ok else f" ({err[:120]})"))
        print("  ".join(row), flush=True)
    print("scripts: " + " | ".join(f"{who}: {totals[who]}/{len(names)}" for who in runners))
    tutorial_dir = os.path.join(a.mxnet_src, "docs", "python_docs", "python", "tutorials")
    if a.no_tutorials or not os.path.isdir(tutorial_dir):
        return 0
    tutorial_runners = {"coarsenet": [a.coarsenet_python], "mxnet": [a.mxnet_python]}
    if not a.mxnet_python:
        del tutorial_runners["mxnet"]
    results = {who: run_tutorials(py, tutorial_dir, a.timeout, alias=who == "coarsenet")
               for who, py in tutorial_runners.items()}
    for t in TUTORIALS:
        row = [f"{t:45s}"]
        for who in tutorial_runners:
            blocks, passed, _ = results[who].get(t, (0, 0, []))
            row.append(f"{who} {passed:3d}/{blocks:<3d}")
        print("  ".join(row))
        for who in tutorial_runners:
            for index, err in results[who].get(t, (0, 0, []))[2]:
                print(f"    {who} block {index}: {err[:110]}")
    print("tutorial blocks: " + " | ".join(
        f"{who}: {sum(r[1] for r in res.values())}/{sum(r[0] for r in res.values())}"
        for who, res in results.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
