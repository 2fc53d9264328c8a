#!/usr/bin/env bash
# Builds the libFuzzer harnesses (clang + AddressSanitizer + UndefinedBehaviorSanitizer) into
# build-fuzz/ and runs each for SECONDS (default 30) on seeds made from the real test data
# (scripts/fetch-test-data.sh: pydicom's and nibabel's files), the configs and pickles written by
# Debian's python3. Findings land in build-fuzz/artifacts/<harness>/; every one must become a
# regression input under tests/fuzz_regressions/<harness>/ (replayed by the unit tests).
# Usage: scripts/fuzz.sh [SECONDS] [HARNESS...]     e.g. scripts/fuzz.sh 30 pickle csv
#        scripts/fuzz.sh --ci [HARNESS...]
# --ci is the reproducible run CI makes: seed 1, a fixed number of executions per harness (about
# 25 s each on CI's 2 cores) and a fresh corpus grown from the seeds alone, so a CI run is the
# same run on any machine with the same clang; SECONDS runs explore on from build-fuzz/corpus/.
# Exit status: 0 when no harness found anything, 1 otherwise. Summary: build-fuzz/summary.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
ci=0
if [[ ${1:-} == --ci ]]; then
  ci=1
  seconds=0
else
  seconds=${1:-30}
fi
shift || true
# --ci executions per harness: about 25 s at the rates of build-fuzz/summary.md on 2 cores.
declare -A ci_runs=([dicom]=20000 [dicom_series]=10000 [nifti]=25000 [nifti_gz]=75000 [csv]=500000
                    [config]=10000 [pickle]=500000 [safetensors]=600000 [zip]=25000
                    [manifest]=6000)
