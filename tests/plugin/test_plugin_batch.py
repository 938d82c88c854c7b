"""Batch separability in the op contract (ABI 1.4): a plugin built with this SDK may declare
its op separable and the executor then runs it in slices of the batch; a library declaring an
older minor version keeps working and is never split."""
import os

import numpy as np
import pytest

import coarsenet as cn
from coarsenet import _core, cpp_extension

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def libs(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("batch_plugins"))
    src = os.path.join(HERE, "batch_plugins.cc")
    paths = {m: cpp_extension.build(f"batch_{m.lower()}", [src],
                                    extra_cflags=["-O0", f"-DMODE_{m}"], build_directory=root)
             for m in ("CURRENT", "ABI_1_3")}
    names = {m: cn.load_op_library(p) for m, p in paths.items()}
    assert names == {"CURRENT": ["PluginTwice"], "ABI_1_3": ["PluginTwice13"]}
    return paths


def test_abi_minor_is_4():
    assert (_core.ABI_VERSION_MAJOR, _core.ABI_VERSION_MINOR) == (1, 4)


@pytest.mark.parametrize("op, split", [("PluginTwice", True), ("PluginTwice13", False)])
def test_only_a_1_4_library_is_split(libs, monkeypatch, op, split):
    modes = _core.Op(op).batch_split[0]
    assert modes == (_core.BATCH_INFERENCE | _core.BATCH_TRAIN if split else 0)
    monkeypatch.setenv("COARSENET_BATCH_PAR", "1")
    net = getattr(cn.sym, op)(cn.sym.Variable("data"))
    exe = net.simple_bind(data=(64, 4096), grad_req="null")
    assert exe.memory_stats()["batch_split_calls"] == (1 if split else 0)
    x = np.random.RandomState(0).standard_normal((64, 4096)).astype(np.float32)
    before = cn.get_num_threads()
    try:
        for n in (1, 2):
            cn.set_num_threads(n)
            np.testing.assert_array_equal(exe.forward(data=x)[0].asnumpy(), 2 * x)
    finally:
        cn.set_num_threads(before)
