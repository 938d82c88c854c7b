"""dist_sync kvstore on 2 MPI ranks on localhost (needs the dist extra: mpi4py + MPI)."""
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import expect_error

pytest.importorskip("mpi4py")
MPIEXEC = shutil.which("mpiexec") or os.path.join(os.path.dirname(sys.executable), "mpiexec")
HERE = os.path.dirname(os.path.abspath(__file__))
# The workers run in HERE: they must import the coarsenet these tests import, also when it comes
# from a relative PYTHONPATH (`PYTHONPATH=. pytest tests` in a checkout).
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(
    [os.path.dirname(os.path.dirname(os.path.abspath(cn.__file__))),
     os.environ.get("PYTHONPATH", "")]))


def mpirun(n, *args, timeout=120):
    cmd = [MPIEXEC, "-n", str(n), sys.executable, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=HERE,
                          env=ENV, check=False)


def test_local_kvstore():
    kv = cn.kvstore.create("local")
    kv.init(3, np.ones(2))
    kv.push(3, [np.ones(2), np.full(2, 2.0)])
    out = np.zeros(2)
    kv.pull(3, out=out)
    np.testing.assert_array_equal(out, [3.0, 3.0])
    expect_error(lambda: kv.pull(9, out=out), "never initialized")
    expect_error(lambda: cn.kvstore.create("dist_async"), "dist_async")


def test_two_ranks_reduce_broadcast_and_metrics(tmp_path):
    result = mpirun(2, "kvstore_worker.py", "reduce", str(tmp_path))
    assert result.returncode == 0, result.stderr
    rows = [json.loads((tmp_path / f"reduce-{r}.json").read_text()) for r in (0, 1)]
    assert [r["rank"] for r in rows] == [0, 1]
    assert rows[1]["before"] == 2.0
    for r in rows:
        assert r["after_init"] == [1.0, 1.0]  # rank 0's parameters everywhere
        assert r["sums"] == [3.0, [0.0, 3.0, 6.0], 2.0]  # sums over both ranks
        assert r["metric"] == pytest.approx(0.75)  # 3 of 4 samples right, over both ranks


def test_failing_rank_ends_the_job_quickly():
    start = time.time()
    result = mpirun(2, "kvstore_worker.py", "fail", timeout=90)
    assert time.time() - start < 60
    assert result.returncode != 0
    assert "deliberate failure on rank 1" in result.stderr
    assert "should not get here" not in result.stdout


def load(path):
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


@pytest.mark.parametrize("mode", ["module", "trainer"])
def test_two_ranks_of_16_equal_one_process_of_32(mode, tmp_path):
    result = mpirun(2, "train_worker.py", mode, str(tmp_path))
    assert result.returncode == 0, result.stderr
    result = subprocess.run([sys.executable, "train_worker.py", mode, str(tmp_path), "single"],
                            capture_output=True, text=True, timeout=120, cwd=HERE, env=ENV,
                            check=False)
    assert result.returncode == 0, result.stderr
    ranks = [load(tmp_path / f"{mode}-{r}.npz") for r in (0, 1)]
    single = load(tmp_path / f"{mode}-single.npz")
    assert not np.allclose(ranks[0]["before"], ranks[1]["before"])  # different seeds per rank
    # Module broadcasts in init_optimizer, Trainer when it is made
    np.testing.assert_array_equal(ranks[0]["after_init"], ranks[1]["after_init"])
    keys = [k for k in single if k not in ("before", "after_init")]
    for k in keys:
        np.testing.assert_array_equal(ranks[0][k], ranks[1][k])
        np.testing.assert_allclose(ranks[0][k], single[k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_cli_trains_under_mpiexec(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.abspath(cn.__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    cmd = [MPIEXEC, "-n", "2", sys.executable, "-m", "coarsenet", "train", "--model", "mlp",
           "--epochs", "2", "--kvstore", "dist_sync", "--no-progress", "--out",
           str(tmp_path / "mlp")]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("epoch   2/2") == 1  # only rank 0 reports
    assert (tmp_path / "mlp-0002.params").exists()
