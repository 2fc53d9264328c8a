# Which LibTorch to build against, and a configure-time check that its C++ ABI mixes with the
# Debian libraries (yaml-cpp, spdlog, fmt, DCMTK, OpenCV, XGBoost, libsvm, NIfTI, CLI11...).
# Included before TomogradDependencies, i.e. before find_package(Torch).
#
#   TOMOGRAD_TORCH=""      (default) whatever find_package(Torch) finds: Debian's libtorch-dev, or
#                          the Torch_DIR / CMAKE_PREFIX_PATH given by hand. Nothing is changed.
#   TOMOGRAD_TORCH=debian  Debian's libtorch-dev (/usr/lib/<multiarch>/cmake/Torch).
#   TOMOGRAD_TORCH=python  the LibTorch inside the PyTorch that `${TOMOGRAD_PYTHON} -c 'import torch'`
#                          imports (torch.utils.cmake_prefix_path), e.g. a CUDA build from pip.
# A build folder keeps the LibTorch it was first configured with; another one needs another folder
# (scripts/test.sh uses build/ for Debian's and build-torch-python/ for PyTorch's).
set(TOMOGRAD_TORCH "" CACHE STRING "LibTorch to use: empty (find_package's choice), debian or python")
set_property(CACHE TOMOGRAD_TORCH PROPERTY STRINGS "" debian python)
set(TOMOGRAD_PYTHON "python3" CACHE STRING "Python interpreter whose torch TOMOGRAD_TORCH=python uses")

# The libstdc++ ABI (0 or 1) of a LibTorch, from the -D_GLIBCXX_USE_CXX11_ABI its TorchConfig.cmake
# puts into TORCH_CXX_FLAGS; empty if the file does not say.
function(tomograd_torch_config_abi config out)
  file(STRINGS "${config}" lines REGEX "_GLIBCXX_USE_CXX11_ABI=[01]")
  set(abi "")
  if(lines)
    list(GET lines 0 line)
    string(REGEX MATCH "_GLIBCXX_USE_CXX11_ABI=([01])" _ "${line}")
    set(abi "${CMAKE_MATCH_1}")
  endif()
  set(${out} "${abi}" PARENT_SCOPE)
endfunction()

# The ABI the Debian C++ libraries were built with (yaml-cpp, needed by every build, stands for
# them): 1 or 0, empty if unknown.
function(tomograd_debian_abi out)
  find_library(TOMOGRAD_ABI_PROBE_LIB NAMES yaml-cpp)
  find_program(TOMOGRAD_NM nm)
  set(abi "")
  if(TOMOGRAD_ABI_PROBE_LIB AND TOMOGRAD_NM)
    execute_process(COMMAND "${TOMOGRAD_NM}" -D --defined-only "${TOMOGRAD_ABI_PROBE_LIB}"
                    OUTPUT_VARIABLE symbols ERROR_QUIET RESULT_VARIABLE rc)
    # yaml-cpp's interface takes std::string (YAML::Load): its symbols name std::__cxx11 exactly
    # when it was built with the C++11 ABI.
    if(rc EQUAL 0 AND symbols MATCHES "__cxx11")
      set(abi 1)
    elseif(rc EQUAL 0 AND symbols MATCHES "_ZN4YAML")
      set(abi 0)
    endif()
  endif()
  set(${out} "${abi}" PARENT_SCOPE)
endfunction()

# Fails configuration with one message when LibTorch's ABI (@p torch_abi, from @p where) differs
# from the Debian libraries'.
function(tomograd_check_torch_abi torch_abi where)
  if(TOMOGRAD_SKIP_ABI_CHECK OR torch_abi STREQUAL "")
    return()
  endif()
  tomograd_debian_abi(debian_abi)
  if(debian_abi STREQUAL "")
    message(STATUS "tomograd: LibTorch uses _GLIBCXX_USE_CXX11_ABI=${torch_abi}; the Debian libraries' ABI "
                   "could not be read (no yaml-cpp or nm), not checked")
    return()
  endif()
  if(NOT torch_abi STREQUAL debian_abi)
    message(FATAL_ERROR
      "tomograd: the LibTorch ${where} is built with _GLIBCXX_USE_CXX11_ABI=${torch_abi}, the Debian "
      "libraries it would be linked with (yaml-cpp at ${TOMOGRAD_ABI_PROBE_LIB}, spdlog, DCMTK, OpenCV, "
      "XGBoost...) with _GLIBCXX_USE_CXX11_ABI=${debian_abi}: std::string and std::list differ between "
      "the two, so they cannot be linked into one program. Use a PyTorch built with the C++11 ABI "
      "(pytorch.org wheels from 2.7 on, or the cxx11-ABI LibTorch zip), or Debian's LibTorch "
      "(-DTOMOGRAD_TORCH=debian, scripts/test.sh with TOMOGRAD_TORCH=debian).")
  endif()
  message(STATUS "tomograd: LibTorch and the Debian libraries both use _GLIBCXX_USE_CXX11_ABI=${torch_abi}")
endfunction()