all=(dicom dicom_series nifti nifti_gz csv config pickle safetensors zip manifest)
harnesses=("$@")
[[ ${#harnesses[@]} -gt 0 ]] || harnesses=("${all[@]}")
build=${TOMOGRAD_FUZZ_DIR:-build-fuzz}
data=.cache/test-data

scripts/fetch-test-data.sh >/dev/null
if [[ ! -f $build/build.ninja ]]; then
  CC=clang CXX=clang++ cmake -S fuzz -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    >"$build.configure.log" 2>&1 || { cat "$build.configure.log"; exit 1; }
fi
targets=()
for h in "${harnesses[@]}"; do targets+=(--target "fuzz_$h"); done
# One build at a time on this machine: the same lock as the main build. TOMOGRAD_FUZZ_NO_BUILD=1
# runs the harnesses already built (while others hold the lock for long).
if [[ ${TOMOGRAD_FUZZ_NO_BUILD:-0} != 1 ]]; then
  echo "fuzz.sh: building ${harnesses[*]} (log: $build/build.log)"
  if ! flock /tmp/tomograd-build.lock nice -n 10 cmake --build "$build" -j2 "${targets[@]}" >"$build/build.log" 2>&1; then
    grep -E 'error|FAILED' -A5 "$build/build.log" | head -60
    exit 1
  fi
fi

# ---- seed corpora -----------------------------------------------------------------------------
seeds=$build/seeds
make_seeds() {
  rm -rf "$seeds"
  mkdir -p "$seeds"/{dicom,dicom_series,nifti,nifti_gz,csv,config,pickle,safetensors,zip,manifest}
  find "$data/pydicom" -name '*.dcm' -size -64k -exec cp {} "$seeds/dicom/" \;
  local small=("$data/pydicom/CT_small.dcm" "$data/pydicom/MR_small.dcm" "$data/pydicom/JPEG2000.dcm"
               "$data/pydicom/MR_small_RLE.dcm" "$data/pydicom/emri_small.dcm")
  local i=0
  for a in "${small[@]}"; do
    for b in "${small[@]}"; do
      [[ -f $a && -f $b ]] || continue
      { cat "$a"; printf '\nTGSERIES\n'; cat "$b"; } >"$seeds/dicom_series/pair$((i++))"
    done
  done
  find "$data/nibabel" -name '*.nii' -size -64k -exec cp {} "$seeds/nifti/" \;
  for f in $(find "$data/nibabel" -name '*.nii.gz' -size -64k); do
    cp "$f" "$seeds/nifti_gz/"
    gzip -dc "$f" >"$seeds/nifti/$(basename "$f" .gz)" 2>/dev/null || true
  done
  cp configs/*.yaml "$seeds/config/"
  printf 'patient_id,path,split,bmd\nP1,a/b.dcm,train,0.91\n"P,2","x ""y""",val,\n' >"$seeds/csv/manifest.csv"
  printf 'study_id,series_id,instance_number,condition,level,x,y\r\n1,2,3,Spinal Canal Stenosis,L1/L2,10.5,20\r\n' \
    >"$seeds/csv/coordinates.csv"
  printf '\xef\xbb\xbfid,label\n1,1\n2,0\n\n3,nan\n' >"$seeds/csv/labels.csv"
  /usr/bin/python3 scripts/fuzz_seeds.py "$seeds/pickle" "$seeds/safetensors" "$seeds/zip"
  manifest_seeds "$seeds/manifest"
}

# The CSV files the synthetic cohorts write (lumbar train.csv + series descriptions + label
# coordinates as one input, parts separated by a line "TGCSV"; the bmd manifest; the metastasis
# labels.csv), made with the tomograd program of build/ (TOMOGRAD_BIN) when there is one.
manifest_seeds() {
  local out=$1 tg=${TOMOGRAD_BIN:-build/apps/tomograd/tomograd} tmp
  tmp=$(mktemp -d)
  if [[ -x $tg ]] && "$tg" synth lumbar --out "$tmp/l" --studies 2 --scale 0.0625 --seed 1 >/dev/null 2>&1 &&
     "$tg" synth bmd --out "$tmp/b" --patients 3 --scale 0.0625 --seed 1 >/dev/null 2>&1 &&
     "$tg" synth metastasis --out "$tmp/m" --patients 3 --scale 0.0625 --seed 1 >/dev/null 2>&1; then
    { cat "$tmp/l/train.csv"; echo TGCSV; cat "$tmp/l/train_series_descriptions.csv"; echo TGCSV
      head -30 "$tmp/l/train_label_coordinates.csv"; } >"$out/lumbar"
    cp "$tmp/b/manifest.csv" "$out/bmd_manifest.csv"
    cp "$tmp/m/labels.csv" "$out/metastasis_labels.csv"
  else
    echo "fuzz.sh: no synthetic cohorts ($tg missing or failing): manifest seeds written here" >&2
    printf 'study_id,spinal_canal_stenosis_l1_l2\n1,Moderate\nTGCSV\nstudy_id,series_id,series_description\n1,2,Sagittal T1\nTGCSV\nstudy_id,series_id,instance_number,condition,level,x,y\n1,2,3,Spinal Canal Stenosis,L1/L2,10.5,20\n' >"$out/lumbar"
    printf 'patient_id,path,bmd,split\nP1,images/P1,1.1,train\n' >"$out/bmd_manifest.csv"
    printf 'patient_id,label\nP1,1\nP2,0\n' >"$out/metastasis_labels.csv"
  fi
  printf 'row_id,normal_mild,moderate,severe\n1_spinal_canal_stenosis_l1_l2,0.5,0.3,0.2\n' >"$out/submission.csv"
  rm -rf "$tmp"
}
make_seeds

# ---- runs -------------------------------------------------------------------------------------
# TOMOGRAD_FUZZ_PARALLEL=1 runs the harnesses at the same time (a long run on a shared machine:
# each gets its share of the cores); TOMOGRAD_FUZZ_NICE (default 10) is their nice level.
summary=$build/summary.md
run_harness() {
  local h=$1 corpus=$build/corpus/$1 artifacts=$build/artifacts/$1 log=$build/run_$1.log
  local budget=(-max_total_time="$seconds")
  if [[ $ci -eq 1 ]]; then
    corpus=$build/corpus-ci/$h
    rm -rf "$corpus" "$artifacts"
    budget=(-seed=1 -runs="${ci_runs[$h]}")
  fi
  mkdir -p "$corpus" "$artifacts"
  echo "fuzz.sh: fuzz_$h ${budget[*]} (log: $log)"
  # -malloc_limit_mb: a single allocation above 1 GiB is a finding (the readers' own limit is set
  # to 256 MiB by the harnesses); -timeout: one input taking 20 s is a finding.
  # fuzz/lsan_suppressions.txt: a leak inside LibTorch's zip reader (explained there).
  LSAN_OPTIONS=suppressions=$root/fuzz/lsan_suppressions.txt \
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 \
    nice -n "${TOMOGRAD_FUZZ_NICE:-10}" "$build/fuzz_$h" "${budget[@]}" -timeout=20 -rss_limit_mb=3072 \
    -malloc_limit_mb=1024 -max_len=65536 -print_final_stats=1 -artifact_prefix="$artifacts/" \
    "$corpus" "$seeds/$h" >"$log" 2>&1 || true
  local execs rate n_corpus n_found secs=$seconds
  execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  rate=$(grep -oE 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  n_corpus=$(find "$corpus" -type f | wc -l)
  n_found=$(find "$artifacts" -type f | wc -l)
  [[ $ci -eq 0 ]] || secs=$(grep -oE 'Done [0-9]+ runs in [0-9]+ second' "$log" | grep -oE '[0-9]+ second' | grep -oE '[0-9]+' | tail -1)
  echo "| $h | ${secs:-?} | ${execs:-?} | ${rate:-?} | $n_corpus | $n_found |" >"$build/row_$h.md"
}
rm -f "$build"/row_*.md
for h in "${harnesses[@]}"; do
  if [[ ${TOMOGRAD_FUZZ_PARALLEL:-0} == 1 ]]; then
    run_harness "$h" &
  else
    run_harness "$h"
  fi
done
wait
{
  echo "| harness | seconds | executions | exec/s | corpus | findings |"
  echo "|---|---|---|---|---|---|"
  for h in "${harnesses[@]}"; do cat "$build/row_$h.md"; done
} >"$summary"
found=0
for h in "${harnesses[@]}"; do
  [[ -z $(find "$build/artifacts/$h" -type f 2>/dev/null) ]] || found=1
done
cat "$summary"
if [[ $found -ne 0 ]]; then
  echo "fuzz.sh: findings in $build/artifacts/ (reproduce: $build/fuzz_<harness> <file>)"
  exit 1
fi
