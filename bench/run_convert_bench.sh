#!/usr/bin/env bash
# DICOM -> NIfTI, whole process, side by side in one run: dcm2niix (.nii, and .nii.gz through
# pigz), nibabel + pydicom, and `tomograd convert`, on a generated 200 x 512 x 512 head CT series
# (uncompressed int16, one file per slice, warm page cache). hyperfine runs each command RUNS
# times after one warm-up; the table shows the median (min-max), the output size and the ratio to
# dcm2niix writing the same kind of file. Also prints tomograd's in-process time (bench_io
# --convert: read + write without the binary's start-up) and the start-up alone
# (`tomograd --version` and `tomograd convert --help`: the light front end, which runs `convert`
# without LibTorch; `tomograd-torch --version`: what loading LibTorch costs), and checks that
# every tool's voxels equal dcm2niix's.
# Needs a build (tomograd_app, bench_io) and dcm2niix, pigz, hyperfine, python3-nibabel,
# python3-pydicom (scripts/install-deps.sh).
# Usage: bench/run_convert_bench.sh [BUILD_DIR] [RUNS] [SLICES]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
runs=${2:-5}
slices=${3:-200}
app="$build/apps/tomograd/tomograd"
for tool in dcm2niix pigz hyperfine; do
  command -v "$tool" >/dev/null || { echo "run_convert_bench: $tool not found (scripts/install-deps.sh)" >&2; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "generating a ${slices} x 512 x 512 head CT series ..." >&2
"$build/bench/bench_io" --write-ct "$tmp/dcm" "$slices" 512 >/dev/null

# The nibabel + pydicom way: read, sort by position, stack the stored int16 values, keep the
# rescale as scl_slope/scl_inter (as dcm2niix does), save. nibabel gzips with level 1 by default.
cat > "$tmp/nib.py" <<'PY'
import glob, os, sys
import numpy as np, nibabel as nib, pydicom
src, out = sys.argv[1], sys.argv[2]
ds = [pydicom.dcmread(f) for f in glob.glob(os.path.join(src, "*.dcm"))]
row, col = (np.array(ds[0].ImageOrientationPatient[:3], float), np.array(ds[0].ImageOrientationPatient[3:], float))
normal = np.cross(row, col)
ds.sort(key=lambda d: float(np.dot(normal, np.array(d.ImagePositionPatient, float))))
vol = np.stack([d.pixel_array for d in ds]).transpose(2, 1, 0)  # (i, j, k)
dr, dc = (float(x) for x in ds[0].PixelSpacing)
p0, p1 = (np.array(d.ImagePositionPatient, float) for d in ds[:2])
lps = np.eye(4)
lps[:3, 0], lps[:3, 1], lps[:3, 2], lps[:3, 3] = row * dc, col * dr, p1 - p0, p0
img = nib.Nifti1Image(vol, np.diag([-1, -1, 1, 1]) @ lps)
img.header.set_slope_inter(float(ds[0].RescaleSlope), float(ds[0].RescaleIntercept))
nib.save(img, out)
PY

names=(); cmds=(); preps=(); outs=()
add() {  # name, output folder, command
  names+=("$1"); outs+=("$2"); preps+=("rm -rf $2 && mkdir -p $2"); cmds+=("$3")
}
d="$tmp/dcm"
add "dcm2niix .nii" "$tmp/o1" "dcm2niix -z n -b n -o $tmp/o1 -f ct $d"
if [[ -x "$app" ]]; then
  conv() { echo "$app convert $d $1 ${2:+--gzip-level $2}"; }
  who="tomograd"
else
  # Without the app, bench_io does the same library calls (read_dicom, write_nifti with the auto
  # type) in a binary that also loads LibTorch, once per process.
  echo "run_convert_bench: $app not built; timing bench_io --convert in its place" >&2
  conv() { echo "$build/bench/bench_io --convert $d $1 1 0 ${2:-1}"; }
  who="bench_io --convert"
fi
add "$who .nii" "$tmp/o2" "$(conv $tmp/o2/ct.nii)"
add "nibabel+pydicom .nii" "$tmp/o3" "/usr/bin/python3 $tmp/nib.py $d $tmp/o3/ct.nii"
add "dcm2niix+pigz .nii.gz (level 6)" "$tmp/o4" "dcm2niix -z y -b n -o $tmp/o4 -f ct $d"
add "dcm2niix+pigz .nii.gz (level 1)" "$tmp/o9" "dcm2niix -1 -z y -b n -o $tmp/o9 -f ct $d"
add "$who .nii.gz (level 1, default)" "$tmp/o5" "$(conv $tmp/o5/ct.nii.gz)"
add "$who .nii.gz (level 6)" "$tmp/o6" "$(conv $tmp/o6/ct.nii.gz 6)"
add "nibabel+pydicom .nii.gz (level 1)" "$tmp/o7" "/usr/bin/python3 $tmp/nib.py $d $tmp/o7/ct.nii.gz"
# Start-up: the light front end alone (it runs `convert` itself), and tomograd-torch (LibTorch
# loaded), which the commands that run a model exec.
[[ -x "$app" ]] && add "tomograd --version (start-up, no LibTorch)" "$tmp/o8" "$app --version"
[[ -x "$app" ]] && add "tomograd convert --help (start-up of convert)" "$tmp/o11" "$app convert --help"
[[ -x "$app-torch" ]] && add "tomograd-torch --version (start-up with LibTorch)" "$tmp/o10" "$app-torch --version"

args=()
for i in "${!cmds[@]}"; do echo "${names[$i]}	${outs[$i]}"; done > "$tmp/outs.tsv"
for i in "${!cmds[@]}"; do args+=(--prepare "${preps[$i]}"); done
for i in "${!cmds[@]}"; do args+=(-n "${names[$i]}" "${cmds[$i]}"); done
hyperfine --warmup 1 --runs "$runs" --style none --export-json "$tmp/h.json" "${args[@]}" >/dev/null

inproc_nii=$("$build/bench/bench_io" --convert "$d" "$tmp/inproc.nii" "$runs")
inproc_gz=$("$build/bench/bench_io" --convert "$d" "$tmp/inproc.nii.gz" "$runs" 0 1)

/usr/bin/python3 - "$tmp" "$inproc_nii" "$inproc_gz" "$slices" <<'PY'
import glob, json, os, platform, statistics, subprocess, sys
import numpy as np, nibabel as nib
tmp, inproc = sys.argv[1], [json.loads(a) for a in sys.argv[2:4]]
slices = int(sys.argv[4])
res = json.load(open(os.path.join(tmp, "h.json")))["results"]
med = {r["command"]: statistics.median(r["times"]) for r in res}
rng = {r["command"]: (min(r["times"]), max(r["times"])) for r in res}
outs = dict(l.rstrip("\n").split("\t") for l in open(os.path.join(tmp, "outs.tsv")))
def out_file(name):
    files = [f for f in glob.glob(os.path.join(outs[name], "*")) if f.endswith((".nii", ".nii.gz"))]
    return files[0] if files else None
ref_nii = out_file("dcm2niix .nii")
ref = np.asarray(nib.as_closest_canonical(nib.load(ref_nii)).get_fdata(dtype=np.float32))
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
ver = subprocess.run(["dcm2niix", "--version"], capture_output=True, text=True).stdout.strip().splitlines()
print(f"DICOM -> NIfTI, {slices} x 512 x 512 int16 CT series ({slices * 512 * 512 * 2 / 1e6:.0f} MB of pixels), "
      f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}; dcm2niix {ver[-1] if ver else '?'}, "
      f"nibabel {nib.__version__}; median of {len(res[0]['times'])} runs after 1 warm-up, whole process")
