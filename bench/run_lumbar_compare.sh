#!/usr/bin/env bash
# The lumbar models on one synthetic cohort: sagittal, axial, combined (2.5D, shared levels) and the
# 3D networks (ResNet3D-10, DenseNet121, SegResNet, DynUNet, ViT, SwinUNETR: configs/lumbar_3d*.yaml),
# fold 0 of a 4-fold split (or every fold of FOLDS), one shared localizer; then out-of-fold
# evaluation with one comparison table, each model's test-set submission scored, and a table of
# each model's out-of-fold score, the prior-only baseline on the same rows (needs at least two
# trained folds: TRAIN_FOLDS=all), training time and peak memory (the train process's maximum
# resident set, /usr/bin/time).
# Usage: bench/run_lumbar_compare.sh [OUT_DIR] [BUILD_DIR]
#   settings: EPOCHS (15), STUDIES (80), SCALE (0.125), FOLDS (4), TRAIN_FOLDS (0, or all),
#   MODELS (all: sagittal axial combined 3d 3d_densenet 3d_segresnet 3d_dynunet 3d_vit
#   3d_swinunetr), DEVICE (the configs' train.device)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/demo/lumbar_compare}
build=${2:-$root/build}
epochs=${EPOCHS:-15}
studies=${STUDIES:-80}
scale=${SCALE:-0.125}
folds=${FOLDS:-4}
train_folds=${TRAIN_FOLDS:-0}
models=(${MODELS:-sagittal axial combined 3d 3d_densenet 3d_segresnet 3d_dynunet 3d_vit 3d_swinunetr})
lumbar=$build/apps/lumbar/lumbar
mkdir -p "$out"
data=$out/data
[ -f "$data/train.csv" ] || "$build/apps/tomograd/tomograd" -q synth lumbar --out "$data" --studies "$studies" \
  --test-studies $((studies / 5)) --scale "$scale" --seed 11
common=(--data "$data" --force --set data.folds="$folds" --set train.epochs="$epochs")
[ "$train_folds" = all ] || common+=(--fold "$train_folds")
[ -n "${DEVICE:-}" ] && common+=(--device "$DEVICE")

# train KIND [--localizer RUN]: one model, timed; RUN/time.txt = "<seconds> <peak RSS kB>".
train() {
  local kind=$1; shift
  local extra=()
  [ "$kind" = 3d ] && extra=(--set 'input.volume_shape=[12, 48, 48]' --set model.arch=resnet3d_10)
  mkdir -p "$out/$kind"
  /usr/bin/time -f "%e %M" -o "$out/$kind.time" \
    "$lumbar" -q train --config "$root/configs/lumbar_$kind.yaml" --out "$out/$kind" "${common[@]}" "${extra[@]}" "$@"
  mv "$out/$kind.time" "$out/$kind/time.txt"
}
# The first model trains the localizer (its time includes it); the others copy it.
train sagittal
for kind in "${models[@]}"; do
  [ "$kind" = sagittal ] || train "$kind" --localizer "$out/sagittal"
done
runs=()
for kind in sagittal "${models[@]}"; do [[ " ${runs[*]} " == *" $out/$kind "* ]] || runs+=("$out/$kind"); done
"$lumbar" -q evaluate "${runs[@]}" --out "$out/comparison" --force --bootstrap 200
echo "== localizer error (mm, fold 0) =="
column -s, -t < "$out/sagittal/localizer/error.csv" | head -6
echo "== out-of-fold (folds: $train_folds of $folds) =="
cat "$out/comparison/comparison.md"
echo
echo "== per model: out-of-fold score, prior-only baseline, training time, peak memory, test-set score =="
echo "| model | config | arch | out-of-fold score | prior-only | train s | peak RSS MB | test score |"
echo "|---|---|---|---:|---:|---:|---:|---:|"
for run in "${runs[@]}"; do
  kind=$(basename "$run")
  "$lumbar" -q infer "$run" --data "$data" --out "$run/submission.csv" --force > /dev/null
  test=$("$lumbar" score --json --solution "$data/test_solution.csv" --submission "$run/submission.csv" |
         sed -n 's/.*"score":\([^,}]*\).*/\1/p')
  read -r secs rss < "$run/time.txt"
  # RUN/eval/metrics.json (written by the comparison): null when fewer than two folds were trained.
  prior=$(python3 -c 'import json, sys; v = json.load(open(sys.argv[1])).get("prior_score")
print("%.4f" % v if isinstance(v, (int, float)) else "-")' "$run/eval/metrics.json")
  # comparison.csv: rank,run,input_kind,arch,folds,studies,labelled_rows,score,...
  awk -F, -v k="$kind" -v s="$secs" -v m="$rss" -v t="$test" -v p="$prior" -v c="lumbar_$kind.yaml" \
    'NR > 1 && $2 == k { printf "| %s | %s | %s | %.4f | %s | %.0f | %.0f | %.4f |\n", k, c, $4, $8, p, s, m / 1024, t }' \
    "$out/comparison/comparison.csv"
done
