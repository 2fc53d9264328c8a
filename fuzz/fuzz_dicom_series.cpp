// libFuzzer harness: a small DICOM series (up to 4 files, the input split at "\nTGSERIES\n") through
// the folder scan, series grouping, slice sorting and spacing checks, then reading.
#include <cstring>
#include <string_view>

#include "fuzz_common.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/io/dicom.hpp"
#include "tomograd/io/limits.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tomograd;
  fuzz::quiet();
  io::set_max_image_bytes(std::uint64_t{256} << 20);
  const auto dir = fuzz::scratch() / "series";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string_view input(reinterpret_cast<const char*>(data), size), marker = "\nTGSERIES\n";
  size_t begin = 0;
  for (int i = 0; i < 4 && begin <= input.size(); ++i) {
    const size_t end = i == 3 ? input.size() : std::min(input.find(marker, begin), input.size());
    fuzz::write_bytes(dir / ("IM" + std::to_string(i) + ".dcm"), data + begin, end - begin);
    begin = end + marker.size();
  }
  io::DicomReadOptions options;
  options.threads = 1;
  options.show_progress = false;
  try {
    io::DicomScanOptions scan;
    scan.threads = 1;
    scan.show_progress = false;
    for (const auto& series : io::scan_dicom(dir, scan)) {
      io::series_geometry(series, false);
      io::read_dicom_series(series, options);
    }
  } catch (const Error&) {
  }
  return 0;
}
