// libFuzzer harness: a NIfTI-1/NIfTI-2 file, plain (.nii) and the same bytes gzip-compressed
// (.nii.gz), through our header size check, nifti_clib and the conversion to a Volume.
#include "fuzz_common.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/io/gzip.hpp"
#include "tomograd/io/limits.hpp"
#include "tomograd/io/nifti.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tomograd;
  fuzz::quiet();
  io::set_max_image_bytes(std::uint64_t{256} << 20);
  const auto plain = fuzz::scratch() / "input.nii";
  fuzz::write_bytes(plain, data, size);
  try {
    io::read_nifti(plain);
  } catch (const Error&) {
  }
  io::GzipOptions gz;
  gz.level = 1;
  gz.threads = 1;
  const std::string packed = io::gzip_compress(std::string_view(reinterpret_cast<const char*>(data), size), gz);
  const auto zipped = fuzz::scratch() / "input.nii.gz";
  fuzz::write_bytes(zipped, reinterpret_cast<const uint8_t*>(packed.data()), packed.size());
  try {
    io::read_nifti(zipped);
  } catch (const Error&) {
  }
  return 0;
}
