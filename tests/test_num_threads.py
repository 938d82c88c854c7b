"""Thread count control (issue 20): cn.set_num_threads at run time, OMP_NUM_THREADS and
MXNET_CPU_WORKER_NTHREADS at import, single-threaded BLAS inside parallel kernel loops, and
results that do not depend on the thread count (same bits)."""
import os
import subprocess
import sys

import numpy as np
import pytest

import coarsenet as cn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def restore_threads():
    before = cn.get_num_threads()
    yield
    cn.set_num_threads(before)


def info_in_subprocess(**env):
    """cn.thread_info() and the warnings of a fresh interpreter importing coarsenet with `env`."""
    full = {k: v for k, v in os.environ.items()
            if k not in ("OMP_NUM_THREADS", "MXNET_CPU_WORKER_NTHREADS")}
    full.update(env)
    full["PYTHONPATH"] = os.pathsep.join([ROOT, full.get("PYTHONPATH", "")])
    code = ("import warnings; warnings.simplefilter('always')\n"
            "import coarsenet as cn; i = cn.thread_info()\n"
            "print(i['num_threads'], i['omp_max_threads'], i['blas_threads'])")
    r = subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True,
                       timeout=120, check=True)
    return [int(v) for v in r.stdout.split()], r.stderr


def test_set_num_threads_takes_effect_in_openmp_and_blas(restore_threads):
    for n in (1, 3, 2):
        cn.set_num_threads(n)
        info = cn.thread_info()
        assert cn.get_num_threads() == n
        assert info["num_threads"] == info["omp_max_threads"] == info["blas_threads"] == n
        assert info["parallel_team"] == n  # a kernel's parallel loop gets all of them
        # ... and a GEMM inside that loop runs on one thread, never n x n threads.
        assert info["blas_threads_in_parallel"] == 1


@pytest.mark.parametrize("bad", [0, -2, 1.5, "2", True, None])
def test_set_num_threads_rejects_what_is_not_a_positive_integer(bad, restore_threads):
    before = cn.get_num_threads()
    with pytest.raises(cn.CoarsenetError, match="set_num_threads: expected an integer >= 1"):
        cn.set_num_threads(bad)
    assert cn.get_num_threads() == before


def test_environment_sets_the_count_at_import():
    assert info_in_subprocess(OMP_NUM_THREADS="1")[0] == [1, 1, 1]
    assert info_in_subprocess(MXNET_CPU_WORKER_NTHREADS="3")[0] == [3, 3, 3]
    # OMP_NUM_THREADS is the OpenMP runtime's own setting: it wins over the MXNet-style one.
    assert info_in_subprocess(OMP_NUM_THREADS="2", MXNET_CPU_WORKER_NTHREADS="3")[0] == [2, 2, 2]
    assert info_in_subprocess(OMP_NUM_THREADS="3,1")[0] == [3, 3, 3]  # nested levels: the first


def test_a_bad_environment_value_is_ignored_with_a_warning():
    counts, err = info_in_subprocess(MXNET_CPU_WORKER_NTHREADS="many")
    assert "ignoring MXNET_CPU_WORKER_NTHREADS='many'" in err
    default, _ = info_in_subprocess()
    assert counts == default


def conv_net():
    """Every convolution path: Winograd on a large map and on small maps (batch-spanning
    blocks), im2col column tiles (stride 2), multi-image small maps (5x5), 1x1, depthwise."""
    x = cn.sym.Variable("data")
    x = cn.sym.Convolution(x, num_filter=16, kernel=(3, 3), pad=(1, 1), name="c1")
    x = cn.sym.BatchNorm(x, name="bn1")
    x = cn.sym.Activation(x, act_type="relu")
    x = cn.sym.Convolution(x, num_filter=32, kernel=(3, 3), pad=(1, 1), name="c2")
    x = cn.sym.Convolution(x, num_filter=32, kernel=(3, 3), stride=(2, 2), pad=(1, 1), name="c3")
    x = cn.sym.Convolution(x, num_filter=32, kernel=(3, 3), pad=(1, 1), name="c4")  # 8x8
    x = cn.sym.Convolution(x, num_filter=32, kernel=(3, 3), num_group=32, pad=(1, 1), name="dw")
    x = cn.sym.Convolution(x, num_filter=24, kernel=(1, 1), name="pw")
    x = cn.sym.Convolution(x, num_filter=24, kernel=(4, 4), name="c5")  # 5x5: several images
    x = cn.sym.Activation(x, act_type="relu")
    x = cn.sym.FullyConnected(cn.sym.Flatten(x), num_hidden=10, name="fc")
    return cn.sym.SoftmaxOutput(x, name="softmax")


