#!/usr/bin/env bash
# Reads a generated 512x512x40 uncompressed CT series with tomograd (1 thread, all threads) and
# with pydicom + numpy, best of 5 each, warm page cache. Needs a build (scripts/test.sh does one).
# Usage: bench/run_io_bench.sh [BUILD_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
ours=$("$build/bench/bench_io" "$dir" 40 512 5)
theirs=$(/usr/bin/python3 "$root/bench/pydicom_read.py" "$dir" 5)
echo "tomograd: $ours"
echo "pydicom:  $theirs"
/usr/bin/python3 - "$ours" "$theirs" <<'PY'
import json, sys
ours, theirs = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for k in ("single_thread", "all_threads"):
    o = ours[k]
    print(f"{k:14s} {o['slices_per_s']:8.1f} slices/s {o['mb_per_s']:8.1f} MB/s  "
          f"= {o['slices_per_s'] / theirs['slices_per_s']:.2f}x pydicom+numpy "
          f"({theirs['slices_per_s']:.1f} slices/s, {theirs['mb_per_s']:.1f} MB/s)")
PY
