"""MXNet 1.9.1's own tutorials and example scripts, unchanged, through coarsenet.

Reads them from an MXNet source checkout named by the MXNET_SRC environment variable (nothing of
MXNet is vendored here); without one these tests skip. tools/mxnet_scoreboard.py runs the full
list against real MXNet too. The always-running tests exercise the same API directly
(test_compat.py, test_mxnet_call_forms.py, test_mxnet_extension_points.py, ...)."""
import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.environ.get("MXNET_SRC", "")
TUTORIALS = os.path.join(SRC, "docs", "python_docs", "python", "tutorials")
pytestmark = pytest.mark.skipif(
    not SRC or not os.path.isdir(TUTORIALS),
    reason="set MXNET_SRC to an Apache MXNet 1.9.1 source tree (git tag 1.9.1) to run MXNet's "
           "own tutorials and examples through coarsenet")

# Tutorials whose every block runs with coarsenet (and, where the environment allows, MXNet).
PASSING_TUTORIALS = ["getting-started/crash-course/1-ndarray.md",
                     "getting-started/crash-course/2-nn.md",
                     "getting-started/crash-course/3-autograd.md",
                     "packages/gluon/blocks/activations/activations.md",
                     "packages/gluon/blocks/custom-layer.md",
                     "packages/gluon/blocks/nn.md"]


@pytest.mark.parametrize("tutorial", PASSING_TUTORIALS)
def test_tutorial_runs_block_by_block(tutorial, tmp_path):
    pytest.importorskip("matplotlib")  # the activations tutorial plots
    runner = os.path.join(REPO, "tools", "mxnet_tutorial_blocks.py")
    p = subprocess.run([sys.executable, runner, "--coarsenet", os.path.join(TUTORIALS, tutorial)],
                       cwd=tmp_path, env=dict(os.environ, PYTHONPATH=REPO, MPLBACKEND="Agg"),
                       check=False, capture_output=True, text=True, timeout=300)
    results = [json.loads(ln[len("@@RESULT "):]) for ln in p.stdout.splitlines()
               if ln.startswith("@@RESULT ")]
    assert len(results) == 1, p.stderr[-2000:]
    assert results[0]["blocks"] > 0 and results[0]["failures"] == []


def test_example_script_runs_unchanged(tmp_path):
    example = os.path.join(SRC, "example", "gluon", "lipnet")
    script = os.path.join(example, "tests", "test_beamsearch.py")
    p = subprocess.run([sys.executable, "-m", "coarsenet", "run", script], cwd=tmp_path,
                       env=dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, example])),
                       check=False, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]


@pytest.mark.parametrize("folder,script,expect", [
    # Module's own loop, fit, iter_predict, predict and score
    ("module", "mnist_mlp.py", "validation Accuracy:"),
    # a user BaseModule subclass (StochasticDepthModule) inside a SequentialModule
    ("stochastic-depth", "sd_mnist.py", "Epoch[1] Validation-accuracy"),
])
def test_module_examples_run_unchanged(folder, script, expect, tmp_path):
    """example scripts of the Module family on small MNIST-format files placed where they
    look (no download)."""
    import shutil

    sys.path.insert(0, os.path.join(REPO, "tools"))
    from mxnet_scoreboard import synthetic_mnist

    work = tmp_path / folder
    shutil.copytree(os.path.join(SRC, "example", folder), work)
    synthetic_mnist(str(work), train=500, test=200)
    p = subprocess.run([sys.executable, "-m", "coarsenet", "run", str(work / script)],
                       cwd=work, env=dict(os.environ, PYTHONPATH=REPO), check=False,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert expect in p.stdout + p.stderr and "Epoch[1] Validation-accuracy" in p.stderr


def test_profiler_tutorial_runs_block_by_block(tmp_path):
    """performance/backend/profiler.md, every block, with small MNIST-format files placed
    where gluon.data.vision.MNIST looks (HOME is a scratch folder: no download)."""
    import gzip
    import shutil

    sys.path.insert(0, os.path.join(REPO, "tools"))
    from mxnet_scoreboard import synthetic_mnist

    synthetic_mnist(str(tmp_path / "raw"), train=256, test=64)
    mnist = tmp_path / "home" / ".mxnet" / "datasets" / "mnist"
    mnist.mkdir(parents=True)
    for f in (tmp_path / "raw" / "data").iterdir():
        with open(f, "rb") as src, gzip.open(mnist / (f.name + ".gz"), "wb") as dst:
            shutil.copyfileobj(src, dst)
    runner = os.path.join(REPO, "tools", "mxnet_tutorial_blocks.py")
    tutorial = os.path.join(TUTORIALS, "performance", "backend", "profiler.md")
    p = subprocess.run([sys.executable, runner, "--coarsenet", tutorial], cwd=tmp_path,
                       env=dict(os.environ, PYTHONPATH=REPO, MPLBACKEND="Agg",
                                HOME=str(tmp_path / "home")),
                       check=False, capture_output=True, text=True, timeout=300)
    results = [json.loads(ln[len("@@RESULT "):]) for ln in p.stdout.splitlines()
               if ln.startswith("@@RESULT ")]
    assert len(results) == 1, p.stderr[-2000:]
    assert results[0]["blocks"] == 11 and results[0]["failures"] == []
    assert "_backward_Convolution" in p.stdout  # the training step's backward was timed
    trace = json.loads((tmp_path / "profile_output.json").read_text())
    assert any(e["ph"] == "X" and e["dur"] >= 0 for e in trace["traceEvents"])


# Scripts of tools/mxnet_scoreboard.py that run on the suite's NumPy (2.x): each unchanged,
# in a scratch copy of its folder, with the scoreboard's small arguments and placed data.
SCOREBOARD_SCRIPTS = ["gluon_mnist", "svrg_api_train", "ic_imagenet_resnet_synth",
                      "ic_benchmark_score", "rnn_lstm_bucketing", "profiler_ndarray"]


@pytest.mark.parametrize("name", SCOREBOARD_SCRIPTS)
def test_scoreboard_script_runs_unchanged(name):
    sys.path.insert(0, os.path.join(REPO, "tools"))
    import mxnet_scoreboard as board

    rel, args, setup = board.SCRIPTS[name]
    ok, _, err = board.run_one([sys.executable, "-m", "coarsenet", "run"],
                               os.path.join(SRC, "example"), rel, args, setup, timeout=300)
    assert ok, err
