#!/usr/bin/env bash
# One-shot GPU check, for whoever has a machine with a CUDA PyTorch (docs/gpu.md): builds the
# full project against that PyTorch's LibTorch (Debian libraries from .gpudeps/full.tar.xz where
# there is no apt: scripts/pack-gpu-deps.sh), runs the [gpu] tests, the three apps end to end on
# tiny synthetic cohorts on the GPU, a bmd run trained there predicting the same on the CPU, two
# data-parallel ranks training on the one GPU, bench/run_vs_pytorch.sh and bench/run_lumbar_nets.sh
# on the GPU; then prints one table and one JSON summary
# (OUT/summary.json). Exit status 0 only if nothing failed.
#
#   scripts/gpu-check.sh                               on the GPU machine (build-gpu-check/)
#   scripts/gpu-check.sh --device cpu --skip-build --build build
#                                                      dry run on a CPU machine: every step that
#                                                      needs no GPU, on the CPU, with an existing build
# Options: --device cuda|cpu (default cuda)  --build DIR  --out DIR (default BUILD/gpu-check)
#          --jobs N (default nproc)  --skip-build  --configure-only (stop after configuring)
#          --no-bench  --steps N (bench steps, default 10)
# Env: TOMOGRAD_PYTHON (default python3): the interpreter with the CUDA PyTorch.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
device=cuda build="" out="" jobs=$(nproc 2>/dev/null || echo 2) skip_build=0 configure_only=0 bench=1 steps=10
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --skip-build) skip_build=1; shift ;;
    --configure-only) configure_only=1; shift ;;
    --no-bench) bench=0; shift ;;
    --steps) steps=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; exit 0 ;;
    *) echo "gpu-check.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case $device in cuda|cpu) ;; *) echo "gpu-check.sh: --device $device: expected cuda or cpu" >&2; exit 2 ;; esac
