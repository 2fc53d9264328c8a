# Sourced by scripts/test.sh, scripts/demo.sh and scripts/gpu-check.sh: which LibTorch to build
# against (docs/gpu.md).
#   TOMOGRAD_TORCH=auto    (default) the PyTorch's LibTorch when `$TOMOGRAD_PYTHON -c 'import torch'`
#                          gives a CUDA build that ships its CMake package, else Debian's
#   TOMOGRAD_TORCH=debian  Debian's libtorch-dev, always
#   TOMOGRAD_TORCH=python  the PyTorch's LibTorch, always (configuration fails with one message if
#                          there is none, or if its C++ ABI cannot mix with the Debian libraries)
#   TOMOGRAD_PYTHON        the interpreter asked (default python3)
# tomograd_select_torch DEFAULT_BUILD_DIR sets:
#   torch_cmake_args  extra cmake arguments (none for the automatic choice of Debian's, so that
#                     build stays configured exactly as before)
#   build             the build folder: DEFAULT_BUILD_DIR for Debian's LibTorch,
#                     DEFAULT_BUILD_DIR-torch-python for the PyTorch's; TOMOGRAD_BUILD_DIR wins
#   torch_choice      debian | python

# Prints "VERSION CUDA" of the interpreter's torch when it is a CUDA build with a CMake package.
tomograd_python_cuda_torch() {
  "$1" - 2>/dev/null <<'PY'
import os, torch, torch.utils
if torch.version.cuda and os.path.isfile(os.path.join(torch.utils.cmake_prefix_path, "Torch", "TorchConfig.cmake")):
    print(torch.__version__, torch.version.cuda)
PY
}

tomograd_select_torch() {
  local default_dir=$1 choice=${TOMOGRAD_TORCH:-auto} py=${TOMOGRAD_PYTHON:-python3} found=""
  torch_cmake_args=()
  case "$choice" in
    auto)
      if command -v "$py" >/dev/null 2>&1; then found=$(tomograd_python_cuda_torch "$py" || true); fi
      if [[ -n $found ]]; then
        torch_choice=python
        echo "LibTorch: the CUDA PyTorch of $py (torch ${found% *}, CUDA ${found#* }); TOMOGRAD_TORCH=debian for Debian's"
      else
        torch_choice=debian
        echo "LibTorch: Debian's ($py has no CUDA PyTorch); TOMOGRAD_TORCH=python to force a PyTorch's"
      fi ;;
    debian)
      torch_choice=debian
      torch_cmake_args=(-DTOMOGRAD_TORCH=debian)
      echo "LibTorch: Debian's (TOMOGRAD_TORCH=debian)" ;;
    python)
      torch_choice=python
      echo "LibTorch: the PyTorch of $py (TOMOGRAD_TORCH=python)" ;;
    *)
      echo "TOMOGRAD_TORCH=$choice: expected auto, debian or python" >&2
      return 2 ;;
  esac
  if [[ $torch_choice == python ]]; then
    local py_path
    py_path=$(command -v "$py" || echo "$py")
    torch_cmake_args=(-DTOMOGRAD_TORCH=python "-DTOMOGRAD_PYTHON=$py_path")
    build=${TOMOGRAD_BUILD_DIR:-$default_dir-torch-python}
  else
    build=${TOMOGRAD_BUILD_DIR:-$default_dir}
  fi
}
