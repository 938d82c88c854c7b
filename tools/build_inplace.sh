#!/usr/bin/env bash
# Developer build: compiles coarsenet._core into the source tree so `PYTHONPATH=. pytest` works
# without reinstalling. Incremental: only changed op files recompile. Users install with pip.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build/dev}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -Dpybind11_DIR="$(python -m pybind11 --cmakedir)" -DPython_EXECUTABLE="$(command -v python)" >/dev/null
cmake --build "$build" -j 2
cp "$build"/_core*.so coarsenet/
