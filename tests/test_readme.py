"""Every command in README.md, run as a user runs it: from the checkout's root, as written.

Install and test commands are what .ci/run itself runs (checked here to be the same text); the
training commands run here exactly as written, under mpiexec where the README says so; the Python
examples run as they stand.
"""
from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
CI_SCRIPT = (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def _commands() -> list[str]:
    lines = (line.split("  #", 1)[0].strip() for block in _blocks("bash")
             for line in block.splitlines())
    return [part.strip() for line in lines if line for part in line.split(" && ")]


INSTALL_AND_TEST = {"pip install .", 'pip install ".[test,dist,onnx]"', "pytest tests",
                    "pip wheel . --no-deps -C cmake.define.COARSENET_NATIVE=OFF "
                    "-C build-dir=build/portable"}
TRAIN = "python -m coarsenet train"
MPI_TRAIN = "mpiexec -n 2 python -m coarsenet train --kvstore dist_sync"
MPI_HOSTS_TRAIN = "mpiexec -f hosts -n 8 python -m coarsenet train --kvstore dist_sync"


def test_every_readme_command_is_covered_here():
    unknown = [c for c in _commands() if c not in INSTALL_AND_TEST | {TRAIN, MPI_TRAIN,
                                                                       MPI_HOSTS_TRAIN}]
    assert not unknown, f"README commands no test runs: {unknown}"


@pytest.mark.parametrize("command", sorted(INSTALL_AND_TEST))
def test_install_and_test_commands_are_what_ci_runs(command):
    if command in _commands():
        assert re.search(rf"^{re.escape(command)}( |$)", CI_SCRIPT, flags=re.M), command


def _user_env() -> dict:
    """The environment of a user whose venv is active: its bin first on PATH, so `python` and
    `mpiexec` are the venv's; nothing points Python at the checkout."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    if _installed():  # as in CI: the source tree must find the installed extension by itself
        env.pop("PYTHONPATH", None)
    return env


def _installed() -> bool:
    """True when coarsenet is installed in site-packages (as in CI), not only run from the tree."""
    probe = subprocess.run([sys.executable, "-c", "import coarsenet, sys; print(coarsenet.__file__)"],
                           cwd="/", capture_output=True, text=True, env={
                               k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    return probe.returncode == 0


def _run_in_root(command, timeout: int, extra_files: dict | None = None):
    """Runs a README command (a shell line, or an argv list) from the checkout's root, then
    removes what it wrote there."""
    before = set(ROOT.iterdir())
    checkpoints = ROOT / "checkpoints"
    had = set(checkpoints.iterdir()) if checkpoints.exists() else None
    for name, text in (extra_files or {}).items():
        (ROOT / name).write_text(text)
    try:
        return subprocess.run(command, shell=isinstance(command, str), cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout, env=_user_env())
    finally:
        for path in set(ROOT.iterdir()) - before:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        if had is not None:
            for path in set(checkpoints.iterdir()) - had:
                path.unlink()


def test_train_in_checkout_root():
    assert TRAIN in _commands()
    result = _run_in_root(TRAIN, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "epoch  10/10" in result.stdout
    accuracy = float(re.search(r"validation accuracy (\d\.\d+)", result.stdout).group(1))
    assert accuracy > 0.9


needs_mpi = pytest.mark.skipif(shutil.which("mpiexec", path=os.path.dirname(sys.executable))
                               is None and shutil.which("mpiexec") is None,
                               reason="mpiexec not installed (pip install '.[dist]')")


@needs_mpi
def test_mpiexec_train_in_checkout_root_with_the_progress_bar():
    assert MPI_TRAIN in _commands()
    result = _run_in_root(MPI_TRAIN, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("epoch  10/10") == 1  # rank 0 reports
    assert "validation accuracy" in result.stdout


@needs_mpi
def test_mpiexec_with_a_hosts_file_on_this_host():
    """The several-hosts command, with a hosts file naming only this machine."""
    assert MPI_HOSTS_TRAIN in _commands()
    result = _run_in_root(MPI_HOSTS_TRAIN, timeout=600, extra_files={"hosts": "localhost\n"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("epoch  10/10") == 1


def test_readme_python_examples_run_in_order():
    """The Python blocks, run one after another in one fresh interpreter from the checkout's
    root, as a reader following the README would (later blocks use names from earlier ones)."""
    script = "\n".join(_blocks("python"))
    result = _run_in_root([sys.executable, "-c", script], timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