# Torch_DIR of the PyTorch that TOMOGRAD_PYTHON imports; sets TOMOGRAD_TORCH_DESCRIPTION.
function(tomograd_python_torch_dir out)
  execute_process(
    COMMAND "${TOMOGRAD_PYTHON}" -c
      "import torch, torch.utils; print(torch.__version__); print(torch.version.cuda or 'none'); print(int(torch.compiled_with_cxx11_abi())); print(torch.utils.cmake_prefix_path); print(torch.__file__)"
    OUTPUT_VARIABLE info ERROR_VARIABLE err RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT rc EQUAL 0)
    string(REGEX REPLACE ".*\n([^\n]+)\n?$" "\\1" last "\n${err}")
    message(FATAL_ERROR "tomograd: TOMOGRAD_TORCH=python, but `${TOMOGRAD_PYTHON} -c 'import torch'` "
                        "failed (${last}). Install a PyTorch there, set TOMOGRAD_PYTHON to an interpreter "
                        "that has one, or use TOMOGRAD_TORCH=debian.")
  endif()
  string(REPLACE "\n" ";" info "${info}")
  list(GET info 0 version)
  list(GET info 1 cuda)
  list(GET info 2 py_abi)
  list(GET info 3 prefix)
  list(GET info 4 file)
  if(NOT EXISTS "${prefix}/Torch/TorchConfig.cmake")
    message(FATAL_ERROR "tomograd: TOMOGRAD_TORCH=python, but the torch ${version} that ${TOMOGRAD_PYTHON} "
                        "imports (${file}) has no CMake package at ${prefix}/Torch/TorchConfig.cmake (Debian's "
                        "python3-torch ships its LibTorch config in libtorch-dev instead: use "
                        "TOMOGRAD_TORCH=debian there).")
  endif()
  tomograd_torch_config_abi("${prefix}/Torch/TorchConfig.cmake" config_abi)
  if(NOT config_abi STREQUAL "" AND NOT config_abi STREQUAL py_abi)
    message(FATAL_ERROR "tomograd: torch ${version} (${file}) reports compiled_with_cxx11_abi()=${py_abi} "
                        "but its TorchConfig.cmake sets _GLIBCXX_USE_CXX11_ABI=${config_abi}: a broken install.")
  endif()
  tomograd_check_torch_abi("${py_abi}" "of torch ${version} (${file})")
  set(TOMOGRAD_TORCH_DESCRIPTION "PyTorch ${version} (CUDA ${cuda}) from ${file}" PARENT_SCOPE)
  set(${out} "${prefix}/Torch" PARENT_SCOPE)
endfunction()

if(TOMOGRAD_TORCH STREQUAL "python")
  tomograd_python_torch_dir(dir)
elseif(TOMOGRAD_TORCH STREQUAL "debian")
  set(dir "/usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/cmake/Torch")
  if(NOT EXISTS "${dir}/TorchConfig.cmake")
    message(FATAL_ERROR "tomograd: TOMOGRAD_TORCH=debian, but ${dir}/TorchConfig.cmake does not exist "
                        "(apt-get install libtorch-dev, or scripts/install-deps.sh).")
  endif()
  tomograd_torch_config_abi("${dir}/TorchConfig.cmake" abi)
  tomograd_check_torch_abi("${abi}" "at ${dir}")
  set(TOMOGRAD_TORCH_DESCRIPTION "Debian's libtorch-dev")
elseif(NOT TOMOGRAD_TORCH STREQUAL "")
  message(FATAL_ERROR "tomograd: TOMOGRAD_TORCH='${TOMOGRAD_TORCH}' (expected empty, debian or python)")
endif()

if(NOT TOMOGRAD_TORCH STREQUAL "")
  if(DEFINED CACHE{TOMOGRAD_TORCH_DIR_USED} AND NOT TOMOGRAD_TORCH_DIR_USED STREQUAL dir)
    message(FATAL_ERROR "tomograd: this build folder (${CMAKE_BINARY_DIR}) was configured against the "
                        "LibTorch at ${TOMOGRAD_TORCH_DIR_USED}; TOMOGRAD_TORCH=${TOMOGRAD_TORCH} asks for "
                        "${dir}. Use another build folder for it.")
  endif()
  set(TOMOGRAD_TORCH_DIR_USED "${dir}" CACHE INTERNAL "LibTorch config folder this build folder uses")
  set(Torch_DIR "${dir}" CACHE PATH "LibTorch CMake package (chosen by TOMOGRAD_TORCH)" FORCE)
  message(STATUS "tomograd: TOMOGRAD_TORCH=${TOMOGRAD_TORCH}: ${TOMOGRAD_TORCH_DESCRIPTION} (${dir})")
elseif(CMAKE_VERSION VERSION_GREATER_EQUAL 3.19)
  # A LibTorch found by find_package itself (Torch_DIR or CMAKE_PREFIX_PATH by hand) is checked
  # once configuration has found it; this adds no flag and changes no target.
  function(tomograd_check_found_torch_abi)
    if(TORCH_CXX_FLAGS MATCHES "_GLIBCXX_USE_CXX11_ABI=([01])")
      tomograd_check_torch_abi("${CMAKE_MATCH_1}" "at ${Torch_DIR}")
    endif()
  endfunction()
  cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL tomograd_check_found_torch_abi)
endif()
