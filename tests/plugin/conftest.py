import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from coarsenet import cpp_extension

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "examples", "custom_op")
EXAMPLE_SOURCES = [os.path.join(EXAMPLE, "src", f)
                   for f in ("scaled_tanh.cc", "squared_distance.cc")]


@pytest.fixture(scope="session")
def example_dir():
    return EXAMPLE


@pytest.fixture(scope="session")
def example_sources():
    return list(EXAMPLE_SOURCES)


@pytest.fixture(scope="session")
def example_build_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("extensions"))


@pytest.fixture(scope="session")
def example_ops(example_build_dir):
    """The example op library, compiled once per test session and loaded."""
    return cpp_extension.load("example_ops", EXAMPLE_SOURCES, build_directory=example_build_dir)


BROKEN_MODES = ["HEALTHY", "DUP_PLUGIN", "DUP_BUILTIN", "ABI_OP", "ABI_1_0", "ABI_ENTRY",
                "NO_ENTRY", "THROWING"]


@pytest.fixture(scope="session")
def broken_libs(tmp_path_factory):
    """broken_plugins.cc compiled once per mode (in parallel, -O0 for speed): mode -> path."""
    root = str(tmp_path_factory.mktemp("broken_plugins"))
    source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "broken_plugins.cc")

    def build(mode):
        return mode, cpp_extension.build(f"broken_{mode.lower()}", [source],
                                         extra_cflags=["-O0", f"-DMODE_{mode}"],
                                         build_directory=root)

    with ThreadPoolExecutor(4) as pool:
        return dict(pool.map(build, BROKEN_MODES))
