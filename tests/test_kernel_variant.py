"""Which build of the ops runs (src/core/kernel_variant.h), in the native and the portable build.

The portable build (README "Install": `pip wheel . --no-deps -C cmake.define.COARSENET_NATIVE=OFF
...`) compiles the engine for x86-64-v3 and every op again for x86-64-v4 (AVX-512), loaded at
import when the CPU has it. `.ci/run` builds that wheel, installs it in a second venv and runs this
file there, so the portable-only tests below run in CI; in the native build they skip.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import coarsenet as cn

VARIANT = cn._core.kernel_variant()
PORTABLE = VARIANT["isa"] != "native"
portable_only = pytest.mark.skipif(not PORTABLE, reason="native build: .ci/run's portable-wheel "
                                   "step runs these against the portable build")

# A conv / BN / ReLU / pooling / FC net's forward and backward, printed as JSON by a subprocess.
_NET_SCRIPT = r"""
import json, sys
import numpy as np
import coarsenet as cn
dtype = sys.argv[1]
rng = np.random.default_rng(0)
x = cn.sym.Variable("data")
# No bias before BatchNorm: its gradient is zero in exact arithmetic, rounding noise in both
# builds (the first CI run compared that noise).
y = cn.sym.Convolution(x, num_filter=8, kernel=(3, 3), pad=(1, 1), no_bias=True, name="c1")
y = cn.sym.Activation(cn.sym.BatchNorm(y, name="bn1"), act_type="relu")
y = cn.sym.Convolution(y, num_filter=8, kernel=(3, 3), stride=(2, 2), pad=(1, 1), name="c2")
y = cn.sym.Pooling(y, kernel=(2, 2), stride=(2, 2), pool_type="max")
y = cn.sym.SoftmaxOutput(cn.sym.FullyConnected(y, num_hidden=10, name="fc"), name="softmax")
exe = y.simple_bind(data=(4, 3, 16, 16), type_dict={"data": dtype})
for name, arr in sorted(exe.arg_dict.items()):
    arr[:] = rng.standard_normal(arr.shape).astype(dtype) * 0.3
exe.arg_dict["softmax_label"][:] = np.arange(4) % 10
exe.forward(is_train=True)
exe.backward()
out = {"isa": cn._core.kernel_variant()["isa"], "output": exe.outputs[0].asnumpy().tolist()}
out.update({k: g.asnumpy().tolist() for k, g in exe.grad_dict.items() if g is not None})
print(json.dumps(out))
"""


def _run_net(dtype: str, isa: str | None) -> dict:
    env = dict(os.environ)
    env.pop("COARSENET_KERNEL_ISA", None)
    if isa:
        env["COARSENET_KERNEL_ISA"] = isa
    p = subprocess.run([sys.executable, "-c", _NET_SCRIPT, dtype], capture_output=True,
                       text=True, env=env, timeout=300, check=False)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


def _cpu_has_x86_64_v4() -> bool:
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    return {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"} <= set(flags)


def test_the_running_variant_is_reported():
    assert VARIANT["isa"] in ("native", "x86-64-v3", "x86-64-v4")
    assert VARIANT["reason"] and not VARIANT["error"]
    if VARIANT["isa"] != "x86-64-v4":
        assert VARIANT["library"] == ""


def test_a_bad_isa_value_fails_the_import_with_a_clear_error():
    env = dict(os.environ, COARSENET_KERNEL_ISA="avx9000")
    p = subprocess.run([sys.executable, "-c", "import coarsenet"], capture_output=True, text=True,
                       env=env, timeout=120, check=False)
    assert p.returncode != 0
    assert "CoarsenetError" in p.stderr and "COARSENET_KERNEL_ISA" in p.stderr
    assert "x86-64-v3 or x86-64-v4" in p.stderr and "avx9000" in p.stderr


@portable_only
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/cpuinfo")
def test_the_avx512_ops_load_exactly_when_the_cpu_has_them():
    if _cpu_has_x86_64_v4():
        assert VARIANT["isa"] == "x86-64-v4", VARIANT
        assert VARIANT["library"].endswith("_ops_x86_64_v4.so")
        assert os.path.dirname(VARIANT["library"]) == os.path.dirname(cn._core.__file__)
    else:
        assert VARIANT["isa"] == "x86-64-v3" and "lacks" in VARIANT["reason"], VARIANT


@portable_only
@pytest.mark.parametrize("dtype, rtol", [("float32", 2e-4), ("float64", 1e-10)])
def test_both_builds_of_the_ops_compute_the_same_step(dtype, rtol):
    baseline = _run_net(dtype, "x86-64-v3")
    default = _run_net(dtype, None)
    assert baseline.pop("isa") == "x86-64-v3"
    assert default.pop("isa") == ("x86-64-v4" if _cpu_has_x86_64_v4() else "x86-64-v3")
    assert baseline.keys() == default.keys()
    for key in baseline:
        a, b = np.asarray(baseline[key]), np.asarray(default[key])
        assert np.isfinite(a).all()
        np.testing.assert_allclose(b, a, rtol=rtol, atol=rtol * np.abs(a).max(), err_msg=key)
