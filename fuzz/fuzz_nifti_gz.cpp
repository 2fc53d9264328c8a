// libFuzzer harness: the input itself as a .nii.gz (corrupt gzip streams, gzip bombs, headers
// that claim more than the stream can inflate to).
#include "fuzz_common.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/io/limits.hpp"
#include "tomograd/io/nifti.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tomograd;
  fuzz::quiet();
  io::set_max_image_bytes(std::uint64_t{256} << 20);
  const auto file = fuzz::scratch() / "input.nii.gz";
  fuzz::write_bytes(file, data, size);
  try {
    io::read_nifti(file);
  } catch (const Error&) {
  }
  return 0;
}
