// Replays tests/fuzz_regressions/<harness>/* through the harness code that found them (the
// libFuzzer entry points of fuzz/, compiled here under other names): each must end in a
// tomograd::Error or a result, never a crash or another exception type.
#include <catch2/catch.hpp>

#include <filesystem>
#include <functional>
#include <map>

#include "support/fixtures.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/io/limits.hpp"

#define LLVMFuzzerTestOneInput fuzz_dicom_one
#include "../../../fuzz/fuzz_dicom.cpp"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_dicom_series_one
#include "../../../fuzz/fuzz_dicom_series.cpp"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_nifti_one
#include "../../../fuzz/fuzz_nifti.cpp"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_nifti_gz_one
#include "../../../fuzz/fuzz_nifti_gz.cpp"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_csv_one
#include "../../../fuzz/fuzz_csv.cpp"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_config_one
#include "../../../fuzz/fuzz_config.cpp"
#undef LLVMFuzzerTestOneInput

namespace fs = std::filesystem;

TEST_CASE("fuzzing regression inputs of the image, CSV and config readers", "[io]") {
  const std::map<std::string, std::function<int(const uint8_t*, size_t)>> harnesses = {
      {"dicom", fuzz_dicom_one}, {"dicom_series", fuzz_dicom_series_one}, {"nifti", fuzz_nifti_one},
      {"nifti_gz", fuzz_nifti_gz_one}, {"csv", fuzz_csv_one}, {"config", fuzz_config_one}};
  const fs::path root = fs::path(TOMOGRAD_SOURCE_DIR) / "tests" / "fuzz_regressions";
  int replayed = 0;
  for (const auto& [name, run] : harnesses) {
    if (!fs::is_directory(root / name)) continue;
    for (const auto& entry : fs::directory_iterator(root / name)) {
      INFO(entry.path().string());
      const std::string bytes = tomograd::read_file(entry.path());
      CHECK(run(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()) == 0);
      ++replayed;
    }
  }
  tomograd::io::set_max_image_bytes(0);
  // The harnesses themselves, on inputs a reader must accept: a real file of each kind.
  const std::string csv = "patient_id,path\nP1,\"a,b\"\n";
  CHECK(fuzz_csv_one(reinterpret_cast<const uint8_t*>(csv.data()), csv.size()) == 0);
  const std::string ct = tomograd::read_file(tomograd::test::data_file("pydicom/CT_small.dcm"));
  CHECK(fuzz_dicom_one(reinterpret_cast<const uint8_t*>(ct.data()), ct.size()) == 0);
  tomograd::io::set_max_image_bytes(0);
  WARN(replayed << " regression inputs replayed");
}
