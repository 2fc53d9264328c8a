// libFuzzer harness: one DICOM file through scan + series geometry + pixel decoding
// (native, RLE, JPEG, JPEG-LS, JPEG 2000 and deflated transfer syntaxes).
#include "fuzz_common.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/io/dicom.hpp"
#include "tomograd/io/limits.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tomograd;
  fuzz::quiet();
  io::set_max_image_bytes(std::uint64_t{256} << 20);
  const auto file = fuzz::scratch() / "input.dcm";
  fuzz::write_bytes(file, data, size);
  io::DicomReadOptions options;
  options.threads = 1;
  options.show_progress = false;
  try {
    io::read_dicom(file, "", options);
  } catch (const Error&) {
    // A clear error is the right answer to a bad file; anything else (a crash, a sanitizer
    // report, another exception type) is a finding.
  }
  return 0;
}
