#!/usr/bin/env bash
# Preprocesses a generated 512x512x40 head CT phantom (brain window, brain extraction, resize to
# 256x256, z-score inside the brain) with tomograd on one core and on all cores, and with the same
# steps in numpy + scipy.ndimage + scikit-image; best of 3 each. Needs a build and
# python3-scipy python3-skimage (scripts/install-deps.sh).
# Usage: bench/run_preprocess_bench.sh [BUILD_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
one=$(taskset -c 0 "$build/bench/bench_preprocess" "$dir" 40 512 3)
all=$("$build/bench/bench_preprocess" "$dir" 40 512 3)
theirs=$(/usr/bin/python3 "$root/bench/preprocess_numpy.py" "$dir" 3)
echo "tomograd, 1 core:    $one"
echo "tomograd, all cores: $all"
echo "numpy+scipy+skimage: $theirs"
/usr/bin/python3 - "$one" "$all" "$theirs" <<'PY'
import json, sys
one, all_, theirs = (json.loads(a) for a in sys.argv[1:4])
for name, o in (("1 core", one), ("all cores", all_)):
    print(f"tomograd {name:9s} {o['volume_seconds']:6.2f} s/volume {o['ms_per_slice']:7.1f} ms/slice "
          f"(brain extraction {o['brain_extraction_seconds']:.2f} s) Dice {o['dice']:.3f} "
          f"= {theirs['volume_seconds'] / o['volume_seconds']:.1f}x numpy+scipy+skimage")
print(f"numpy+scipy+skimage {theirs['volume_seconds']:6.2f} s/volume {theirs['ms_per_slice']:7.1f} ms/slice "
      f"(brain extraction {theirs['brain_extraction_seconds']:.2f} s) Dice {theirs['dice']:.3f}")
PY
