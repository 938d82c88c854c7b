"""Fails when a test file on disk is not collected by `pytest tests`.

pytest silently skips folders named like build outputs (its default norecursedirs has dist,
build, venv, ...): the distributed tests once lived in tests/dist and never ran in CI. This
compares the test files pytest collects with every tests/**/test_*.py on disk.
"""
from __future__ import annotations

import pathlib
import subprocess
import sys


def main() -> int:
    root = pathlib.Path(__file__).resolve().parent.parent
    on_disk = {p.relative_to(root).as_posix() for p in (root / "tests").rglob("test_*.py")}
    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "tests"],
                            cwd=root, capture_output=True, text=True)
    collected = {line.split("::", 1)[0] for line in result.stdout.splitlines() if "::" in line}
    missing = sorted(on_disk - collected)
    if result.returncode not in (0, 5) or missing:
        print(result.stdout[-3000:], result.stderr[-3000:], sep="\n")
        print("test files on disk that pytest does not collect:", *missing, sep="\n  ")
        return 1
    print(f"all {len(on_disk)} test files are collected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
