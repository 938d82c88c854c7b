"""cn.operator: ops written in Python, run through the built-in C++ op `Custom`."""
import numpy as np
import pytest

import coarsenet as cn
from coarsenet import _core
from coarsenet.testing import check_op, expect_error


@cn.operator.register("test_sqr")
class SqrProp(cn.operator.CustomOpProp):
    def __init__(self, factor="1"):
        super().__init__(need_top_grad=True)
        self.factor = float(factor)  # MXNet hands every keyword over as a string

    def declare_backward_dependency(self, out_grad, in_data, out_data):
        return [out_grad[0], in_data[0]]

    def create_operator(self, ctx, in_shapes, in_dtypes):
        return Sqr(self.factor)


class Sqr(cn.operator.CustomOp):
    def __init__(self, factor):
        self.factor = factor

    def forward(self, is_train, req, in_data, out_data, aux):
        self.assign(out_data[0], req[0], self.factor * in_data[0].asnumpy() ** 2)

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        assert out_data[0] is None  # not declared as a dependency
        grad = 2 * self.factor * in_data[0].asnumpy() * out_grad[0].asnumpy()
        self.assign(in_grad[0], req[0], grad)


@cn.operator.register("test_addsub")
class AddSubProp(cn.operator.CustomOpProp):
    """Two inputs, two outputs, an aux state counting calls."""

    def list_arguments(self):
        return ["lhs", "rhs"]

    def list_outputs(self):
        return ["sum", "difference"]

    def list_auxiliary_states(self):
        return ["calls"]

    def infer_shape(self, in_shape):
        return in_shape, [in_shape[0], in_shape[0]], [(1,)]

    def declare_backward_dependency(self, out_grad, in_data, out_data):
        return list(out_grad)

    def create_operator(self, ctx, in_shapes, in_dtypes):
        return AddSub()


class AddSub(cn.operator.CustomOp):
    def forward(self, is_train, req, in_data, out_data, aux):
        a, b = in_data[0].asnumpy(), in_data[1].asnumpy()
        self.assign(out_data[0], req[0], a + b)
        self.assign(out_data[1], req[1], a - b)
        aux[0][:] = aux[0].asnumpy() + 1

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        assert in_data == [None, None]
        gs, gd = out_grad[0].asnumpy(), out_grad[1].asnumpy()
        self.assign(in_grad[0], req[0], gs + gd)
        self.assign(in_grad[1], req[1], gs - gd)


@cn.operator.register("test_fail")
class FailProp(cn.operator.CustomOpProp):
    def __init__(self, where="forward"):
        super().__init__()
        if where == "init":
            raise KeyError("bad prop argument")
        self.where = where

    def infer_shape(self, in_shape):
        if self.where == "infer_shape":
            raise ValueError("shapes do not fit")
        return in_shape, [in_shape[0]], []

    def create_operator(self, ctx, in_shapes, in_dtypes):
        return Fail(self.where)


class Fail(cn.operator.CustomOp):
    def __init__(self, where):
        self.where = where

    def forward(self, is_train, req, in_data, out_data, aux):
        if self.where == "forward":
            raise ZeroDivisionError("forward failed")
        self.assign(out_data[0], req[0], in_data[0])

    def backward(self, req, out_grad, in_data, out_data, in_grad, aux):
        raise ArithmeticError("backward failed")


def test_forward_and_gradient():
    check_op("Custom", shapes=[(3, 4)], params=dict(op_type="test_sqr", factor=1.5),
             ref=lambda x, op_type, factor: factor * x ** 2)


def test_keywords_and_backward_needs():
    y = cn.nd.Custom(cn.nd.array([1, 2, 3]), op_type="test_sqr", factor=2)
    np.testing.assert_allclose(y.asnumpy(), [2, 8, 18])
    op = cn.ops.make("Custom", dict(op_type="test_sqr"))
    assert (op.needs_out_grads, op.needs_inputs, op.needs_outputs) == ([1], [1], [0])
    assert "Python" in cn.ops.info("Custom").doc


