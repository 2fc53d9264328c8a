#!/usr/bin/env bash
# Fetches real files written by other tools, for tests that check our readers against them:
#   pydicom's test files  -> <repo>/.cache/test-data/pydicom/
#   nibabel's test data    -> <repo>/.cache/test-data/nibabel/
# Both come from Debian's python3-pydicom and python3-nibabel packages (downloaded with
# `apt-get download`, unpacked with `dpkg -x`; nothing is installed and no root is needed unless
# the package lists are missing). Idempotent: does nothing when both folders carry a stamp file.
# The data is never committed (.cache/ is in .gitignore).
# Usage: scripts/fetch-test-data.sh
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
dest="$repo/.cache/test-data"
stamp_name=".fetched"

# name of the Debian package, folder under dist-packages (or under /usr/share) inside it,
# destination folder
sets=(
  "python3-pydicom pydicom/data/test_files pydicom"
  "python3-nibabel nibabel/tests/data nibabel"
  # A real head CT (InVesalius "ProMED CT 0051", 256x256x108 int16 HU, skull, brain and the CT
  # head holder) inside the InVesalius project Cranium.inv3 (a tar.gz); used by the brain
  # extraction test in tests/unit/preprocess.
  "invesalius-examples doc/invesalius-examples/examples invesalius"
)

all_present=1
for s in "${sets[@]}"; do
  read -r _ _ name <<<"$s"
  [[ -f "$dest/$name/$stamp_name" ]] || all_present=0
done
if [[ $all_present == 1 ]]; then
  echo "fetch-test-data: already present in $dest ($(find "$dest" -type f ! -name "$stamp_name" | wc -l) files)"
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# `apt-get download` needs the package lists; fetch them once if the first try fails (fresh
# containers often ship without them).
download() {
  (cd "$work" && apt-get download "$@" >/dev/null 2>&1) && return 0
  local sudo=""
  if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
  $sudo apt-get update -qq >/dev/null
  (cd "$work" && apt-get download "$@" >/dev/null)
}

mkdir -p "$dest"
summary=()
for s in "${sets[@]}"; do
  read -r pkg sub name <<<"$s"
  if [[ -f "$dest/$name/$stamp_name" ]]; then
    summary+=("$name: present")
    continue
  fi
  download "$pkg"
  deb=("$work"/"${pkg}"_*.deb)
  if [[ ! -f "${deb[0]}" ]]; then
    echo "fetch-test-data: apt-get download $pkg produced no .deb" >&2
    exit 1
  fi
  version="$(dpkg-deb -f "${deb[0]}" Version)"
  dpkg -x "${deb[0]}" "$work/x-$name"
  src="$(find "$work/x-$name" -type d \( -path "*/dist-packages/$sub" -o -path "*/usr/share/$sub" \) | head -n 1)"
  if [[ -z "$src" ]]; then
    echo "fetch-test-data: no */dist-packages/$sub or */usr/share/$sub in ${deb[0]##*/}" >&2
    exit 1
  fi
  # Copy into a temporary folder and rename, so an interrupted run never leaves a half-filled
  # folder that looks complete.
  rm -rf "$dest/.partial-$name"
  cp -a "$src" "$dest/.partial-$name"
  printf '%s %s\n' "$pkg" "$version" >"$dest/.partial-$name/$stamp_name"
  rm -rf "${dest:?}/$name"
  mv "$dest/.partial-$name" "$dest/$name"
  summary+=("$name: $(find "$dest/$name" -type f ! -name "$stamp_name" | wc -l) files from $pkg $version")
done

echo "fetch-test-data: $(IFS=';'; echo "${summary[*]}" | sed 's/;/; /g') -> $dest"