py=${TOMOGRAD_PYTHON:-python3}
build=${build:-$([[ $device == cuda ]] && echo build-gpu-check || echo build)}
case $build in /*) ;; *) build=$root/$build ;; esac
out=${out:-$build/gpu-check}
rm -rf "$out"; mkdir -p "$out/logs" "$out/work"
results=$out/results.tsv
: >"$results"
bin() { echo "$build/apps/$1/$1"; }

# step NAME FUNCTION: runs FUNCTION with its output in OUT/logs/NAME.log; the log's last line is
# the step's detail. Exit 0 = pass, 77 = skip, anything else = fail.
step() {
  local name=$1 t0 rc status ms detail
  shift
  t0=$(date +%s%N)
  "$@" >"$out/logs/$name.log" 2>&1
  rc=$?
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  case $rc in 0) status=pass ;; 77) status=skip ;; *) status=fail ;; esac
  detail=$(grep -v '^\s*$' "$out/logs/$name.log" | tail -1 | tr '\t' ' ' | cut -c1-300)
  printf '%s\t%s\t%s\t%s\n' "$name" "$status" "$ms" "$detail" >>"$results"
  printf 'gpu-check: %-16s %-4s %6.1f s  %s\n' "$name" "$status" "$(echo "$ms" | awk '{print $1 / 1000}')" "$detail"
}

environment() {
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  "$py" - "$device" <<'PY' || return 1
import sys
try:
    import torch
except ImportError:
    print(f"{sys.executable}: no torch" + (" (a CUDA PyTorch is needed for --device cuda)" if sys.argv[1] == "cuda" else ""))
    sys.exit(1 if sys.argv[1] == "cuda" else 0)
n = torch.cuda.device_count() if torch.cuda.is_available() else 0
names = ", ".join(torch.cuda.get_device_name(i) for i in range(n))
print(f"torch {torch.__version__} CUDA {torch.version.cuda} cxx11_abi {int(torch.compiled_with_cxx11_abi())}: "
      f"{n} GPU(s) {names}")
sys.exit(1 if sys.argv[1] == "cuda" and n == 0 else 0)
PY
}

# The carried Debian libraries (scripts/pack-gpu-deps.sh): unpacked once, then on the search paths.
carried_deps() {
  local tarball=$root/.gpudeps/full.tar.xz dir=$root/.gpudeps/full need have
  [ -f "$tarball" ] || { echo "no .gpudeps/full.tar.xz: the system's libraries are used"; return 77; }
  if [ ! -d "$dir" ] || [ "$tarball" -nt "$dir" ]; then
    rm -rf "$dir" && tar -xJf "$tarball" -C "$root/.gpudeps" && touch "$dir" || return 1
  fi
  need=$(awk '$1 == "glibc" {print $2}' "$root/.gpudeps/full.requires")
  have=$(getconf GNU_LIBC_VERSION | awk '{print $2}')
  if [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -1)" != "$need" ]; then
    echo "the carried libraries need glibc $need, this machine has $have"; return 1
  fi
  # The loader finds the libraries' own dependencies (GDAL under OpenCV's codecs...) only here, and
  # so does the linker when it checks them.
  export LD_LIBRARY_PATH=$dir/usr/lib/$(awk '$1 == "arch" {print $2}' "$root/.gpudeps/full.requires"):$dir/usr/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  echo "unpacked $(du -sh "$dir" | cut -f1) of Debian libraries into .gpudeps/full (glibc $have >= $need)"
}

configure() {
  local args=(-DCMAKE_BUILD_TYPE=Release -DTOMOGRAD_BUILD_TESTS=ON -DTOMOGRAD_BUILD_BENCH=ON)
  if [[ $device == cuda ]]; then
    args+=(-DTOMOGRAD_TORCH=python "-DTOMOGRAD_PYTHON=$(command -v "$py")")
  else
    local keep=$build  # tomograd_select_torch sets build; the folder here is --build's
    source scripts/torch-select.sh && tomograd_select_torch build && args+=("${torch_cmake_args[@]}")
    build=$keep
  fi
  [ -d .gpudeps/full/usr ] && args+=("-DCMAKE_PREFIX_PATH=$root/.gpudeps/full/usr")
  if ! cmake -S . -B "$build" -G Ninja "${args[@]}" >"$out/logs/cmake-configure.log" 2>&1; then
    cat "$out/logs/cmake-configure.log"
    grep -m1 -A8 'CMake Error' "$out/logs/cmake-configure.log" | grep -v '^CMake Error\|^Call Stack' | tr -s ' \n' ' '
    echo
    return 1
  fi
  echo "configured $build: $(grep -m1 '^Torch_DIR' "$build/CMakeCache.txt");" \
    "$(grep -m1 -o 'NCCL process group: .*' "$out/logs/cmake-configure.log")"
}

# The test binaries holding [gpu] tests: tests/unit/<layer>/ -> tests_<layer>, tests/integration/ -> tests_cli.
gpu_test_binaries() {
  grep -l '"\[[^"]*\]\[gpu\]\|\[gpu\]' tests/unit/*/*.cpp tests/integration/*.cpp 2>/dev/null |
    sed -E 's#tests/unit/([a-z]+)/.*#tests_\1#; s#tests/integration/.*#tests_cli#' | sort -u
}

build_targets() {
  local targets=(tomograd_app bmd_app metastasis_app lumbar_app bench_train $(gpu_test_binaries))
  cmake --build "$build" -j "$jobs" --target "${targets[@]}" || return 1
  echo "built ${targets[*]}"
}

gpu_tests() {
  local binaries b n=0 failed=0
  binaries=$(gpu_test_binaries)
  [ -n "$binaries" ] || { echo "no [gpu] tests in the tree"; return 77; }
  for b in $binaries; do
    [ -x "$build/tests/$b" ] || { echo "$b is not built"; failed=1; continue; }
    # The [nccl] test is the nccl step's, which says why it is skipped when this build has no NCCL.
    "$build/tests/$b" "[gpu]~[nccl]" || failed=1
    n=$((n + $("$build/tests/$b" "[gpu]~[nccl]" --list-test-names-only | grep -c .)))
  done
  echo "$n [gpu] test cases in $(echo $binaries | tr ' ' ','): $([[ $failed == 0 ]] && echo passed || echo FAILED)"
  return $failed
}

bmd_tiny=(--set preprocess.resize.height=32 --set preprocess.resize.width=32 --set slices.count=3
          --set data.batch_size=4 --set train.epochs=2 --set optim.lr=1e-3)

# app_e2e APP: synth -> train (2 epochs, on the device) -> evaluate, on a tiny cohort.
app_e2e() {
  local app=$1 w=$out/work/$1 run config data metrics tiny
  tiny=(--set "data.cache_dir=$w/cache" --set train.loader.workers=2 --set "train.device=$device" --set eval.bootstrap=50)
  case $app in
    bmd)
      "$(bin tomograd)" -q synth bmd --out "$w/data" --patients 14 --scale 0.0625 --seed 3 || return 1
      data=(--manifest "$w/data/manifest.csv"); config=configs/bmd_resnet18.yaml
      tiny+=("${bmd_tiny[@]}")
      metrics=eval/test/metrics.json ;;
    metastasis)
      "$(bin tomograd)" -q synth metastasis --out "$w/data" --patients 16 --scale 0.125 --seed 4 || return 1
      data=(--data "$w/data"); config=configs/metastasis_resnet50.yaml
      tiny+=(--set preprocess.resize.height=64 --set preprocess.resize.width=64 --set model.arch=resnet18
             --set model.head.hidden=32 --set train.epochs=2 --set eval.top_slices=3
             --set "curriculum=[{name: all, from_epoch: 0, trainable: ['*'], lr: {'': 1.0e-3}}]")
      metrics=eval/test/metrics.json ;;
    lumbar)
      "$(bin tomograd)" -q synth lumbar --out "$w/data" --studies 8 --test-studies 2 --scale 0.125 --seed 5 || return 1
      data=(--data "$w/data" --fold 0); config=configs/lumbar_sagittal.yaml
      tiny=(--set "train.device=$device" --set data.folds=2 --set train.epochs=1 --set localizer.epochs=1
            --set model.arch=simple_cnn --set 'model.simple_cnn={widths: [8, 16], hidden: 16, input_size: [32, 32]}'
            --set 'localizer.model.simple_cnn={widths: [8, 16], hidden: 16}' --set localizer.size=32)
      metrics=eval/metrics.json ;;
  esac
  run=$w/run
  "$(bin "$app")" train --config "$config" "${data[@]}" --out "$run" "${tiny[@]}" || return 1
  "$(bin "$app")" evaluate "$run" || return 1
  [ -f "$run/$metrics" ] || { echo "$run/$metrics was not written"; return 1; }
  echo "$app trained on $device and evaluated: $("$py" -c 'import json,sys; m=json.load(open(sys.argv[1]));
print(", ".join(f"{k} {m[k]:.4g}" for k in ("auc","mae","r2","score","competition_score") if isinstance(m.get(k), (int, float))) or "metrics.json written")' "$run/$metrics")"
}

# The bmd run trained on the device predicts the same on the CPU (a portable run directory), up to TF32.
bmd_cpu_reload() {
  local run=$out/work/bmd/run manifest=$out/work/bmd/data/manifest.csv
  [ -f "$run/checkpoints/best.pt" ] || { echo "no bmd run (the bmd step failed)"; return 1; }
  "$(bin bmd)" predict --help | grep -q -- '--device' || { echo "bmd predict has no --device yet"; return 77; }
  "$(bin bmd)" predict "$run" --input "$manifest" --out "$out/work/pred_device.csv" --device "$device" || return 1
  CUDA_VISIBLE_DEVICES="" "$(bin bmd)" predict "$run" --input "$manifest" --out "$out/work/pred_cpu.csv" --device cpu || return 1
  "$py" - "$out/work/pred_device.csv" "$out/work/pred_cpu.csv" <<'PY'
import csv, sys
a, b = (list(csv.DictReader(open(p))) for p in sys.argv[1:3])
col = next(c for c in a[0] if c.startswith("bmd") or c.startswith("pred"))
worst = max(abs(float(x[col]) - float(y[col])) / max(1e-6, abs(float(x[col]))) for x, y in zip(a, b))
# cuDNN convolutions run in TF32 by default (LibTorch's allowTF32CuDNN, as in PyTorch): 10-bit
# mantissas through ~20 convolutions, hence 1e-2 and not float32's 1e-5; the log keeps the number.
print(f"{len(a)} patients, largest relative difference {worst:.2e} in {col} (tolerance 1e-2)")
sys.exit(0 if len(a) == len(b) and worst <= 1e-2 else 1)
PY
}

# Issue 13 on one GPU: LibTorch's NCCL process group of this build, one rank through every
# collective (tests_train "[nccl]"; two NCCL ranks cannot share one GPU). Skipped when the configure
# step found no NCCL, with its reason.
nccl_one_rank() {
  local log=$out/logs/cmake-configure.log
  [ -f "$log" ] || { echo "no configure log (--skip-build)"; return 77; }
  grep -q 'NCCL process group: yes' "$log" || { grep -m1 -o 'NCCL process group: .*' "$log" || echo "no NCCL line"; return 77; }
  "$build/tests/tests_train" "[nccl]" || return 1
  echo "NCCL process group of one rank on cuda:0: every collective passed"
}

# Issue 13 on one GPU: two ranks of `bmd train` share device 0 through a Gloo process group (CUDA
# tensors reduced through host memory; NCCL cannot put two ranks on one GPU), then the run evaluates.
dist_two_ranks() {
  local w=$out/work/dist manifest=$out/work/bmd/data/manifest.csv port r pids=() rc=0
  local dev=$device
  [[ $device == cuda ]] && dev=cuda:0
  [ -f "$manifest" ] || { echo "no bmd cohort (the bmd step failed)"; return 1; }
  port=$(TOMOGRAD_PYTHON=$py scripts/free-port.sh) || return 1
  mkdir -p "$w"
  for r in 0 1; do
    RANK=$r WORLD_SIZE=2 LOCAL_RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port TOMOGRAD_DIST_TIMEOUT_S=120 TOMOGRAD_DIST_BACKEND=gloo \
      "$(bin bmd)" train --config configs/bmd_resnet18.yaml --manifest "$manifest" --out "$w/run" \
      --set "data.cache_dir=$w/cache" --set train.loader.workers=2 --set "train.device=$dev" \
      --set eval.bootstrap=50 "${bmd_tiny[@]}" >"$w/rank$r.log" 2>&1 &
    pids+=($!)
  done
  for r in 0 1; do wait "${pids[$r]}" || { rc=1; echo "rank $r failed:"; tail -5 "$w/rank$r.log"; }; done
  [[ $rc == 0 ]] || return 1
  "$(bin bmd)" evaluate "$w/run" --device "$dev" >/dev/null || return 1
  echo "2 Gloo ranks on $dev trained bmd: $(tail -1 "$w/run/history.csv" | cut -c1-120)"
}

# Issue 15: each lumbar 3D network's training speed and peak memory at its recipe's input.
nets3d() {
  [[ $bench == 1 ]] || { echo "--no-bench"; return 77; }
  DEVICE=$device REPEAT=1 STEPS=$steps bench/run_lumbar_nets.sh "$build" | tee "$out/lumbar_nets.md" || return 1
  echo "table in $out/lumbar_nets.md ($(grep -c '^| 3d' "$out/lumbar_nets.md") networks)"
}

vs_pytorch() {
  [[ $bench == 1 ]] || { echo "--no-bench"; return 77; }
  "$py" -c 'import torchvision' 2>/dev/null || { echo "$py has no torchvision: bench/pytorch_eager.py cannot run"; return 77; }
  PYTHON=$(command -v "$py") DEVICE=$device STEPS=$steps bench/run_vs_pytorch.sh "$build" | tee "$out/vs_pytorch.md" || return 1
  echo "table in $out/vs_pytorch.md ($(grep -c '^| train\|^| infer' "$out/vs_pytorch.md") rows)"
}

start=$(date +%s)
step environment environment
step carried_deps carried_deps
if [[ $skip_build == 1 ]]; then
  printf 'configure\tskip\t0\t--skip-build\nbuild\tskip\t0\t--skip-build\n' >>"$results"
else
  step configure configure
  [[ $configure_only == 1 ]] || step build build_targets
fi
if [[ $configure_only == 0 ]]; then
  step gpu_tests gpu_tests
  for app in bmd metastasis lumbar; do step "$app" app_e2e "$app"; done
  step bmd_cpu_reload bmd_cpu_reload
  step nccl nccl_one_rank
  step dist_two_ranks dist_two_ranks
  step vs_pytorch vs_pytorch
  step nets3d nets3d
fi

"$py" - "$results" "$out/summary.json" "$device" "$(( $(date +%s) - start ))" <<'PY'
import json, os, sys
results, path, device, seconds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
steps = []
for line in open(results, encoding="utf-8"):
    name, status, ms, detail = (line.rstrip("\n").split("\t") + [""] * 4)[:4]
    steps.append({"step": name, "status": status, "seconds": round(int(ms) / 1000, 1), "detail": detail})
summary = {"device": device, "seconds": seconds, "passed": all(s["status"] != "fail" for s in steps), "steps": steps}
tmp = path + ".tmp"
with open(tmp, "w", encoding="utf-8") as f:
    json.dump(summary, f, indent=2)
    f.write("\n")
os.replace(tmp, path)
print(json.dumps(summary))
PY
grep -q $'\tfail\t' "$results" && exit 1
exit 0
