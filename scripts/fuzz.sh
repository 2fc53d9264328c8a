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
                    [config]=10000 [pickle]=500000 [safetensors]=600000 [zip]=10000)
all=(dicom dicom_series nifti nifti_gz csv config pickle safetensors zip)
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
  mkdir -p "$seeds"/{dicom,dicom_series,nifti,nifti_gz,csv,config,pickle,safetensors,zip}
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
}
make_seeds

# ---- runs -------------------------------------------------------------------------------------
summary=$build/summary.md
{
  echo "| harness | seconds | executions | exec/s | corpus | findings |"
  echo "|---|---|---|---|---|---|"
} >"$summary"
found=0
for h in "${harnesses[@]}"; do
  corpus=$build/corpus/$h
  artifacts=$build/artifacts/$h
  budget=(-max_total_time="$seconds")
  if [[ $ci -eq 1 ]]; then
    corpus=$build/corpus-ci/$h
    rm -rf "$corpus" "$artifacts"
    budget=(-seed=1 -runs="${ci_runs[$h]}")
  fi
  mkdir -p "$corpus" "$artifacts"
  log=$build/run_$h.log
  echo "fuzz.sh: fuzz_$h ${budget[*]} (log: $log)"
  # -malloc_limit_mb: a single allocation above 1 GiB is a finding (the readers' own limit is set
  # to 256 MiB by the harnesses); -timeout: one input taking 20 s is a finding.
  # DICOM: DCMTK itself allocates an element's declared length (up to 4 GiB) while inflating a
  # deflated data set (finding recorded in tests/fuzz_regressions/dicom/); those runs allow
  # single allocations up to 4 GiB so that they go on exploring past it.
  malloc_mb=1024
  [[ $h != dicom* ]] || malloc_mb=4096
  # fuzz/lsan_suppressions.txt: a leak inside LibTorch's zip reader (explained there).
  LSAN_OPTIONS=suppressions=$root/fuzz/lsan_suppressions.txt \
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 \
    nice -n 10 "$build/fuzz_$h" "${budget[@]}" -timeout=20 -rss_limit_mb=3072 \
    -malloc_limit_mb="$malloc_mb" -max_len=65536 -print_final_stats=1 -artifact_prefix="$artifacts/" \
    "$corpus" "$seeds/$h" >"$log" 2>&1 || true
  execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  rate=$(grep -oE 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  n_corpus=$(find "$corpus" -type f | wc -l)
  n_found=$(find "$artifacts" -type f | wc -l)
  [[ $n_found -eq 0 ]] || found=1
  secs=$seconds
  [[ $ci -eq 0 ]] || secs=$(grep -oE 'Done [0-9]+ runs in [0-9]+ second' "$log" | grep -oE '[0-9]+ second' | grep -oE '[0-9]+' | tail -1)
  echo "| $h | ${secs:-?} | ${execs:-?} | ${rate:-?} | $n_corpus | $n_found |" >>"$summary"
done
cat "$summary"
if [[ $found -ne 0 ]]; then
  echo "fuzz.sh: findings in $build/artifacts/ (reproduce: $build/fuzz_<harness> <file>)"
  exit 1
fi
