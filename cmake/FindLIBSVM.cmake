# FindLIBSVM: libsvm (Debian's libsvm-dev ships no CMake config or pkg-config file).
# Provides LIBSVM::libsvm, LIBSVM_FOUND, LIBSVM_INCLUDE_DIR, LIBSVM_LIBRARY.
find_path(LIBSVM_INCLUDE_DIR NAMES svm.h PATH_SUFFIXES libsvm)
find_library(LIBSVM_LIBRARY NAMES svm)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(LIBSVM REQUIRED_VARS LIBSVM_LIBRARY LIBSVM_INCLUDE_DIR)
if(LIBSVM_FOUND AND NOT TARGET LIBSVM::libsvm)
  add_library(LIBSVM::libsvm UNKNOWN IMPORTED)
  set_target_properties(LIBSVM::libsvm PROPERTIES
    IMPORTED_LOCATION "${LIBSVM_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${LIBSVM_INCLUDE_DIR}")
endif()
mark_as_advanced(LIBSVM_INCLUDE_DIR LIBSVM_LIBRARY)
