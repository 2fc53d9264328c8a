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

function(tomograd_torch_flags target)
  if(TOMOGRAD_TORCH_FLAGS)
    target_compile_options(${target} PRIVATE ${TOMOGRAD_TORCH_FLAGS})
  endif()
endfunction()

function(tomograd_add_library layer)
  cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  set(target tomograd_${layer})
  add_library(${target} ${ARG_SOURCES})
  add_library(tomograd::${layer} ALIAS ${target})
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${layer} OUTPUT_NAME tomograd_${layer})
  # The layer's public headers through an include root of its own, <build>/layer-include/<layer>,
  # whose only entry tomograd/<layer> links to include/tomograd/<layer>. Roots travel with
  # target_link_libraries, so a layer (and a test or app) sees the headers of the layers it
  # links, and no others: including a layer you may not use fails to compile. The layer table
  # itself is docs/architecture.md, checked by scripts/check-layout.py.
  set(root ${PROJECT_BINARY_DIR}/layer-include/${layer})
  if(NOT IS_SYMLINK ${root}/tomograd/${layer})
    file(MAKE_DIRECTORY ${root}/tomograd)
    file(CREATE_LINK ${PROJECT_SOURCE_DIR}/include/tomograd/${layer} ${root}/tomograd/${layer} SYMBOLIC)
  endif()
  target_include_directories(${target} PUBLIC $<BUILD_INTERFACE:${root}> $<INSTALL_INTERFACE:include>)
  if(layer STREQUAL "core")  # generated headers (build_info.hpp)
    target_include_directories(${target} PUBLIC $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/include>)
  endif()
  target_link_libraries(${target} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  target_compile_features(${target} PUBLIC cxx_std_17)
  tomograd_set_warnings(${target})
  tomograd_torch_flags(${target})
  tomograd_use_pch(${target})
  set(TOMOGRAD_EXPORTED_TARGETS ${TOMOGRAD_EXPORTED_TARGETS} ${target} CACHE INTERNAL "")
endfunction()

# tomograd_add_executable(<name> SOURCES ... DEPS ... [NO_PCH]): an app or test binary; NO_PCH
# when the caller attaches another precompiled header (the tests' one).
function(tomograd_add_executable name)
  cmake_parse_arguments(ARG "NO_PCH" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
  tomograd_set_warnings(${name})
  tomograd_torch_flags(${name})
  if(NOT ARG_NO_PCH)
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
