#!/usr/bin/env bash
# The end-to-end BMD demo on a fresh machine: installs dependencies (apt), builds, then on a
# synthetic lumbar MRI cohort the tool generates itself (tomograd synth bmd, docs/synthetic_bmd.md):
# trains ResNet18 on 2.5D slices, evaluates it on the test patients, extracts CNN features, fits
# SVR, XGBoost, random forest and ElasticNet on them and prints the comparison table.
# About 4 minutes on 2 CPU cores after the build.
#
# Usage: scripts/demo.sh [--patients N] [--epochs E] [--out DIR]
# Output: DIR (default demo/) holds cohort/, cache/ and run-<timestamp>/ with every report;
# earlier runs are kept.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
patients=120
epochs=8
out=demo
while [ $# -gt 0 ]; do
  case "$1" in
    --patients) patients=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "demo.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

scripts/install-deps.sh --no-bench
jobs=$(nproc 2>/dev/null || echo 2)
# LibTorch: a CUDA PyTorch's where python3 has one (build-torch-python/), else Debian's (build/);
# TOMOGRAD_TORCH=debian|python forces either (scripts/torch-select.sh, docs/gpu.md).
source scripts/torch-select.sh
tomograd_select_torch build
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release "${torch_cmake_args[@]}" >/dev/null
cmake --build "$build" -j "$jobs" --target tomograd_app bmd_app

case $build in /*) ;; *) build=$root/$build ;; esac
tomograd=$build/apps/tomograd/tomograd
bmd=$build/apps/bmd/bmd
mkdir -p "$out"
start=$(date +%s)
cohort=$out/cohort-$patients
if [ ! -f "$cohort/manifest.csv" ]; then
  "$tomograd" synth bmd --out "$cohort" --patients "$patients" --scale 0.125 --seed 7
fi
run=$out/run-$(date +%Y%m%d-%H%M%S)
# The recipe of configs/bmd_resnet18.yaml at demo size: 64² inputs, no ImageNet weights (none are
# shipped), so a higher learning rate for training from scratch.
"$bmd" train --config configs/bmd_resnet18.yaml --manifest "$cohort/manifest.csv" --out "$run" \
  --set data.cache_dir="$out/cache" --set preprocess.resize.height=64 --set preprocess.resize.width=64 \
  --set train.epochs="$epochs" --set optim.lr=1e-3
"$bmd" evaluate "$run" --split test
"$bmd" extract-features "$run"
"$bmd" fit-ml "$run" --model all
echo
echo "BMD demo: CNN vs classical models on its features, test patients, 95 % bootstrap intervals"
"$bmd" -q compare "$run"
echo
echo "reports: $run/eval/test/report.html, $run/compare.html, $run/ml/*/test/report.html"
echo "demo took $(( $(date +%s) - start )) s after the build"
