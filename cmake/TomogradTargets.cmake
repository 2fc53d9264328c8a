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
  target_include_directories(${target} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
    $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/include>
    $<INSTALL_INTERFACE:include>)
  target_link_libraries(${target} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  target_compile_features(${target} PUBLIC cxx_std_17)
  tomograd_set_warnings(${target})
  tomograd_torch_flags(${target})
  tomograd_use_pch(${target})
  set(TOMOGRAD_EXPORTED_TARGETS ${TOMOGRAD_EXPORTED_TARGETS} ${target} CACHE INTERNAL "")
endfunction()

# tomograd_add_executable(<name> SOURCES ... DEPS ...): an app or test binary.
function(tomograd_add_executable name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
  tomograd_set_warnings(${name})
  tomograd_torch_flags(${name})
  tomograd_use_pch(${name})
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
