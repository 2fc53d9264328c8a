# Every dependency through find_package. TOMOGRAD_MINIMAL needs only the first block.
find_package(Torch REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(spdlog REQUIRED)
# LibTorch and spdlog for target_link_libraries, in the order their include folders are searched.
# A PyTorch install (LibTorch 2.x) ships its own, newer fmt headers in its include folder: spdlog
# (with the fmt it was built with) goes first there, so they do not shadow it. Debian's LibTorch
# has no such copy and keeps the order it always had.
# PyTorch's libtorch.so also exports its own copy of some std::filesystem functions (seen with
# PyTorch 2.11: std::filesystem::remove_all resolved into libtorch.so and crashed), so libstdc++
# is named first there: the dynamic linker then resolves the standard library to libstdc++.
if(Torch_VERSION VERSION_GREATER_EQUAL 2.0)
  set(TOMOGRAD_TORCH_AND_SPDLOG stdc++ spdlog::spdlog ${TORCH_LIBRARIES})
else()
  set(TOMOGRAD_TORCH_AND_SPDLOG ${TORCH_LIBRARIES} spdlog::spdlog)
endif()
find_package(nlohmann_json 3 REQUIRED)
find_package(Threads REQUIRED)

# LibTorch's CMake config adds its flags to TORCH_CXX_FLAGS (e.g. -D_GLIBCXX_USE_CXX11_ABI);
# they must reach every translation unit that includes torch headers.
if(TORCH_CXX_FLAGS)
  separate_arguments(TOMOGRAD_TORCH_FLAGS UNIX_COMMAND "${TORCH_CXX_FLAGS}")
endif()

if(NOT TOMOGRAD_MINIMAL)
  find_package(DCMTK REQUIRED)
  find_package(OpenJPEG REQUIRED)           # JPEG 2000: DCMTK's free build has no codec
  find_package(OpenCV REQUIRED COMPONENTS core imgproc imgcodecs)
  find_package(NIFTI MODULE REQUIRED)      # cmake/FindNIFTI.cmake: Debian's config is broken
  find_package(ZLIB REQUIRED)
  find_package(CLI11 REQUIRED)
  find_package(xgboost REQUIRED)
  find_package(LIBSVM REQUIRED)             # cmake/FindLIBSVM.cmake: Debian ships no config
endif()

if(TOMOGRAD_BUILD_TESTS)
  find_package(Catch2 2 REQUIRED)
endif()
