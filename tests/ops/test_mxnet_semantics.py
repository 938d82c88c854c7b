"""Replays op_semantics.npz (made by tests/fixtures/mxnet/make_op_semantics.py with real MXNet
1.9.1) through coarsenet: same outputs (values and dtypes), or an error where MXNet refuses.
The cases sit where MXNet differs from NumPy: topk/sort ties, one_hot and take out of range,
round half away from zero, modulo signs, NaN in argmax, ...
"""
import json
from pathlib import Path

import numpy as np
import pytest

import coarsenet as cn
from coarsenet.base import CoarsenetError

HERE = Path(__file__).resolve().parent.parent / "fixtures" / "mxnet"
META = json.loads((HERE / "op_semantics.json").read_text())
ARRAYS = np.load(HERE / "op_semantics.npz")


def _update(name):
    """As the generator: two steps with out=the weight(s); returns every input afterwards."""
    fn = getattr(cn.nd, name)

    def run(*arrays, **params):
        if name.startswith("multi_"):
            targets = list(arrays[::3 if "mom" in name else 2])
        else:
            targets = arrays[0]
        for _ in range(2):
            fn(*arrays, out=targets, **params)
        return list(arrays)
    return run


def _fn(name):
    if name.startswith("upd:"):
        return _update(name[4:])
    grad = name.startswith("grad:")
    fn = cn.nd
    for part in name.split(":")[-1].split("."):
        fn = getattr(fn, part)
    if not grad:
        return fn

    def with_grad(*inputs, **params):  # as the generator: input 0's gradient under heads of 3
        inputs[0].attach_grad()
        with cn.autograd.record():
            out = fn(*inputs, **params)
        out.backward(cn.nd.ones(out.shape) * 3)
        return [out, inputs[0].grad]
    return with_grad


@pytest.mark.parametrize("i", range(len(META)), ids=[f"{i}-{m['fn']}" for i, m in enumerate(META)])
def test_matches_mxnet(i):
    case = META[i]
    inputs = [cn.nd.array(ARRAYS[f"c{i}_in{j}"], dtype=ARRAYS[f"c{i}_in{j}"].dtype)
              for j in range(case["n_in"])]
    params = dict(case["params"])
    for key in ("shape", "lrs", "wds"):
        if key in params:
            params[key] = tuple(params[key])
    fn = _fn(case["fn"])
    if case.get("error"):
        with pytest.raises(CoarsenetError):
            out = fn(*inputs, **params)
            [o.asnumpy() for o in (out if isinstance(out, (list, tuple)) else [out])]
        return
    out = fn(*inputs, **params)
    outs = out if isinstance(out, (list, tuple)) else [out]
    assert len(outs) == case["n_out"]
    for j, o in enumerate(outs):
        expected = ARRAYS[f"c{i}_out{j}"]
        got = o.asnumpy()
        assert got.dtype == expected.dtype, f"output {j}: dtype {got.dtype}, MXNet {expected.dtype}"
        assert got.shape == expected.shape, f"output {j}: shape {got.shape}, MXNet {expected.shape}"
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6, equal_nan=True,
                                   err_msg=f"{case['fn']} {params} output {j}")
