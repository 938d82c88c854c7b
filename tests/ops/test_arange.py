"""_arange (mx.sym.arange / MXNet's range op): values and lengths as MXNet 1.9.1 gives them."""
import numpy as np
import pytest

import coarsenet as mx
from coarsenet.testing import check_op


@pytest.mark.parametrize("start,stop,step,repeat", [(0, 5, 1, 1), (1, 3, 0.5, 2),
                                                     (2, 11, 3, 2), (5, 0, -1.5, 1)])
def test_arange_check_op(start, stop, step, repeat):
    # no inputs (so no gradient): check_op's shape/forward/in-place checks with the default
    # dtype; the float32/float64 outputs are compared with NumPy below
    def ref(**params):
        return np.repeat(np.arange(params.get("start", start), params.get("stop", stop),
                                   params.get("step", step), dtype=np.float64),
                         params.get("repeat", repeat))

    check_op("_arange", [], {"start": start, "stop": stop, "step": step, "repeat": repeat},
             ref, grad=False)
    for dtype in (np.float32, np.float64):
        out = mx.nd._arange(start=start, stop=stop, step=step, repeat=repeat,
                            dtype=np.dtype(dtype).name)
        assert out.dtype == dtype
        np.testing.assert_allclose(out.asnumpy(), ref().astype(dtype), rtol=1e-7)


def test_sym_arange_matches_mxnet():
    # read from MXNet 1.9.1: sym.arange(5) is node _arange0; (1, 3, 0.5, repeat=2) below
    s = mx.sym.arange(5)
    assert s.name.startswith("_arange")
    np.testing.assert_array_equal(s.bind(mx.cpu(), {}).forward()[0].asnumpy(), [0, 1, 2, 3, 4])
    out = mx.sym.arange(1, 3, 0.5, repeat=2, dtype="float64").bind(mx.cpu(), {}).forward()[0]
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out.asnumpy(), [1, 1, 1.5, 1.5, 2, 2, 2.5, 2.5])
    x = mx.sym.var("x")
    y = mx.sym.broadcast_mul(x, mx.sym.arange(3))
    ex = y.bind(mx.cpu(), {"x": mx.nd.ones((2, 3))})
    np.testing.assert_array_equal(ex.forward()[0].asnumpy(), [[0, 1, 2], [0, 1, 2]])


@pytest.mark.parametrize("params,match", [({"start": 0, "stop": 3, "step": 0}, "step"),
                                          ({"start": 3, "stop": 0, "step": 1}, "empty range"),
                                          ({"start": 0, "stop": 3, "repeat": 0}, "repeat")])
def test_arange_bad_params(params, match):
    with pytest.raises(mx.base.CoarsenetError, match=match):
        mx.sym._arange(**params).infer_shape()
    with pytest.raises(mx.base.CoarsenetError, match="infer_range"):
        mx.sym.arange(3, infer_range=True)


def test_nd_arange_uses_the_op_and_its_errors():
    # nd.arange was NumPy's: repeat was missing and a zero step raised ZeroDivisionError, a huge
    # stop MemoryError. It now runs the `_arange` op, as sym.arange does (MXNet's checks).
    np.testing.assert_array_equal(mx.nd.arange(0, 3, repeat=2).asnumpy(), [0, 0, 1, 1, 2, 2])
    ints = mx.nd.arange(1, 4, dtype="int32")
    assert ints.dtype == np.int32 and ints.asnumpy().tolist() == [1, 2, 3]
    for bad, words in (({"step": 0}, "non-zero step"), ({"stop": float("nan")}, "empty range"),
                       ({"stop": 1e18}, "more than 2\\^59"), ({"start": 9}, "empty range")):
        kwargs = {"start": 0, "stop": 5, **bad}
        with pytest.raises(mx.CoarsenetError, match="_arange: .*" + words):
            mx.nd.arange(**kwargs)
