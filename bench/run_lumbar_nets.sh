#!/usr/bin/env bash
# Training speed and peak memory of each lumbar 3D network at the input its recipe uses
# (configs/lumbar_3d*.yaml: the network of the `model:` section with its 25 x 3 head and metadata
# fusion, input.volume_shape, data.batch_size): `tomograd bench train --config` (forward, backward
# and AdamW step on random inputs), REPEAT separate processes per network (so each peak resident
# set is that network's alone), one Markdown table: samples/s mean ± standard deviation over the
# repeats, and the largest peak RSS (CPU: the process's maximum resident set, LibTorch included;
# CUDA: the caching allocator's peak). The machine, commit, threads and load average go above it.
# Usage: bench/run_lumbar_nets.sh [BUILD_DIR]
#   settings: NETS (3d 3d_densenet 3d_segresnet 3d_dynunet 3d_vit 3d_swinunetr), REPEAT (3),
#   STEPS (3 timed steps), WARMUP (1), THREADS (all cores), DEVICE (cpu), BATCH (the configs' 8)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
nets=(${NETS:-3d 3d_densenet 3d_segresnet 3d_dynunet 3d_vit 3d_swinunetr})
repeat=${REPEAT:-3}
threads=${THREADS:-$(nproc)}
device=${DEVICE:-cpu}
app=$build/apps/tomograd/tomograd
extra=()
[ -n "${BATCH:-}" ] && extra+=(--batch "$BATCH")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')," \
  "$(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores, device $device, $threads threads," \
  "steps ${STEPS:-3} after ${WARMUP:-1} warm-up, $repeat processes per network"
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for net in "${nets[@]}"; do
  for ((i = 0; i < repeat; i++)); do
    "$app" -q bench train --config "$root/configs/lumbar_$net.yaml" --device "$device" --threads "$threads" \
      --steps "${STEPS:-3}" --warmup "${WARMUP:-1}" "${extra[@]}" --json |
      sed "s|^{|{\"net\":\"$net\",|" >> "$tmp/results.jsonl"
  done
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$tmp/results.jsonl" <<'EOF'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
print(f'# BLAS (linear layers, attention): {rows[0].get("blas", "?")}')
print("| network | config | arch | input (C×D×H×W) | batch | train samples/s | peak RSS MB |")
print("|---|---|---|---|---:|---:|---:|")
for net in dict.fromkeys(r["net"] for r in rows):
    rs = [r for r in rows if r["net"] == net]
    sps = [r["samples_per_s"] for r in rs]
    sd = statistics.stdev(sps) if len(sps) > 1 else 0.0
    r = rs[0]
    shape = f'{r["in_channels"]}×{r["depth"]}×{r["size"]}×{r["width"]}'
    print(f'| {net} | lumbar_{net}.yaml | {r["model"]} | {shape} | {r["batch"]} | '
          f'{statistics.mean(sps):.2f} ± {sd:.2f} (n={len(sps)}) | {max(x["peak_memory_mb"] for x in rs):.0f} |')
EOF
