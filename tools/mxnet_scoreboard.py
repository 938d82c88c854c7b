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
import gzip
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _fake_mnist(data_dir: str, n_train: int = 600, n_test: int = 100) -> None:
    """MNIST's idx files (gzip), filled with random digits: the format gluon's MNIST reads."""
    os.makedirs(data_dir, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        with gzip.open(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte.gz"), "wb") as f:
            f.write(struct.pack(">IIII", 2051, n, 28, 28) + images.tobytes())
        with gzip.open(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte.gz"), "wb") as f:
            f.write(struct.pack(">II", 2049, n) + labels.tobytes())


# name: (script path under example/, arguments, setup(workdir) or None)
SCRIPTS = {
    "lstm_crf": ("gluon/lstm_crf/lstm_crf.py", [], None),
    "bdk_toy_sgld": ("bayesian-methods/bdk_demo.py", ["-d", "0", "-l", "1"], None),
    "bdk_toy_distilled": ("bayesian-methods/bdk_demo.py", ["-d", "0", "-l", "2"], None),
    "bdk_synthetic_sgld": ("bayesian-methods/bdk_demo.py", ["-d", "2"], None),
    "gluon_mnist": ("gluon/mnist/mnist.py", ["--epochs", "1", "--batch-size", "100"],
                    lambda d: _fake_mnist(os.path.join(d, "data"))),
    "lipnet_beamsearch": ("gluon/lipnet/tests/test_beamsearch.py", [], None),
}


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
    print(" | ".join(f"{who}: {totals[who]}/{len(names)}" for who in runners))
    return 0


if __name__ == "__main__":
    sys.exit(main())