def train_step(threads, dtype):
    """One forward + backward of conv_net bound and run with `threads` threads."""
    cn.set_num_threads(threads)
    rng = np.random.default_rng(7)
    exe = conv_net().simple_bind(data=(6, 3, 16, 16), softmax_label=(6,),
                                 type_dict={"data": dtype, "softmax_label": dtype})
    for name, arr in exe.arg_dict.items():
        if name == "softmax_label":
            arr[:] = rng.integers(0, 10, arr.shape).astype(dtype)
        else:
            arr[:] = rng.normal(0, 0.5, arr.shape).astype(dtype)
    exe.forward(is_train=True)
    exe.backward()
    return ([o.asnumpy().copy() for o in exe.outputs]
            + [exe.grad_dict[k].asnumpy().copy() for k in sorted(exe.grad_dict)])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_net_step_has_the_same_bits_for_any_thread_count(dtype, restore_threads):
    one = train_step(1, dtype)
    for threads in (2, 3, 5):
        for a, b in zip(one, train_step(threads, dtype), strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("shape, attrs", [
    ((32, 64, 32, 32), {"kernel": "(3, 3)", "pad": "(1, 1)"}),               # Winograd slots
    ((8, 256, 8, 8), {"kernel": "(3, 3)", "pad": "(1, 1)"}),                 # Winograd slabs
    ((16, 32, 64, 64), {"kernel": "(3, 3)", "stride": "(2, 2)", "pad": "(1, 1)"}),  # im2col
    ((256, 64, 16, 16), {"kernel": "(3, 3)", "stride": "(2, 2)"}),          # small maps
])
def test_convolution_workspace_grows_with_the_planned_threads(shape, attrs):
    """Parallel slots each have their own scratch, so 16 threads get more than 4 (the old
    fixed cap): the plan is sized for the count the op is asked with, not capped."""
    num_filter = 256 if shape[1] == 256 else 64
    op = cn._core.Op("Convolution", {"num_filter": str(num_filter), "no_bias": "True", **attrs})
    w = (num_filter, shape[1], 3, 3)
    out = op.infer_shape([shape, w])[1]
    for backward in (False, True):
        sizes = [op.workspace_bytes([shape, w], out, backward, 0, threads=t)
                 for t in (1, 2, 4, 16)]
        assert sizes == sorted(sizes) and sizes[0] < sizes[3], (backward, sizes)
        if not backward:  # a slot's (slab's) scratch per thread
            assert sizes[0] < sizes[2] < sizes[3], sizes
    # What an imperative call (and a bind) asks for: the current thread count.
    assert op.workspace_bytes([shape, w], out, True, 0) == op.workspace_bytes(
        [shape, w], out, True, 0, threads=cn.get_num_threads())


def test_executor_keeps_its_bound_plan_when_the_count_changes(restore_threads):
    """Bound for 4 threads (4 slots of scratch), run with 1 after set_num_threads: the kernels
    still plan for 4 slots, in the workspace they were given, and give the same bits."""
    expected = train_step(1, np.float32)
    cn.set_num_threads(4)
    rng = np.random.default_rng(7)
    exe = conv_net().simple_bind(data=(6, 3, 16, 16), softmax_label=(6,))
    for name, arr in exe.arg_dict.items():
        if name == "softmax_label":
            arr[:] = rng.integers(0, 10, arr.shape).astype(np.float32)
        else:
            arr[:] = rng.normal(0, 0.5, arr.shape).astype(np.float32)
    cn.set_num_threads(1)
    exe.forward(is_train=True)
    exe.backward()
    got = ([o.asnumpy() for o in exe.outputs]
           + [exe.grad_dict[k].asnumpy() for k in sorted(exe.grad_dict)])
    for a, b in zip(expected, got, strict=True):
        np.testing.assert_array_equal(a, b)
