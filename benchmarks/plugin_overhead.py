"""User op costs: first compile vs cached load of a cpp_extension, and the per-call overhead of a
plugin op against built-in ops and a Python (cn.operator) op. Prints figures and ratios only.

    PYTHONPATH=. python benchmarks/plugin_overhead.py
"""
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

import coarsenet as cn
from coarsenet import cpp_extension

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCES = [os.path.join(ROOT, "examples", "custom_op", "src", f)
           for f in ("scaled_tanh.cc", "squared_distance.cc")]


def best_of(fn, repeat=5, number=2000):
    """Best mean time of one call over `repeat` rounds of `number` calls (seconds)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def compile_and_load_times(cache):
    start = time.perf_counter()
    cpp_extension.build("example_ops", SOURCES, build_directory=cache)
    first = time.perf_counter() - start
    # A fresh process with a warm cache: hash the inputs, find the file, dlopen, register.
    script = (f"import time, coarsenet as cn; t = time.perf_counter(); "
              f"cn.cpp_extension.load('example_ops', {SOURCES!r}, build_directory={cache!r}); "
              f"print(time.perf_counter() - t)")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                         check=True)
    return first, float(out.stdout)


@cn.operator.register("bench_tanh")
class TanhProp(cn.operator.CustomOpProp):
    def create_operator(self, ctx, shapes, dtypes):
        return Tanh()


class Tanh(cn.operator.CustomOp):
    def forward(self, is_train, req, in_data, out_data, aux):
        self.assign(out_data[0], req[0], np.tanh(in_data[0].asnumpy()))


def main():
    cn.set_num_threads(1)
    with tempfile.TemporaryDirectory() as cache:
        first, cached = compile_and_load_times(cache)
        print(f"cpp_extension first compile + load : {first:8.2f} s")
        print(f"cpp_extension cached load (new proc): {cached * 1e3:8.2f} ms"
              f"   ratio {first / cached:,.0f}x")
        cn.cpp_extension.load("example_ops", SOURCES, build_directory=cache)

    print("\nper-call cost of a tiny forward (1 thread, best of 15 interleaved rounds):")
    x1 = cn.nd.array(np.random.rand(1, 1))
    w1 = cn.nd.array(np.random.rand(1, 1))
    b1 = cn.nd.array(np.random.rand(1))
    rows = [
        ("plugin ScaledTanh(scale=1)   cn.nd", lambda: cn.nd.ScaledTanh(x1, scale=1.0)),
        ("built-in FullyConnected(1x1) cn.nd",
         lambda: cn.nd.FullyConnected(x1, w1, b1, num_hidden=1)),
    ]
    if "Activation" in cn.ops.list():
        rows.append(("built-in Activation(tanh)    cn.nd",
                     lambda: cn.nd.Activation(x1, act_type="tanh")))
    rows.append(("Python Custom(tanh)          cn.nd",
                 lambda: cn.nd.Custom(x1, op_type="bench_tanh")))
    plugin_op, fc_op = cn.ops.make("ScaledTanh", {"scale": 1.0}), cn.ops.make(
        "FullyConnected", {"num_hidden": 1})
    a, w, b = x1.asnumpy(), w1.asnumpy(), b1.asnumpy()
    rows += [
        ("plugin ScaledTanh   _core.Op.invoke", lambda: plugin_op.invoke([a], [])),
        ("built-in FC(1x1)    _core.Op.invoke", lambda: fc_op.invoke([a, w, b], [])),
    ]
    if "Activation" in cn.ops.list():
        act_op = cn.ops.make("Activation", {"act_type": "tanh"})
        rows.append(("built-in Activation _core.Op.invoke", lambda: act_op.invoke([a], [])))
    # Rounds interleave the candidates, so a busy machine slows them alike; keep each one's best.
    best = {label: float("inf") for label, _ in rows}
    for _ in range(15):
        for label, fn in rows:
            best[label] = min(best[label], best_of(fn, repeat=1, number=2000))
    base = best[rows[0][0]]
    for label, _ in rows:
        print(f"  {label}: {best[label] * 1e6:7.2f} us   ({best[label] / base:4.2f}x plugin)")

    print("\nkernel time, 1M float32 elements (1 thread):")
    big = np.random.rand(1 << 20).astype(np.float32)
    xb = cn.nd.array(big)
    t_plugin = best_of(lambda: cn.nd.ScaledTanh(xb, scale=1.0), repeat=5, number=20)
    t_numpy = best_of(lambda: np.tanh(big), repeat=5, number=20)
    print(f"  plugin ScaledTanh: {t_plugin * 1e3:6.2f} ms   numpy tanh: {t_numpy * 1e3:6.2f} ms"
          f"   ratio {t_plugin / t_numpy:4.2f}")
    if "Activation" in cn.ops.list():
        t_act = best_of(lambda: cn.nd.Activation(xb, act_type="tanh"), repeat=5, number=20)
        print(f"  built-in Activation(tanh): {t_act * 1e3:6.2f} ms   plugin/built-in "
              f"{t_plugin / t_act:4.2f}")
    try:
        import torch

        torch.set_num_threads(1)
        tb = torch.from_numpy(big)
        t_torch = best_of(lambda: torch.tanh(tb), repeat=5, number=20)
        print(f"  torch tanh: {t_torch * 1e3:6.2f} ms   plugin/torch {t_plugin / t_torch:4.2f}")
    except ImportError:
        pass


if __name__ == "__main__":
    main()
