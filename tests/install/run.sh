#!/usr/bin/env bash
# Installs the build into a temporary prefix, then configures, builds and runs a downstream
# project that uses find_package(tomograd). Usage: run.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
test -x "$work/prefix/bin/tomograd"
# The light front end runs `--version` itself and finds tomograd-torch in libexec/ for the rest.
"$work/prefix/bin/tomograd" --version >/dev/null
"$work/prefix/bin/tomograd" info --help | grep -q 'info' || { echo "installed tomograd could not run 'info'"; exit 1; }
test -f "$work/prefix/include/tomograd/io/dicom.hpp"
cmake -S "$src/tests/install" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$work/prefix" >"$work/configure.log" 2>&1 || { cat "$work/configure.log"; exit 1; }
cmake --build "$work/build" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
"$work/build/downstream" "$work/v.nii.gz"
