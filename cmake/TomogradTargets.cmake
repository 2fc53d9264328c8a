# tomograd_add_library(<layer> SOURCES ... PUBLIC_DEPS ... PRIVATE_DEPS ...)
# Creates tomograd_<layer> with the alias tomograd::<layer>, the project's include layout,
# warnings, LibTorch flags and the shared precompiled header, and registers it for export.
set(TOMOGRAD_EXPORTED_TARGETS "" CACHE INTERNAL "")

function(tomograd_use_pch target)
  if(NOT TOMOGRAD_USE_PCH)
    return()
  endif()
  if(TARGET tomograd_pch)
    target_precompile_headers(${target} REUSE_FROM tomograd_pch)
  endif()
endfunction()

# Unity builds (issue 16): a target's sources are compiled in batches of TOMOGRAD_UNITY_BATCH
# files, one translation unit each. Most of an app or test file's compile time is the code it
# instantiates from the headers it shares with its neighbours (CLI11, fmt, LibTorch's inline
# functions), so a batch costs little more than one file: the four apps took 705 s of compiler
# time as 46 files and about 125 s as one unit each (bench/README.md, "Build time"). The
# consequence for the code: names at namespace scope, anonymous namespaces included, must be
# unique within a target. scripts/test.sh and CI build this way; a development tree that
# rebuilds one file at a time may configure -DTOMOGRAD_UNITY_BUILD=OFF.
option(TOMOGRAD_UNITY_BUILD "Compile each target's sources in unity batches" ON)
set(TOMOGRAD_UNITY_BATCH 8 CACHE STRING "Source files per unity translation unit")
function(tomograd_unity target)
  if(TOMOGRAD_UNITY_BUILD)
    set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE ${TOMOGRAD_UNITY_BATCH})
  endif()
endfunction()

function(tomograd_torch_flags target)
  if(TOMOGRAD_TORCH_FLAGS)
    target_compile_options(${target} PRIVATE ${TOMOGRAD_TORCH_FLAGS})
  endif()
endfunction()

# tomograd_add_library(<name> SOURCES ... [PUBLIC_DEPS ...] [PRIVATE_DEPS ...] [HEADERS_OF <layer>]
#                      [NO_TORCH]): the static library tomograd::<name>. HEADERS_OF: a second
# target of one layer's folder (core_base: the part of core without LibTorch) shares that
# layer's include root. NO_TORCH: no precompiled header (it includes torch/torch.h), so that
# the target compiles and links without LibTorch; LibTorch's ABI define still applies.
function(tomograd_add_library layer)
  cmake_parse_arguments(ARG "NO_TORCH" "HEADERS_OF" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  set(target tomograd_${layer})
  add_library(${target} ${ARG_SOURCES})
  add_library(tomograd::${layer} ALIAS ${target})
  tomograd_unity(${target})
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${layer} OUTPUT_NAME tomograd_${layer})
  # The layer's public headers through an include root of its own, <build>/layer-include/<layer>,
  # whose only entry tomograd/<layer> links to include/tomograd/<layer>. Roots travel with
  # target_link_libraries, so a layer (and a test or app) sees the headers of the layers it
  # links, and no others: including a layer you may not use fails to compile. The layer table
  # itself is docs/architecture.md, checked by scripts/check-layout.py.
  set(headers ${layer})
  if(ARG_HEADERS_OF)
    set(headers ${ARG_HEADERS_OF})
  endif()
  set(root ${PROJECT_BINARY_DIR}/layer-include/${headers})
  if(NOT IS_SYMLINK ${root}/tomograd/${headers})
    file(MAKE_DIRECTORY ${root}/tomograd)
    file(CREATE_LINK ${PROJECT_SOURCE_DIR}/include/tomograd/${headers} ${root}/tomograd/${headers} SYMBOLIC)
  endif()
  target_include_directories(${target} PUBLIC $<BUILD_INTERFACE:${root}> $<INSTALL_INTERFACE:include>)
  if(headers STREQUAL "core")  # generated headers (build_info.hpp)
    target_include_directories(${target} PUBLIC $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/include>)
  endif()
  target_link_libraries(${target} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  target_compile_features(${target} PUBLIC cxx_std_17)
  tomograd_set_warnings(${target})
  tomograd_torch_flags(${target})  # the ABI define: every unit of one program agrees on it
  if(NOT ARG_NO_TORCH)
    tomograd_use_pch(${target})
  endif()
  set(TOMOGRAD_EXPORTED_TARGETS ${TOMOGRAD_EXPORTED_TARGETS} ${target} CACHE INTERNAL "")
endfunction()

# tomograd_add_executable(<name> SOURCES ... DEPS ... [NO_PCH] [NO_TORCH]): an app or test binary;
# NO_PCH when the caller attaches another precompiled header (the tests' one), NO_TORCH for a
# binary that does not link LibTorch (the light `tomograd` front end).
function(tomograd_add_executable name)
  cmake_parse_arguments(ARG "NO_PCH;NO_TORCH" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
  tomograd_unity(${name})
  tomograd_set_warnings(${name})
  tomograd_torch_flags(${name})
  if(NOT ARG_NO_PCH AND NOT ARG_NO_TORCH)
    tomograd_use_pch(${name})
  endif()
endfunction()

# tomograd_built_layers(<out_var>): tomograd::<layer> for every layer target that exists, in
# dependency order (apps and the CLI tests link all of them).
function(tomograd_built_layers out_var)
  set(result "")
  foreach(layer IN LISTS TOMOGRAD_LAYERS)
    if(TARGET tomograd_${layer})
      list(APPEND result tomograd::${layer})
    endif()
  endforeach()
  set(${out_var} ${result} PARENT_SCOPE)
endfunction()
