// The label and manifest fuzzing harness (fuzz/fuzz_manifest.cpp), compiled here under another
// name: a synthetic lumbar cohort's CSV files go through every check, and the inputs under
// tests/fuzz_regressions/manifest/ end in a result or a tomograd::Error, never a crash.
#include <catch2/catch.hpp>

#include "support/fixtures.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/tasks/lumbar/synth.hpp"

#define LLVMFuzzerTestOneInput fuzz_manifest_one
#include "../../../fuzz/fuzz_manifest.cpp"
#undef LLVMFuzzerTestOneInput

namespace fs = std::filesystem;

TEST_CASE("manifest fuzzing harness: a synthetic cohort's CSVs and the regression inputs", "[tasks]") {
  tomograd::test::TempDir tmp;
  tomograd::tasks::LumbarSynthOptions o;
  o.out = tmp / "cohort";
  o.studies = 2;
  o.scale = 0.0625;
  o.seed = 1;
  o.threads = 1;
  tomograd::tasks::synthesize_lumbar_cohort(o);
  // The header and first 8 rows of the coordinates: the harness makes the files of 8 rows.
  std::string coordinates = tomograd::read_file(o.out / "train_label_coordinates.csv");
  std::size_t end = 0;
  for (int line = 0; line < 9; ++line) end = coordinates.find('\n', end) + 1;
  coordinates.resize(end);
  const std::string input = tomograd::read_file(o.out / "train.csv") + "TGCSV\n" +
                            tomograd::read_file(o.out / "train_series_descriptions.csv") + "TGCSV\n" + coordinates;
  CHECK(fuzz_manifest_one(reinterpret_cast<const uint8_t*>(input.data()), input.size()) == 0);
  // The harness builds the folders and instance files the rows name, so the checks past "no
  // such folder" run: the dataset it left reads without a problem.
  const auto ds = tomograd::tasks::lumbar::read_dataset(tomograd::fuzz::scratch() / "dataset", "train", false);
  CHECK(ds.series.size() == 6);
  CHECK(ds.coordinates.size() == 8);
  CHECK(ds.labels.size() == 2);
  int replayed = 0;
  const fs::path dir = fs::path(TOMOGRAD_SOURCE_DIR) / "tests" / "fuzz_regressions" / "manifest";
  if (fs::is_directory(dir)) {
    for (const auto& entry : fs::directory_iterator(dir)) {
      INFO(entry.path().string());
      const std::string bytes = tomograd::read_file(entry.path());
      CHECK(fuzz_manifest_one(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()) == 0);
      ++replayed;
    }
  }
  WARN(replayed << " manifest regression inputs replayed");
}