def test_several_inputs_outputs_and_aux():
    op = cn.ops.make("Custom", dict(op_type="test_addsub"))
    assert (op.input_names, op.output_names, op.aux_names) == (
        ["lhs", "rhs"], ["sum", "difference"], ["calls"])
    # As MXNet, the prop is asked once the first input is known (the unknown one as []); the
    # empty shape it hands back for rhs stays unknown.
    assert op.infer_shape([(2, 3), None]) == ([(2, 3), None], [(2, 3), (2, 3)], [(1,)])
    assert op.infer_shape([None, (2, 3)]) == ([None, (2, 3)], [None, None], [None])
    assert op.infer_shape([(2, 3), (2, 3)])[1:] == ([(2, 3), (2, 3)], [(1,)])
    a, b, calls = cn.nd.ones((2, 3)), cn.nd.full((2, 3), 2.0), cn.nd.zeros((1,))
    s, d = cn.nd.Custom(a, b, calls, op_type="test_addsub")
    np.testing.assert_allclose(s.asnumpy(), 3)
    np.testing.assert_allclose(d.asnumpy(), -1)
    assert calls.asnumpy()[0] == 1
    check_op("Custom", shapes=[(2, 3), (2, 3)], params=dict(op_type="test_addsub"),
             ref=lambda a, b, op_type: (a + b, a - b))


def test_dtype_follows_the_prop():
    x = cn.nd.array([1.0, 2.0], dtype=np.float64)
    assert cn.nd.Custom(x, op_type="test_sqr").dtype == np.float64


def test_runs_from_a_program_without_the_gil():
    """Executors run ops from a C++ loop with the GIL released; the callback takes it back."""
    op = cn.ops.make("Custom", dict(op_type="test_sqr", factor=3))
    x = np.arange(4, dtype=np.float32)
    y = np.zeros(4, dtype=np.float32)
    program = _core.Program()
    program.add_forward(op, [x], [y], [1], [])
    program.run()
    np.testing.assert_allclose(y, 3 * x ** 2)


def test_errors_name_the_op_type():
    x = cn.nd.ones((2,))
    expect_error(lambda: cn.nd.Custom(x, op_type="no_such_op"), "Custom", "no_such_op",
                 "not registered", "test_sqr")
    expect_error(lambda: cn.nd.Custom(x), "Custom", "op_type")
    expect_error(lambda: cn.nd.Custom(x, op_type="test_fail", where="init"), "test_fail",
                 "KeyError", "bad prop argument")
    expect_error(lambda: cn.nd.Custom(x, op_type="test_fail", where="infer_shape"),
                 "test_fail", "ValueError", "shapes do not fit", "in infer_shape")
    expect_error(lambda: cn.nd.Custom(x, op_type="test_fail", where="forward"), "Custom",
                 "test_fail", "ZeroDivisionError", "forward failed", "test_custom_python_op.py")
    op = cn.ops.make("Custom", dict(op_type="test_fail", where="backward"))
    g = np.ones(2, dtype=np.float32)
    op.invoke([g], [])
    expect_error(lambda: op.backward([g], [g], [g], [np.zeros_like(g)], [1], []), "test_fail",
                 "ArithmeticError", "backward failed")


def test_register_needs_a_prop_class_and_may_replace():
    with pytest.raises(cn.CoarsenetError):
        cn.operator.register("not_a_prop")(object)

    @cn.operator.register("test_replace")
    class First(cn.operator.CustomOpProp):
        def create_operator(self, ctx, shapes, dtypes):
            return Scale(2)

    x = cn.nd.ones((2,))
    np.testing.assert_allclose(cn.nd.Custom(x, op_type="test_replace").asnumpy(), 2)

    @cn.operator.register("test_replace")
    class Second(cn.operator.CustomOpProp):
        def create_operator(self, ctx, shapes, dtypes):
            return Scale(5)

    np.testing.assert_allclose(cn.nd.Custom(x, op_type="test_replace").asnumpy(), 5)
    assert "test_replace" in cn.operator.get_all_registered_operators()


class Scale(cn.operator.CustomOp):
    def __init__(self, k):
        self.k = k

    def forward(self, is_train, req, in_data, out_data, aux):
        self.assign(out_data[0], req[0], self.k * in_data[0].asnumpy())
