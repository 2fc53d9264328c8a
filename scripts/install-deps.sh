#!/usr/bin/env bash
# Installs every Debian package that tomograd's build, tests and benchmarks need.
# Idempotent: packages already installed are skipped; apt-get update runs only when needed.
# Usage: scripts/install-deps.sh [--no-bench]
set -euo pipefail

with_bench=1
[[ "${1:-}" == "--no-bench" ]] && with_bench=0

pkgs=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config git
  # libraries (find_package in CMakeLists.txt); nifti-bin and the openjp2/openjpip tools only
  # because the CMake configs of NIFTI and OpenJPEG reference their files
  libtorch-dev libdcmtk-dev dcmtk libopenjp2-7-dev libopenjp2-tools libopenjpip7 libopenjpip-server libopencv-dev
  libxgboost-dev xgboost libsvm-dev libyaml-cpp-dev libcli11-dev libspdlog-dev libfmt-dev
  catch2 nlohmann-json3-dev libnifti2-dev nifti-bin zlib1g-dev
  # io_base writes PNG with libpng directly (find_package(PNG) in src/io; no OpenCV there)
  libpng-dev
  # c10d data-parallel training: the Gloo headers of ProcessGroupGloo.hpp (libtorch-dev lacks them)
  libgloo-dev
  # matrix products: Debian's LibTorch calls the system's libblas.so.3 (BLAS_INFO=generic), which is
  # Netlib's unoptimised reference BLAS unless an optimised one takes over that alternative (linear
  # layers and attention about 10x faster: bench/README.md); the OpenMP build of OpenBLAS runs on
  # LibTorch's own libgomp threads (one thread inside LibTorch's parallel regions) instead of its own
  libopenblas0-openmp
  # tests: independent readers used to check our files
  python3 python3-numpy python3-pydicom python3-nibabel
  # bench/preprocess_numpy.py: the numpy + scipy.ndimage + scikit-image reference of the
  # preprocessing benchmark (bench/run_preprocess_bench.sh)
  python3-scipy python3-skimage
  # eval: reference values in tests/unit/eval were computed with SciPy and scikit-learn
  # (python3-sklearn, listed below); the report test renders report.html in headless Chromium
  python3-scipy chromium
  # tests: torchvision's own ResNets write the .pth files and reference outputs of the model
  # parity test (tests/unit/models)
  python3-torch python3-torchvision
  # reference values of tests/unit/classic/test_sklearn_parity.cpp (ElasticNet, SVR) were computed
  # with it; the tests hold the numbers and do not run it
  python3-sklearn
  # TensorBoard event files: the Event/Summary protobuf messages (our own .proto), read back in the
  # tests with python3-protobuf; dciodvfy (dicom3tools) validates the Secondary Capture objects
  libprotobuf-dev protobuf-compiler python3-protobuf dicom3tools
  # tests: the JPEG-LS writer case runs under valgrind too (DCMTK is not instrumented for ASan)
  valgrind
  # fuzzing (scripts/fuzz.sh): clang with libFuzzer and the ASan/UBSan runtimes
  clang libfuzzer-14-dev libclang-rt-14-dev
)
if [[ $with_bench == 1 ]]; then
  # hyperfine times the command-line benchmarks; dcm2niix and pigz (its parallel gzip) are the
  # reference of the DICOM -> NIfTI benchmark (bench/run_convert_bench.sh)
  pkgs+=(hyperfine dcm2niix pigz)
fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
