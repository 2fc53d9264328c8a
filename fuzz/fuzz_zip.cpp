// libFuzzer harness: a .pth/.pt zip archive opened as `tomograd weights` does: our directory
// check (src/core/zip_directory.cpp), then LibTorch's PyTorchStreamReader (miniz) and the
// pickle reader on data.pkl, then every tensor built from its storage record. libFuzzer's
// -malloc_limit_mb makes an allocation of a size the file cannot back a finding.
#include "fuzz_common.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/zip_directory.hpp"
#include "tomograd/models/weights_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tomograd;
  const auto file = fuzz::scratch() / "input.pth";
  fuzz::write_bytes(file, data, size);
  try {
    const auto entries = zip::check_zip_file(file);
    for (const auto& e : entries) {
      // What the check let through lies inside the input.
      if (e.data_offset > size || size - e.data_offset < e.compressed_size) __builtin_trap();
      if (e.method == 0 && e.uncompressed_size != e.compressed_size) __builtin_trap();
    }
  } catch (const Error&) {
  }
  try {
    for (const auto& item : models::read_weights(file)) (void)item.value().sum();
  } catch (const Error&) {
    // A clear error is the right answer to a bad archive; a crash, a sanitizer report, an
    // oversized allocation or another exception type (c10::Error) is a finding.
  }
  return 0;
}