print()
print("| conversion | median s (min-max) | output MB | stored as | x dcm2niix | voxels = dcm2niix's |")
print("|---|---|---|---|---|---|")
for r in res:
    name = r["command"]
    base = "dcm2niix+pigz .nii.gz (level 6)" if ".nii.gz" in name else "dcm2niix .nii"
    f = out_file(name)
    size = f"{os.path.getsize(f) / 1e6:.1f}" if f else "-"
    stored, same, ratio = "-", "-", "-"
    if f:
        img = nib.load(f)
        stored = str(img.get_data_dtype())
        same = "yes" if np.array_equal(np.asarray(nib.as_closest_canonical(img).get_fdata(dtype=np.float32)), ref) else "NO"
        ratio = f"{med[name] / med[base]:.2f}x"
    lo, hi = rng[name]
    print(f"| {name} | {med[name]:.2f} ({lo:.2f}-{hi:.2f}) | {size} | {stored} | {ratio} | {same} |")
for j in inproc:
    print(f"| tomograd in-process {j['output'].split('.', 1)[1]} (read {j['read_seconds']:.2f} + write "
          f"{j['write_seconds']:.2f} s, {j['threads']} threads) | {j['seconds']:.2f} (best) | "
          f"{j['bytes'] / 1e6:.1f} | {j['datatype']} | - | - |")
PY
