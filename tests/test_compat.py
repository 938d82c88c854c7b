"""`coarsenet.compat.alias_mxnet` and `python -m coarsenet run`: MXNet scripts run unchanged."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import coarsenet as cn
from coarsenet import compat

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def mx():
    compat.alias_mxnet()
    import mxnet

    yield mxnet


def test_every_import_form_gives_coarsenet_modules(mx):
    import mxnet.ndarray as nd
    import mxnet.symbol as S
    from mxnet import autograd, gluon
    from mxnet.gluon import nn

    assert mx is cn and nd is cn.ndarray and S is cn.symbol
    assert gluon is cn.gluon and autograd is cn.autograd and nn is cn.nn
    np.testing.assert_array_equal((mx.nd.array([1, 2]) * 2).asnumpy(), [2, 4])


def test_missing_names_say_what_coarsenet_lacks(mx):
    with pytest.raises(AttributeError, match="coarsenet does not implement mxnet.no_such_name"):
        _ = mx.no_such_name
    with pytest.raises(AttributeError, match="does not implement mxnet.ndarray.no_such_op"):
        _ = mx.nd.no_such_op
    with pytest.raises(ImportError, match="coarsenet does not implement mxnet.no_such_module"):
        import mxnet.no_such_module  # noqa: F401


def test_gpu_context_is_made_but_cannot_hold_data(mx):
    g = mx.gpu()  # scripts write dev=mx.gpu() as a default argument, as MXNet allows
    assert repr(g) == "gpu(0)" and g != mx.cpu() and mx.cpu_pinned() == mx.cpu()
    with pytest.raises(cn.CoarsenetError, match="gpu\\(0\\).*CPU only"):
        mx.nd.zeros((2,), ctx=g)


def test_numpy_op_runs_forward_and_backward(mx):
    class Square(mx.operator.NumpyOp):
        def __init__(self):
            super().__init__(True)

        def forward(self, in_data, out_data):
            out_data[0][:] = in_data[0] ** 2

        def backward(self, out_grad, in_data, out_data, in_grad):
            in_grad[0][:] = 2 * in_data[0] * out_grad[0]

    y = Square()(mx.sym.Variable("x"), name="sq")
    exe = y.simple_bind(x=(3,))
    exe.arg_dict["x"][:] = np.array([1.0, 2.0, 3.0], np.float32)
    out = exe.forward(is_train=True)[0].asnumpy()
    exe.backward(mx.nd.ones((3,)))
    np.testing.assert_allclose(out, [1, 4, 9])
    np.testing.assert_allclose(exe.grad_dict["x"].asnumpy(), [2, 4, 6])


def test_run_command_runs_a_script_with_its_arguments(tmp_path):
    script = tmp_path / "s.py"
    script.write_text(textwrap.dedent("""
        import sys
        import mxnet as mx
        from helper import VALUE
        x = mx.nd.array([1, 2, 3])
        print("ok", sys.argv[1:], float((x * VALUE).sum().asscalar()))
    """))
    (tmp_path / "helper.py").write_text("VALUE = 2\n")  # the script's own dir is importable
    env = dict(os.environ, PYTHONPATH=REPO)
    p = subprocess.run([sys.executable, "-m", "coarsenet", "run", str(script), "--a", "1"],
                       check=False, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "ok ['--a', '1'] 12.0"
    p = subprocess.run([sys.executable, "-m", "coarsenet", "run", str(tmp_path / "none.py")],
                       check=False, capture_output=True, text=True, env=env)
    assert p.returncode == 2 and "none.py' not found" in p.stderr
