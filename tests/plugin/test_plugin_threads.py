"""The thread count in the op contract (ABI 1.3): an op's workspace may depend on the threads
its kernels plan for; the host asks with the count and passes the same count in the call's
context. Libraries declaring an older minor version keep working without it."""
import os

import numpy as np
import pytest

import coarsenet as cn
from coarsenet import cpp_extension

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def libs(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("thread_plugins"))
    src = os.path.join(HERE, "thread_plugins.cc")
    paths = {m: cpp_extension.build(f"thread_{m.lower()}", [src],
                                    extra_cflags=["-O0", f"-DMODE_{m}"], build_directory=root)
             for m in ("CURRENT", "ABI_1_2")}
    names = {m: cn.load_op_library(p) for m, p in paths.items()}
    assert names == {"CURRENT": ["PluginThreadSlots"], "ABI_1_2": ["PluginThreadSlots12"]}
    return paths


@pytest.fixture
def restore_threads():
    before = cn.get_num_threads()
    yield
    cn.set_num_threads(before)


def test_abi_minor_has_thread_counts():
    assert cn._core.ABI_VERSION_MAJOR == 1 and cn._core.ABI_VERSION_MINOR >= 3


def test_workspace_is_asked_with_the_thread_count(libs):
    op = cn._core.Op("PluginThreadSlots")
    for t in (1, 3, 16):
        assert op.workspace_bytes([(1,)], [(2,)], False, 0, threads=t) == 8 * t * 4
        assert op.workspace_bytes([(1,)], [(2,)], False, 1, threads=t) == 8 * t * 8


def test_calls_plan_for_the_count_their_workspace_was_sized_with(libs, restore_threads):
    x = cn.nd.array(np.zeros(1, np.float64), dtype=np.float64)
    for t in (1, 3):
        cn.set_num_threads(t)
        np.testing.assert_array_equal(cn.nd.PluginThreadSlots(x).asnumpy(), [t, t - 1])
    cn.set_num_threads(4)
    exe = cn.sym.PluginThreadSlots(cn.sym.Variable("data")).simple_bind(grad_req="null",
                                                                        data=(1,))
    assert exe.memory_stats()["workspace_bytes"] == 8 * 4 * 4
    cn.set_num_threads(1)  # fewer threads after binding: the plan (4 slots) stays
    exe.forward(data=np.zeros(1, np.float32))
    np.testing.assert_array_equal(exe.outputs[0].asnumpy(), [4, 3])


def test_library_declaring_abi_1_2_is_sized_without_the_count(libs, restore_threads):
    # Its workspace_elems_threads pointer is junk: the host must go by the declared minor
    # version and use workspace_elems, which the SDK sizes for the current thread count.
    cn.set_num_threads(3)
    op = cn._core.Op("PluginThreadSlots12")
    assert op.workspace_bytes([(1,)], [(2,)], False, 0, threads=16) == 8 * 3 * 4
    out = cn.nd.PluginThreadSlots12(cn.nd.array(np.zeros(1, np.float32))).asnumpy()
    np.testing.assert_array_equal(out, [3, 2])
