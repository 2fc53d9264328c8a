#!/usr/bin/env bash
# ctest nccl_compile: configures and builds tests/nccl (see its CMakeLists.txt) in BUILD/nccl-check.
# Skips (77) where no nccl.h and CUDA runtime headers are found: a CUDA toolkit in /usr/local/cuda,
# or NCCL_INCLUDE_DIR and CUDA_INCLUDE_DIR naming them.
set -euo pipefail
build=$1 src=$2
nccl=${NCCL_INCLUDE_DIR:-/usr/local/cuda/include}
cuda=${CUDA_INCLUDE_DIR:-/usr/local/cuda/include}
if [ ! -f "$nccl/nccl.h" ] || [ ! -f "$cuda/cuda_runtime_api.h" ]; then
  echo "nccl_compile: skipped: no nccl.h in $nccl or no cuda_runtime_api.h in $cuda"
  exit 77
fi
dir=$build/nccl-check
rm -rf "$dir"; mkdir -p "$build"
cmake -S "$src/tests/nccl" -B "$dir" -DNCCL_INCLUDE_DIR="$nccl" -DCMAKE_CXX_FLAGS="-isystem $cuda" \
  -DCMAKE_BUILD_TYPE=Release >"$dir.configure.log" 2>&1 || { cat "$dir.configure.log"; exit 1; }
grep 'NCCL process group' "$dir.configure.log"
cmake --build "$dir" -j2
echo "nccl_compile: nccl_group.cpp and distributed.cpp compiled with TOMOGRAD_WITH_NCCL"
