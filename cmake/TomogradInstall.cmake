# cmake --install: apps, public headers and a CMake package so that a downstream project can
#   find_package(tomograd) and target_link_libraries(x PRIVATE tomograd::io)
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS ${TOMOGRAD_EXPORTED_TARGETS} EXPORT tomogradTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY include/tomograd DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_BINARY_DIR}/include/tomograd DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES cmake/FindLIBSVM.cmake cmake/FindNIFTI.cmake DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tomograd)
install(EXPORT tomogradTargets NAMESPACE tomograd::
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tomograd)
configure_package_config_file(cmake/tomogradConfig.cmake.in
  ${PROJECT_BINARY_DIR}/tomogradConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tomograd)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/tomogradConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/tomogradConfig.cmake
  ${PROJECT_BINARY_DIR}/tomogradConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tomograd)
