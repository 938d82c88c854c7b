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


# name: (script path under example/, arguments, setup(workdir) or None)
SCRIPTS = {
    "lstm_crf": ("gluon/lstm_crf/lstm_crf.py", [], None),
    "bdk_synthetic_sgld": ("bayesian-methods/bdk_demo.py", ["-d", "2"], None),
    "lipnet_beamsearch": ("gluon/lipnet/tests/test_beamsearch.py", [], None),
    "module_mnist_mlp": ("module/mnist_mlp.py", [], synthetic_mnist),
    # a user BaseModule subclass (StochasticDepthModule) chained in a SequentialModule
    "stochastic_depth_mnist": ("stochastic-depth/sd_mnist.py", [],
                               lambda work: synthetic_mnist(work, 500, 200)),
    # a CustomOp whose infer_shape fills the label's shape from the data's
    "numpy_ops_weighted_lr": ("numpy-ops/weighted_logistic_regression.py", [], None),
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
    env = dict(os.environ, PYTHONPATH=REPO, MPLBACKEND="Agg")
    with tempfile.TemporaryDirectory(prefix="mxtut_") as tmp:
        flag = ["--coarsenet"] if alias else []
        p = subprocess.run(python + [runner, *flag, *files], cwd=tmp, env=env, timeout=timeout,
                           check=False, capture_output=True, text=True)
    rows = [json.loads(ln[len("@@RESULT "):]) for ln in p.stdout.splitlines()
            if ln.startswith("@@RESULT ")]
    return {os.path.relpath(r["file"], tutorial_dir): (r["blocks"], r["passed"], r["failures"])
            for r in rows}


def run_one(python: list[str], example_dir: str, rel: str, args: list[str], setup,
            timeout: float) -> tuple[bool, float, str]:
    import time

    src_dir = os.path.dirname(os.path.join(example_dir, rel))
    with tempfile.TemporaryDirectory(prefix="mxscore_") as tmp:
        work = os.path.join(tmp, "w")
        shutil.copytree(src_dir, work, ignore=shutil.ignore_patterns("*.params", ".git"))
        if setup is not None:
            setup(work)
        script = os.path.join(work, os.path.basename(rel))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, os.path.dirname(src_dir)]),
                   MPLBACKEND="Agg")
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
    a = ap.parse_args(argv)
    example_dir = os.path.join(a.mxnet_src, "example")
    if not os.path.isdir(example_dir):
        print(f"no MXNet source at {a.mxnet_src} (set --mxnet-src or MXNET_SRC)")
        return 1
    names = a.only or list(SCRIPTS)
    totals = {"mxnet": 0, "coarsenet": 0}
    runners = {"coarsenet": [sys.executable, "-m", "coarsenet", "run"]}
    if a.mxnet_python:
        runners = {"mxnet": [a.mxnet_python], **runners}
    for name in names:
        rel, args, setup = SCRIPTS[name]
        row = [f"{name:22s}"]
        for who, python in runners.items():
            ok, took, err = run_one(python, example_dir, rel, args, setup, a.timeout)
            totals[who] += ok
            status = "pass" if ok else "FAIL"
            row.append(f"{who} {status} {took:6.1f}s" + ("" if ok else f" ({err[:120]})"))
        print("  ".join(row), flush=True)
    print("scripts: " + " | ".join(f"{who}: {totals[who]}/{len(names)}" for who in runners))
    tutorial_dir = os.path.join(a.mxnet_src, "docs", "python_docs", "python", "tutorials")
    if a.no_tutorials or not os.path.isdir(tutorial_dir):
        return 0
    tutorial_runners = {"coarsenet": [sys.executable], "mxnet": [a.mxnet_python]}
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
        fails = results.get("coarsenet", {}).get(t, (0, 0, []))[2]
        for index, err in fails:
            print(f"    coarsenet block {index}: {err[:110]}")
    print("tutorial blocks: " + " | ".join(
        f"{who}: {sum(r[1] for r in res.values())}/{sum(r[0] for r in res.values())}"
        for who, res in results.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
