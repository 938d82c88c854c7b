"""Broken op libraries: every failure raises CoarsenetError naming the library (and the op when
there is one), the process survives, and a failed library adds none of its ops."""
import os
import subprocess
import sys

import numpy as np
import pytest

import coarsenet as cn
from coarsenet.testing import expect_error


@pytest.fixture(scope="module")
def healthy(broken_libs):
    names = cn.load_op_library(broken_libs["HEALTHY"])
    assert names == ["PluginDupA", "PluginWorkspaceCopy", "PluginElemsCopy"]
    return broken_libs["HEALTHY"]


def assert_not_registered(*names):
    listed = set(cn.ops.list())
    for name in names:
        assert name not in listed, f"{name} was registered by a library that failed to load"
        assert not hasattr(cn.nd, name)


def test_missing_file():
    expect_error(lambda: cn.load_op_library("/no/such/libops.so"), "/no/such/libops.so",
                 "not found")


def test_not_a_shared_library(tmp_path):
    fake = tmp_path / "libfake.so"
    fake.write_bytes(b"this is not an ELF file")
    expect_error(lambda: cn.load_op_library(fake), str(fake), "cannot load")


def test_missing_entry_point(broken_libs):
    path = broken_libs["NO_ENTRY"]
    expect_error(lambda: cn.load_op_library(path), path, "coarsenet_register_ops",
                 "CN_PLUGIN_MAIN")
    assert_not_registered("PluginFreshFive")


def test_abi_major_mismatch_in_op_table(broken_libs):
    path = broken_libs["ABI_OP"]
    expect_error(lambda: cn.load_op_library(path), path, "PluginFutureAbi",
                 f"ABI {cn._core.ABI_VERSION_MAJOR + 1}")
    assert_not_registered("PluginFreshThree", "PluginFutureAbi")


def test_library_built_for_abi_1_0_loads_and_runs(broken_libs):
    # Its cn_op_def ends before the 1.1 field workspace_elems (whose bytes hold junk): the
    # host must size the workspace through workspace_bytes alone, imperatively and planned.
    assert cn.load_op_library(broken_libs["ABI_1_0"]) == ["PluginAbi10Copy"]
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(cn.nd.PluginAbi10Copy(cn.nd.array(x)).asnumpy(), x)
    exe = cn.sym.PluginAbi10Copy(cn.sym.Variable("data")).simple_bind(grad_req="null",
                                                                       data=(2, 3))
    exe.forward(data=x)
    np.testing.assert_array_equal(exe.outputs[0].asnumpy(), x)
    assert exe.memory_stats()["workspace_bytes"] == x.size * 8  # what the op asked for


def test_abi_major_mismatch_in_entry_point(broken_libs):
    path = broken_libs["ABI_ENTRY"]
    expect_error(lambda: cn.load_op_library(path), path,
                 f"built for coarsenet op ABI {cn._core.ABI_VERSION_MAJOR + 1}")
    assert_not_registered("PluginFreshFour")


def test_duplicate_name_between_plugins(broken_libs, healthy):
    path = broken_libs["DUP_PLUGIN"]
    for _ in range(2):  # a retry fails the same way and still adds nothing
        expect_error(lambda: cn.load_op_library(path), path, "PluginDupA", healthy)
        assert_not_registered("PluginFreshOne")
    assert cn.ops.info("PluginDupA").library == os.path.realpath(healthy)
    x = np.arange(3, dtype=np.float32)
    np.testing.assert_array_equal(cn.nd.PluginDupA(cn.nd.array(x)).asnumpy(), x)


def test_duplicate_name_with_builtin(broken_libs):
    path = broken_libs["DUP_BUILTIN"]
    expect_error(lambda: cn.load_op_library(path), path, "FullyConnected", "built-in")
    assert_not_registered("PluginFreshTwo")
    assert cn.ops.info("FullyConnected").library == ""


def test_loading_a_library_twice_returns_the_same_names(healthy):
    assert cn.load_op_library(healthy) == ["PluginDupA", "PluginWorkspaceCopy", "PluginElemsCopy"]
    assert cn.ops.list().count("PluginDupA") == 1


@pytest.fixture(scope="module")
def throwing(broken_libs):
    path = broken_libs["THROWING"]
    assert sorted(cn.load_op_library(path)) == [
        "PluginBadKernels", "PluginBadShape", "PluginErrorCodes"]
    return path


def test_infer_shape_throws(throwing):
    x = cn.nd.ones((2, 3))
    expect_error(lambda: cn.nd.PluginBadShape(x), "PluginBadShape", throwing,
                 "infer_shape refuses every input")
    op = cn.ops.make("PluginBadShape")
    expect_error(lambda: op.infer_shape([(2, 3)]), "PluginBadShape", throwing)


def test_cpp_exception_in_forward_and_backward(throwing):
    x = np.ones((2, 3), dtype=np.float32)
    expect_error(lambda: cn.nd.PluginBadKernels(cn.nd.array(x)), "PluginBadKernels", throwing,
                 "forward hit a C++ exception")
    op = cn.ops.make("PluginBadKernels")
    expect_error(lambda: op.backward([x], [x], [x], [np.zeros_like(x)], [1], []),
                 "PluginBadKernels", throwing, "backward hit a C++ exception")


def test_error_return_in_forward_and_backward(throwing):
    x = np.ones((4,), dtype=np.float32)
    expect_error(lambda: cn.nd.PluginErrorCodes(cn.nd.array(x)), "PluginErrorCodes", throwing,
                 "forward returned error code 7")
    op = cn.ops.make("PluginErrorCodes")
    expect_error(lambda: op.backward([x], [None], [None], [np.zeros_like(x)], [1], []),
                 "PluginErrorCodes", throwing, "backward returned error code 8")
    expect_error(lambda: cn.ops.make("PluginErrorCodes", {"alpha": 1}), "PluginErrorCodes",
                 "unknown parameter 'alpha'")


def test_process_survives_failures_and_exits_cleanly(broken_libs, tmp_path):
    """Loads, fails, keeps op instances alive until exit: no crash at exit (no dlclose)."""
    script = f"""
import numpy as np, coarsenet as cn
cn.load_op_library({broken_libs['HEALTHY']!r})
keep = cn.ops.make('PluginDupA')
for path in {[broken_libs['DUP_PLUGIN'], broken_libs['NO_ENTRY']]!r}:
    try:
        cn.load_op_library(path)
    except cn.CoarsenetError:
        pass
print(cn.nd.PluginDupA(cn.nd.ones((2,))).asnumpy().sum())
"""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    # cwd: not the checkout, whose coarsenet/ source tree would shadow the installed package
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=False, env=env, timeout=60, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2.0"
