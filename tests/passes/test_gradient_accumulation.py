"""A variable read by several nodes gets the sum of their gradients in its bound gradient array.

Regression: the planner put the first contribution (the root of the accumulation group) in the
arena instead of the bound array, so every contribution but the last was silently lost."""
import numpy as np
import pytest

import coarsenet as cn


@pytest.mark.parametrize("build, expected", [
    (lambda p, q: p * 2 + p * 3 + q * 0, lambda x, y: np.full_like(x, 5.0)),
    (lambda p, q: cn.sym.exp(p) + p * q, lambda x, y: np.exp(x) + y),
    (lambda p, q: p - p * q, lambda x, y: 1 - y),
    (lambda p, q: p * q + p * q + p, lambda x, y: 2 * y + 1),
])
@pytest.mark.parametrize("req", ["write", "add"])
def test_gradient_contributions_are_summed(build, expected, req):
    p, q = cn.sym.var("p"), cn.sym.var("q")
    x = np.array([[-1.5, 0.7, 2.0]])
    y = np.array([[1.0, 0.0, 3.0]])
    grad = cn.nd.array(np.full((1, 3), 10.0), dtype=np.float64)
    exe = build(p, q).bind(args={"p": cn.nd.array(x, dtype=np.float64),
                                 "q": cn.nd.array(y, dtype=np.float64)},
                           args_grad={"p": grad}, grad_req={"p": req, "q": "null"})
    exe.forward(is_train=True)
    exe.backward([cn.nd.ones((1, 3), dtype=np.float64)])
    base = 10.0 if req == "add" else 0.0
    np.testing.assert_allclose(exe.grad_dict["p"].asnumpy(), base + expected(x, y), rtol=1e-12)
