# Use ccache for C and C++ when it is installed (LibTorch translation units compile slowly).
# The sloppiness settings let ccache cache translation units built with a precompiled header.
find_program(TOMOGRAD_CCACHE ccache)
if(TOMOGRAD_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(_tg_launcher "${CMAKE_COMMAND}" -E env
      "CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime"
      "${TOMOGRAD_CCACHE}")
  set(CMAKE_C_COMPILER_LAUNCHER ${_tg_launcher})
  set(CMAKE_CXX_COMPILER_LAUNCHER ${_tg_launcher})
  message(STATUS "tomograd: using ccache ${TOMOGRAD_CCACHE}")
endif()
