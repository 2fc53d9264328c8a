#!/usr/bin/env bash
# First run on a fresh machine: installs dependencies, builds tomograd and runs `tomograd doctor`
# (library versions, CUDA devices, a forward/backward pass, DICOM/NIfTI/PNG round trips,
# XGBoost and libsvm). The end-to-end BMD demo replaces this once the bmd app lands.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/install-deps.sh --no-bench
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$jobs" --target tomograd_app
./build/apps/tomograd/tomograd doctor
