# FindNIFTI: nifti_clib's NIfTI-1/2 library (Debian's libnifti2-dev).
# Used in MODULE mode because the config file Debian ships (NIFTI 3.0.1-9) points at
# /usr/lib/libznz.so.3.0.0, which does not exist there, and aborts configuration.
# Provides NIFTI::nifti2 and NIFTI::znz, NIFTI_FOUND, NIFTI_INCLUDE_DIR.
find_path(NIFTI_INCLUDE_DIR NAMES nifti2_io.h PATH_SUFFIXES nifti)
find_library(NIFTI_NIFTI2_LIBRARY NAMES nifti2)
find_library(NIFTI_ZNZ_LIBRARY NAMES znz)
find_package(ZLIB QUIET)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(NIFTI
  REQUIRED_VARS NIFTI_NIFTI2_LIBRARY NIFTI_ZNZ_LIBRARY NIFTI_INCLUDE_DIR)
if(NIFTI_FOUND)
  if(NOT TARGET NIFTI::znz)
    add_library(NIFTI::znz UNKNOWN IMPORTED)
    set_target_properties(NIFTI::znz PROPERTIES IMPORTED_LOCATION "${NIFTI_ZNZ_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${NIFTI_INCLUDE_DIR}"
      INTERFACE_COMPILE_DEFINITIONS HAVE_ZLIB)
    if(TARGET ZLIB::ZLIB)
      set_property(TARGET NIFTI::znz PROPERTY INTERFACE_LINK_LIBRARIES ZLIB::ZLIB)
    endif()
  endif()
  if(NOT TARGET NIFTI::nifti2)
    add_library(NIFTI::nifti2 UNKNOWN IMPORTED)
    set_target_properties(NIFTI::nifti2 PROPERTIES IMPORTED_LOCATION "${NIFTI_NIFTI2_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${NIFTI_INCLUDE_DIR}"
      INTERFACE_LINK_LIBRARIES "NIFTI::znz;m")
  endif()
endif()
mark_as_advanced(NIFTI_INCLUDE_DIR NIFTI_NIFTI2_LIBRARY NIFTI_ZNZ_LIBRARY)
