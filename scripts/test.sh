#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what is missing (apt), fetches the external
# test data, configures, builds (Release, -j of the core count) and runs ctest.
# Usage: scripts/test.sh [ctest arguments...]   e.g. scripts/test.sh -R tests_io
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

scripts/install-deps.sh
scripts/fetch-test-data.sh

jobs=$(nproc 2>/dev/null || echo 2)
build=${TOMOGRAD_BUILD_DIR:-build}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTOMOGRAD_BUILD_TESTS=ON \
  -DTOMOGRAD_BUILD_BENCH=ON >"$build.configure.log" 2>&1 || { cat "$build.configure.log"; exit 1; }
echo "test.sh: building with $jobs jobs (log: $build.build.log)"
start=$(date +%s)
if ! cmake --build "$build" -j "$jobs" >"$build.build.log" 2>&1; then
  grep -E 'error|FAILED' -A5 "$build.build.log" | head -80
  exit 1
fi
echo "test.sh: build took $(( $(date +%s) - start )) s"

cd "$build"
ctest --output-on-failure -j "$jobs" --timeout 900 "$@"
