#!/usr/bin/env bash
# tomograd vs PyTorch eager on the same LibTorch, model, input, batch, threads and memory format,
# for training steps and inference. Builds nothing: needs a build (scripts/test.sh makes one) and
# Debian's python3-torch + python3-torchvision (or a CUDA PyTorch with DEVICE=cuda).
# Usage: bench/run_vs_pytorch.sh [BUILD_DIR]      env: DEVICE=cpu|cuda THREADS=N STEPS=N PYTHON=python3 with the torch to compare against (default /usr/bin/python3)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
tg=$build/apps/tomograd/tomograd
device=${DEVICE:-cpu}
threads=${THREADS:-$(nproc)}
steps=${STEPS:-10}
py=${PYTHON:-/usr/bin/python3}
[[ -x $py ]] || py=python3
# model  channels size depth batch channels_last
cases=(
  "resnet18 3 64 1 16 0"
  "resnet18 3 64 1 16 1"
  "resnet50 3 64 1 8 0"
  "resnet50 3 64 1 8 1"
  "simple_cnn 1 256 1 8 0"
  "resnet3d_18 3 64 16 2 0"
)
echo "| mode | model | input | batch | channels_last | threads | PyTorch samples/s | tomograd samples/s | ratio |"
echo "|---|---|---|---:|---|---:|---:|---:|---:|"
for c in "${cases[@]}"; do
  read -r model ch size depth batch cl <<<"$c"
  for mode in train infer; do
    clflag=(); pyflag=()
    if [[ $cl == 1 ]]; then clflag=(--channels-last); pyflag=(--channels-last); fi
    theirs=$($py "$root/bench/pytorch_eager.py" --model "$model" --mode "$mode" --channels "$ch" --size "$size" \
      --depth "$depth" --batch "$batch" --threads "$threads" --steps "$steps" --device "$device" "${pyflag[@]}")
    ours=$("$tg" -q bench "$mode" --model "$model" --in-channels "$ch" --size "$size" --depth "$depth" \
      --batch "$batch" --threads "$threads" --steps "$steps" --device "$device" --json "${clflag[@]}")
    $py - "$mode" "$model" "$ch" "$size" "$depth" "$batch" "$cl" "$threads" "$theirs" "$ours" <<'PY'
import json, sys
mode, model, ch, size, depth, batch, cl, threads, theirs, ours = sys.argv[1:]
t, o = json.loads(theirs), json.loads(ours)
shape = f"{ch}x{depth}x{size}x{size}" if model.endswith("3d_18") else f"{ch}x{size}x{size}"
print(f"| {mode} | {model} | {shape} | {batch} | {'yes' if cl == '1' else 'no'} | {threads} | "
      f"{t['samples_per_s']:.1f} | {o['samples_per_s']:.1f} | {o['samples_per_s'] / t['samples_per_s']:.2f} |")
PY
  done
done
# The BLAS both sides multiply matrices with (the same process-wide libblas on Debian).
echo
echo "(BLAS: $($py -c 'import json, sys; print(json.loads(sys.argv[1]).get("blas", "?"))' "$ours"))"
