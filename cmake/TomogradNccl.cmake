# NCCL for data-parallel training on GPUs (issue 13, docs/distributed.md): LibTorch's own
# ProcessGroupNCCL, which a CUDA LibTorch (a PyTorch install: TOMOGRAD_TORCH=python) carries in
# libtorch_cuda. Its header includes nccl.h, which such an install keeps in the nvidia-nccl wheel
# (site-packages/nvidia/nccl/include); a CUDA toolkit may have one too, or NCCL_INCLUDE_DIR names it.
#
#   TOMOGRAD_NCCL=AUTO (default)  built when the LibTorch has CUDA, nccl.h is found and a test
#                                 compile of src/train/nccl_group.cpp against them passes; else
#                                 Gloo alone, with a message saying why.
#   TOMOGRAD_NCCL=ON              the same, but a configure error instead of the fallback.
#   TOMOGRAD_NCCL=OFF             never (TOMOGRAD_DIST_BACKEND=nccl then says the build lacks it).
#
# tomograd_nccl(<target> <source>) adds <source> and TOMOGRAD_WITH_NCCL to <target> when NCCL is on.
set(TOMOGRAD_NCCL AUTO CACHE STRING "NCCL process group for CUDA data-parallel training: AUTO, ON or OFF")
set_property(CACHE TOMOGRAD_NCCL PROPERTY STRINGS AUTO ON OFF)
set(NCCL_INCLUDE_DIR "" CACHE PATH "Folder holding nccl.h (found by itself when empty)")
# The check links a small program against the LibTorch, so that one built without NCCL (whose
# headers are installed all the same) falls back too; tests/nccl, which has no CUDA LibTorch to
# link, only compiles.
option(TOMOGRAD_NCCL_LINK_CHECK "Link the NCCL check against the LibTorch (not only compile it)" ON)

# The folder of nccl.h, or empty; sets `why` in the caller when there is none.
function(tomograd_find_nccl_header out)
  # A folder named by hand is taken as named (find_path would keep the header it found before).
  if(NCCL_INCLUDE_DIR)
    if(NOT EXISTS "${NCCL_INCLUDE_DIR}/nccl.h")
      message(FATAL_ERROR "tomograd: NCCL_INCLUDE_DIR=${NCCL_INCLUDE_DIR} has no nccl.h")
    endif()
    set(${out} "${NCCL_INCLUDE_DIR}" PARENT_SCOPE)
    return()
  endif()
  set(hints "$ENV{NCCL_INCLUDE_DIR}" "$ENV{NCCL_HOME}/include")
  if(TOMOGRAD_TORCH STREQUAL "python")
    # nvidia is a namespace package: nvidia.nccl's folder, where pip put libnccl and nccl.h.
    execute_process(
      COMMAND "${TOMOGRAD_PYTHON}" -c "import os, nvidia.nccl as n; print(os.path.join(list(n.__path__)[0], 'include'))"
      OUTPUT_VARIABLE wheel OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE rc)
    if(rc EQUAL 0)
      list(APPEND hints "${wheel}")
    endif()
  endif()
  if(CUDAToolkit_INCLUDE_DIRS)
    list(APPEND hints ${CUDAToolkit_INCLUDE_DIRS})
  endif()
  if(CUDA_INCLUDE_DIRS)
    list(APPEND hints ${CUDA_INCLUDE_DIRS})
  endif()
  find_path(TOMOGRAD_NCCL_HEADER_DIR nccl.h HINTS ${hints} PATHS /usr/local/cuda/include /usr/include)
  set(${out} "${TOMOGRAD_NCCL_HEADER_DIR}" PARENT_SCOPE)
endfunction()

function(tomograd_nccl target source)
  if(TOMOGRAD_NCCL STREQUAL "OFF")
    return()
  elseif(NOT TOMOGRAD_NCCL MATCHES "^(AUTO|ON)$")
    message(FATAL_ERROR "tomograd: TOMOGRAD_NCCL='${TOMOGRAD_NCCL}' (expected AUTO, ON or OFF)")
  endif()
  set(why "")
  if(NOT TARGET torch_cuda)
    set(why "the LibTorch at ${Torch_DIR} has no CUDA (torch_cuda)")
  else()
    tomograd_find_nccl_header(dir)
    if(NOT dir)
      set(why "nccl.h not found (pip's nvidia-nccl wheel, a CUDA toolkit, or -DNCCL_INCLUDE_DIR=...)")
    endif()
  endif()
  if(NOT why)
    # One build of the unit against this LibTorch, linked into a program that uses it: headers of
    # another version, or a LibTorch built without NCCL, fall back to Gloo here instead of
    # failing the build.
    set(sources "${source}")
    if(TOMOGRAD_NCCL_LINK_CHECK)
      set(CMAKE_TRY_COMPILE_TARGET_TYPE EXECUTABLE)
      set(main "${CMAKE_BINARY_DIR}/nccl-check-main.cpp")
      get_filename_component(source_dir "${source}" DIRECTORY)
      file(WRITE "${main}" "#include \"${source_dir}/nccl_group.hpp\"\n"
                           "int main() { return tomograd::train::detail::make_nccl_group ? 0 : 1; }\n")
      list(APPEND sources "${main}")
    else()
      set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
    endif()
    try_compile(TOMOGRAD_NCCL_BUILDS "${CMAKE_BINARY_DIR}/nccl-check"
      SOURCES ${sources}
      CMAKE_FLAGS "-DINCLUDE_DIRECTORIES=${dir};${PROJECT_SOURCE_DIR}/include"
      COMPILE_DEFINITIONS ${TOMOGRAD_TORCH_FLAGS}
      LINK_LIBRARIES ${TORCH_LIBRARIES}
      CXX_STANDARD 17
      OUTPUT_VARIABLE log)
    if(NOT TOMOGRAD_NCCL_BUILDS)
      string(REGEX MATCH "[^\n]*(error|undefined reference)[^\n]*" first_error "${log}")
      string(SUBSTRING "${first_error}" 0 300 first_error)
      set(why "nccl_group.cpp did not build against this LibTorch with ${dir}/nccl.h: ${first_error}")
    endif()
  endif()
  if(why)
    if(TOMOGRAD_NCCL STREQUAL "ON")
      message(FATAL_ERROR "tomograd: TOMOGRAD_NCCL=ON, but ${why}")
    endif()
    message(STATUS "tomograd: NCCL process group: no (${why}); data-parallel jobs use Gloo")
    return()
  endif()
  message(STATUS "tomograd: NCCL process group: yes (nccl.h in ${dir})")
  target_sources(${target} PRIVATE "${source}")
  set_source_files_properties("${source}" PROPERTIES SKIP_UNITY_BUILD_INCLUSION ON SKIP_PRECOMPILE_HEADERS ON)
  target_include_directories(${target} PRIVATE "${dir}")
  target_compile_definitions(${target} PRIVATE TOMOGRAD_WITH_NCCL)
endfunction()
