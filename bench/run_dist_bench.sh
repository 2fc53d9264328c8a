#!/usr/bin/env bash
# Data-parallel training on one machine: `bmd train` as 1 process and as N processes (the
# environment torchrun sets) on the same synthetic cohort, config and global batch, and the
# training samples/s of each (history.csv's samples_per_s, mean over epochs after the first).
# On the CPU the ranks speak Gloo; with DEVICE=cuda rank r trains on cuda:r (its LOCAL_RANK)
# and the ranks speak NCCL where the build has it (BACKEND=gloo to compare), e.g.
#   DEVICE=cuda WORLDS="1 2 4 8" bench/run_dist_bench.sh build-torch-python
# Builds nothing: needs a build (scripts/test.sh makes one).
# Usage: bench/run_dist_bench.sh [BUILD_DIR]   env: WORLDS="1 2" EPOCHS=4 PATIENTS=40 BATCH=16
#                                              DEVICE=cpu|cuda BACKEND=auto|gloo|nccl
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
tg=$build/apps/tomograd/tomograd
bmd=$build/apps/bmd/bmd
worlds=${WORLDS:-1 2}
epochs=${EPOCHS:-4}
patients=${PATIENTS:-40}
batch=${BATCH:-16}
device=${DEVICE:-cpu}
backend=${BACKEND:-auto}
cores=$(nproc)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$tg" -q synth bmd --out "$work/cohort" --patients "$patients" --scale 0.0625 --seed 5
sets=(--set data.cache_dir="$work/cache" --set preprocess.resize.height=64 --set preprocess.resize.width=64
      --set slices.count=3 --set data.batch_size="$batch" --set train.epochs="$epochs"
      --set eval.bootstrap=0 --set train.loader.workers=1 --set train.device="$device")
# Fill the preprocessing cache first so that no run pays for it.
"$bmd" -q train --config "$root/configs/bmd_resnet18.yaml" --manifest "$work/cohort/manifest.csv" \
  --out "$work/warm" "${sets[@]}" --set train.epochs=1 >/dev/null
echo "| processes | backend | threads each | global batch | samples/s (train) | vs 1 process |"
echo "|---:|---|---:|---:|---:|---:|"
base=""
for w in $worlds; do
  threads=$(( cores / w > 0 ? cores / w : 1 ))
  out="$work/run$w"
  pids=()
  port=$("$root/scripts/free-port.sh")
  for ((r = 0; r < w; r++)); do
    env_vars=()
    if (( w > 1 )); then
      env_vars=(RANK=$r WORLD_SIZE=$w LOCAL_RANK=$r MASTER_ADDR=127.0.0.1 MASTER_PORT=$port
                TOMOGRAD_DIST_BACKEND=$backend)
    fi
    env "${env_vars[@]}" OMP_NUM_THREADS=$threads "$bmd" train --config "$root/configs/bmd_resnet18.yaml" \
      --manifest "$work/cohort/manifest.csv" --out "$out" "${sets[@]}" >"$work/log$w.$r" 2>&1 &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || { cat "$work"/log$w.*; exit 1; }; done
  sps=$(awk -F, 'NR==1{for(i=1;i<=NF;i++) if($i=="samples_per_s") c=i} NR>2{s+=$c; n++} END{printf "%.1f", s/n}' "$out/history.csv")
  [[ -z $base ]] && base=$sps
  ratio=$(awk -v a="$sps" -v b="$base" 'BEGIN{printf "%.2f", a/b}')
  # The backend rank 0 joined with, from its log ("... NCCL via ..." / "... Gloo via ...").
  used=$( ((w > 1)) && grep -o -m1 -E '(NCCL|Gloo) via' "$work/log$w.0" | cut -d' ' -f1 || echo "-")
  echo "| $w | ${used:-?} | $threads | $batch | $sps | ${ratio}x |"
done
echo
echo "($(nproc) cores, $(uname -m), $device; bmd_resnet18 at 64², 3 slices, $patients patients, $epochs epochs)"
