import os

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
