#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what is missing (apt), fetches the external
# test data, configures, builds (Release, -j of the core count) and runs ctest.
# Usage: scripts/test.sh [--sanitize] [ctest arguments...]   e.g. scripts/test.sh -R tests_io
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# --sanitize: the reader layers' unit tests (tests_core, tests_io: CSV, YAML, DICOM, NIfTI, gzip,
# PNG) built with AddressSanitizer + UndefinedBehaviorSanitizer in <build>-sanitize/. Only those:
# a sanitized build of every LibTorch layer takes hours on two cores. The weight readers (pickle,
# safetensors) run under the same sanitizers in scripts/fuzz.sh.
sanitize_cmake=()
sanitize_build=()
if [[ ${1:-} == --sanitize ]]; then
  shift
  flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
  sanitize_cmake=(-DCMAKE_CXX_FLAGS="$flags" -DCMAKE_C_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags"
                  -DTOMOGRAD_BUILD_BENCH=OFF)
  sanitize_build=(--target tests_core --target tests_io)
  set -- -R '^tests_(core|io):' "$@"
  # LibTorch and DCMTK keep process-lifetime allocations; leaks in our code show up in the fuzzers.
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
fi

scripts/install-deps.sh
scripts/fetch-test-data.sh

# Layer table and size limits first: seconds, and no build needed.
python3 scripts/check-layout.py

jobs=$(nproc 2>/dev/null || echo 2)
# LibTorch: a CUDA PyTorch's where python3 has one (build-torch-python/), else Debian's (build/);
# TOMOGRAD_TORCH=debian|python forces either (scripts/torch-select.sh, docs/gpu.md).
source scripts/torch-select.sh
tomograd_select_torch build
[[ ${#sanitize_build[@]} -eq 0 ]] || build="$build-sanitize"
# Logs go into the build folder, never into the source tree.
mkdir -p "$build"
configure_log="$build/configure.log"
build_log="$build/build.log"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTOMOGRAD_BUILD_TESTS=ON \
  -DTOMOGRAD_BUILD_BENCH=ON "${torch_cmake_args[@]}" "${sanitize_cmake[@]}" >"$configure_log" 2>&1 || { cat "$configure_log"; exit 1; }
echo "test.sh: building with $jobs jobs (log: $build_log)"
start=$(date +%s)
if ! cmake --build "$build" -j "$jobs" "${sanitize_build[@]}" >"$build_log" 2>&1; then
  grep -E 'error|FAILED' -A5 "$build_log" | head -80
  exit 1
fi
echo "test.sh: build took $(( $(date +%s) - start )) s"

cd "$build"
# ctest runs $jobs tests side by side: one LibTorch thread each unless OMP_NUM_THREADS says
# otherwise (the apps' own default, one per physical core, would oversubscribe the cores $jobs
# times; tests that check the default unset it).
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
ctest --output-on-failure -j "$jobs" --timeout 900 "$@"
