"""MXNet's calling forms of generated op functions and its automatic node names."""
import numpy as np
import pytest

import coarsenet as cn


def test_params_may_follow_the_inputs_positionally():
    x = cn.nd.array(np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4))
    np.testing.assert_array_equal(cn.nd.clip(x, 2, 5).asnumpy(), np.clip(x.asnumpy(), 2, 5))
    pooled = cn.nd.Pooling(x, (2, 2), "max").asnumpy()  # kernel, pool_type in declared order
    np.testing.assert_array_equal(pooled, cn.nd.Pooling(x, kernel=(2, 2)).asnumpy())
    s = cn.sym.clip(cn.sym.Variable("x"), 0, 6)
    assert s.attr_dict()[s.name] == {"a_min": "0", "a_max": "6"}
    exe = s.simple_bind(x=(3,))
    out = exe.forward(x=cn.nd.array([-1, 3, 9]))[0].asnumpy()
    np.testing.assert_array_equal(out, [0, 3, 6])


def test_positional_param_errors_name_the_op():
    x = cn.nd.ones((2,))
    with pytest.raises(cn.CoarsenetError, match="clip: 3 positional parameters"):
        cn.nd.clip(x, 0, 1, 2)
    with pytest.raises(cn.CoarsenetError, match="'a_min' given twice"):
        cn.nd.clip(x, 0, a_min=1, a_max=2)
    with pytest.raises(cn.CoarsenetError, match="positional input 1 must be a Symbol"):
        cn.sym.elemwise_add(cn.sym.Variable("a"), 1, cn.sym.Variable("b"))


def test_operator_node_names_follow_mxnet():
    # Names printed by real MXNet 1.9.1 for these expressions, in this order, from fresh counters.
    mxnet_names = ("_plus0 _minus0 _mul0 _div0 _plusscalar0 _plusscalar1 _minusscalar0 "
                   "_rminusscalar0 _mulscalar0 _mulscalar1 _divscalar0 _rdivscalar0 _mulscalar2 "
                   "_powerscalar0 _rpower_scalar0 _power0").split()
    saved = dict(cn.symbol.NameManager._counters)
    cn.symbol.NameManager._counters.clear()
    try:
        a, b = cn.sym.Variable("a"), cn.sym.Variable("b")
        exprs = [a + b, a - b, a * b, a / b, a + 1, 1 + a, a - 1, 1 - a, a * 2, 2 * a, a / 2,
                 2 / a, -a, a ** 2, 2 ** a, a ** b]
        assert [e.name for e in exprs] == mxnet_names
        assert "_plus1_output" in (a + b + 1).get_internals().list_outputs()
    finally:
        cn.symbol.NameManager._counters.clear()
        cn.symbol.NameManager._counters.update(saved)
