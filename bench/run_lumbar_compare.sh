#!/usr/bin/env bash
# The four lumbar models on one synthetic cohort: sagittal, axial, combined (2.5D, shared levels)
# and 3D, fold 0 of a 4-fold split, one shared localizer; then out-of-fold evaluation with one
# comparison table, and each model's test-set submission scored. Minutes on 2 CPU cores.
# Usage: bench/run_lumbar_compare.sh [OUT_DIR] [BUILD_DIR]   (extra settings: EPOCHS, STUDIES, SCALE)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/demo/lumbar_compare}
build=${2:-$root/build}
epochs=${EPOCHS:-15}
studies=${STUDIES:-80}
scale=${SCALE:-0.125}
lumbar=$build/apps/lumbar/lumbar
mkdir -p "$out"
data=$out/data
[ -f "$data/train.csv" ] || "$build/apps/tomograd/tomograd" -q synth lumbar --out "$data" --studies "$studies" \
  --test-studies $((studies / 5)) --scale "$scale" --seed 11
common=(--data "$data" --fold 0 --force --set data.folds=4 --set train.epochs="$epochs")
"$lumbar" -q train --config "$root/configs/lumbar_sagittal.yaml" --out "$out/sagittal" "${common[@]}"
for kind in axial combined 3d; do
  extra=()
  [ "$kind" = 3d ] && extra=(--set 'input.volume_shape=[12, 48, 48]' --set model.arch=resnet3d_10)
  "$lumbar" -q train --config "$root/configs/lumbar_$kind.yaml" --out "$out/$kind" --localizer "$out/sagittal" \
    "${common[@]}" "${extra[@]}"
done
"$lumbar" -q evaluate "$out/sagittal" "$out/axial" "$out/combined" "$out/3d" --out "$out/comparison" --force
echo "== localizer error (mm, fold 0) =="
column -s, -t < "$out/sagittal/localizer/error.csv" | head -6
echo "== out-of-fold (fold 0) =="
cat "$out/comparison/comparison.md"
echo "== test set (submission scored against test_solution.csv) =="
for kind in sagittal axial combined 3d; do
  "$lumbar" -q infer "$out/$kind" --data "$data" --out "$out/$kind/submission.csv" --force
  printf '%-9s %s\n' "$kind" "$("$lumbar" score --json --solution "$data/test_solution.csv" --submission "$out/$kind/submission.csv")"
done
