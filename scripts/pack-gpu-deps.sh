#!/usr/bin/env bash
# Packs the Debian headers, CMake packages and shared libraries that the FULL build (all apps and
# tests: DCMTK, OpenJPEG, OpenCV core/imgproc/imgcodecs, NIfTI, zlib, CLI11, XGBoost, libsvm, plus
# the minimal build's yaml-cpp, spdlog, fmt, nlohmann-json, Catch2 and the Gloo headers LibTorch's
# c10d headers include) into .gpudeps/full.tar.xz, for a GPU machine that has a CUDA PyTorch but no
# package registry (docs/gpu.md). Run here, where the project builds; carry .gpudeps; there,
# scripts/gpu-check.sh unpacks it into .gpudeps/full/ and builds against it.
#
# Not the packages' dependency closure (OpenCV's image codecs pull in GDAL, and apt's closure is
# far over the 60 MB the carried folder may take): the headers and CMake files of the -dev
# packages, and only the shared objects the dynamic loader loads for the libraries we link (ldd),
# less glibc and the compiler runtime (libstdc++, libgcc_s) that the GPU machine's compiler brings.
# CMake packages are trimmed to the targets carried. The required glibc and GLIBCXX
# versions are written to .gpudeps/full.requires and checked by scripts/gpu-check.sh.
#
# Usage: scripts/pack-gpu-deps.sh [--out DIR]        (default DIR: .gpudeps at the repository root)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/.gpudeps
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "pack-gpu-deps.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
libdir=/usr/lib/$arch
dev_pkgs="libyaml-cpp-dev libspdlog-dev libfmt-dev nlohmann-json3-dev catch2 libgloo-dev
  libdcmtk-dev libopenjp2-7-dev libopencv-dev libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev
  libniftiio-dev libnifti2-dev libznz-dev zlib1g-dev libcli11-dev libxgboost-dev libsvm-dev"
# The libraries the apps and tests link besides LibTorch (their sonames' closure is carried).
direct="libyaml-cpp.so libspdlog.so libfmt.so libdcmdata.so libdcmimgle.so libdcmjpeg.so libdcmjpls.so liboflog.so
  libofstd.so libopenjp2.so libopencv_core.so libopencv_imgproc.so libopencv_imgcodecs.so libnifti2.so libznz.so
  libz.so libxgboost.so libsvm.so"
system_libs='^(libc|libm|libdl|librt|libpthread|libresolv|libutil|ld-linux-x86-64|libstdc\+\+|libgcc_s)\.so'

for p in $dev_pkgs; do
  dpkg -s "$p" >/dev/null 2>&1 || { echo "pack-gpu-deps.sh: $p is not installed (scripts/install-deps.sh)" >&2; exit 1; }
done
stage=$(mktemp -d); trap 'rm -rf "$stage"' EXIT
tree=$stage/full

# 1. Headers, CMake packages and the -dev .so links of the -dev packages.
dpkg -L $dev_pkgs | grep -E "^/usr/(include|share/cmake|lib/cmake|lib/$arch/(cmake|openjpeg|pkgconfig)|lib/$arch/lib[^/]*\.so$)" |
  while read -r f; do [ -f "$f" ] || [ -L "$f" ] && echo "$f"; done | sort -u >"$stage/dev.txt"
# 2. The linked libraries themselves (the files CMake's packages name, with their soname links),
# and every shared object the loader loads for them, as the loader names it (ldd: the soname in
# its folder; Debian's BLAS/LAPACK are alternatives symlinks, GDAL's armadillo/HDF4 sit in
# /usr/lib), copied flat into the library folder so that one LD_LIBRARY_PATH entry finds them all.
for l in $direct; do
  real=$(readlink -f "$libdir/$l")
  echo "$real"
  soname=$(objdump -p "$real" | awk '/SONAME/ {print $2}')
  [ -n "$soname" ] && echo "$libdir/$soname"
done | sort -u >"$stage/libs.txt"
for l in $direct; do ldd "$libdir/$l" | awk '$3 ~ /^\// {print $3}'; done | sort -u |
  while read -r f; do [[ $(basename "$f") =~ $system_libs ]] || echo "$f"; done >"$stage/loaded.txt"
mkdir -p "$tree"
cat "$stage/dev.txt" "$stage/libs.txt" | sort -u | tar -cf - -T - 2>/dev/null | tar -xf - -C "$tree"
while read -r f; do
  [ -e "$tree$libdir/$(basename "$f")" ] || cp -L "$f" "$tree$libdir/"
done <"$stage/loaded.txt"
# A dev link whose library is not carried (a module we do not link) would dangle: drop it. CMake
# packages check that every imported target's file exists (DCMTK's i2d, OpenCV's dnn, ...): the
# targets whose files are not carried are taken out of that check (linking one would then fail).
find "$tree" -xtype l -delete
python3 - "$tree" <<'PY'
import pathlib, re, sys
tree = pathlib.Path(sys.argv[1])
entry = re.compile(r'list\(APPEND (?:_cmake_import_check_files_for_|_IMPORT_CHECK_FILES_FOR_)(\S+) "([^"]+)"')
for f in tree.rglob("*.cmake"):
    text = f.read_text(errors="replace")
    missing = {t for t, path in entry.findall(text)
               if not (tree / path.replace("${_IMPORT_PREFIX}", "usr").lstrip("/")).exists()}
    for t in missing:
        text = re.sub(r'list\(APPEND (?:_cmake_import_check_targets|_IMPORT_CHECK_TARGETS) ' + re.escape(t) + r' \)\n',
                      "", text)
    if missing:
        f.write_text(text)
        print(f"{f.relative_to(tree)}: {len(missing)} targets without carried files left out of the import check")
PY
rm -rf "$tree/usr/share/doc" "$tree/usr/share/man"

# 3. What the GPU machine must provide: glibc and libstdc++ at least as new as these.
{
  echo "glibc $(find "$tree" -name '*.so*' -type f -exec objdump -T {} + 2>/dev/null | grep -o 'GLIBC_2\.[0-9]*' |
    sort -t. -k2 -n -u | tail -1 | sed 's/GLIBC_//')"
  echo "glibcxx $(find "$tree" -name '*.so*' -type f -exec objdump -T {} + 2>/dev/null | grep -o 'GLIBCXX_3\.4\.[0-9]*' |
    sort -t. -k3 -n -u | tail -1 | sed 's/GLIBCXX_//')"
  echo "arch $arch"
} >"$stage/full.requires"

mkdir -p "$out"
grep -qx '/.gpudeps/' "$root/.git/info/exclude" 2>/dev/null || echo '/.gpudeps/' >>"$root/.git/info/exclude"
echo "pack-gpu-deps.sh: $(sort -u "$stage/libs.txt" "$stage/loaded.txt" | wc -l) shared objects, $(wc -l <"$stage/dev.txt") dev files," \
  "$(du -sh "$tree" | cut -f1) unpacked; compressing (xz, a few minutes on 2 cores)"
tar -cf - -C "$stage" full | xz -6 -T0 >"$out/full.tar.xz.tmp"
mv "$out/full.tar.xz.tmp" "$out/full.tar.xz"
cp "$stage/full.requires" "$out/full.requires"
echo "pack-gpu-deps.sh: $out/full.tar.xz $(du -h "$out/full.tar.xz" | cut -f1); needs $(tr '\n' ' ' <"$out/full.requires")"
