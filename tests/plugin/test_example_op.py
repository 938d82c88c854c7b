"""The example op library (examples/custom_op) built both ways and used like a built-in op."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import coarsenet as cn
from coarsenet import cpp_extension
from coarsenet.testing import check_op


def test_loaded_ops_are_registered_everywhere(example_ops):
    assert sorted(example_ops) == ["ScaledTanh", "SquaredDistance"]
    for name in example_ops:
        assert name in cn.ops.list()
        assert cn.ops.info(name).library.endswith(".so")
        assert callable(getattr(cn.nd, name))
    assert "scale : double, default=1" in cn.nd.ScaledTanh.__doc__


def test_scaled_tanh_imperative(example_ops):
    x = np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4)
    y = cn.nd.ScaledTanh(cn.nd.array(x), scale=1.7)
    np.testing.assert_allclose(y.asnumpy(), 1.7 * np.tanh(x), rtol=1e-6)


def test_scaled_tanh_gradient(example_ops):
    for scale in (1.0, -2.5, 0.0):
        check_op("ScaledTanh", shapes=[(3, 5)], params=dict(scale=scale),
                 ref=lambda x, scale: scale * np.tanh(x))


def test_scaled_tanh_declares_needs_and_inplace(example_ops):
    op = cn.ops.make("ScaledTanh", dict(scale=2))
    assert (op.needs_inputs, op.needs_outputs, op.needs_out_grads) == ([0], [1], [1])
    assert op.inplace == [(0, 0)] and op.backward_inplace == [(0, 0)]


def test_squared_distance_gradient(example_ops):
    check_op("SquaredDistance", shapes=[(7, 4), (7, 4)], ref=lambda a, b: ((a - b) ** 2).sum(1))
    op = cn.ops.make("SquaredDistance")
    assert op.input_names == ["a", "b"] and op.needs_outputs == [0]
    cn.testing.expect_error(lambda: op.infer_shape([(2, 3, 4), None]), "SquaredDistance",
                            "(N, D)", "(2, 3, 4)")


def test_cached_load_does_not_recompile(example_ops, example_sources, example_build_dir):
    kw = dict(build_directory=example_build_dir)
    first = cpp_extension.build("example_ops", example_sources, **kw)
    mtime = os.stat(first).st_mtime_ns
    assert cpp_extension.build("example_ops", example_sources, **kw) == first
    assert os.stat(first).st_mtime_ns == mtime
    assert cpp_extension.load("example_ops", example_sources, **kw) == example_ops


def test_cmake_project(example_ops, example_dir, tmp_path):
    """find_package(coarsenet CONFIG) + coarsenet::sdk, then the example package's own tests
    (gradient checks) in a fresh process, where these op names are still free."""
    cmake = shutil.which("cmake")
    if cmake is None:
        pytest.skip("cmake not installed")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    build = tmp_path / "build"
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    subprocess.run([cmake, "-S", example_dir, "-B", str(build), *generator,
                    "-DCMAKE_BUILD_TYPE=Release", f"-DPython_EXECUTABLE={sys.executable}"],
                   check=True, capture_output=True, env=env, cwd=tmp_path)
    subprocess.run([cmake, "--build", str(build)], check=True, capture_output=True)
    package = tmp_path / "site" / "coarsenet_custom_op"
    shutil.copytree(os.path.join(example_dir, "coarsenet_custom_op"), package)
    shutil.copy(build / "libcustom_ops.so", package)
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path / "site"), env["PYTHONPATH"]])
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         os.path.join(example_dir, "tests")], capture_output=True, text=True, env=env, cwd=tmp_path,
        check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


def test_pip_wheel_of_the_example_project(example_dir, tmp_path):
    """The packaged flow: scikit-build-core (in the test extra) builds the example against this
    coarsenet, as a user's `pip install` would."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps",
                    "-w", str(tmp_path / "dist"), example_dir],
                   check=True, capture_output=True, env=env, cwd=tmp_path)
    (wheel,) = (tmp_path / "dist").glob("coarsenet_custom_op-*.whl")
    shutil.unpack_archive(str(wheel), str(tmp_path / "site"), format="zip")
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path / "site"), env["PYTHONPATH"]])
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         os.path.join(example_dir, "tests")], capture_output=True, text=True, env=env,
        cwd=tmp_path, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
