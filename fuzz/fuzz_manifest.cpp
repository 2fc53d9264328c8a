// libFuzzer harness: the label and manifest checks of the three tasks, on the bytes as CSV files
// of a dataset folder. The input is up to three CSV texts separated by a line "TGCSV":
//   0: lumbar train.csv, also read as a lumbar submission, the bmd manifest and the metastasis
//      labels.csv; 1: train_series_descriptions.csv; 2: train_label_coordinates.csv.
// Folders for the first rows' ids are created so that the checks past "no such folder" run too
// (DICOM headers are not read: the dicom harnesses fuzz those).
#include <algorithm>
#include <cctype>
#include <string_view>

#include "fuzz_common.hpp"
#include "tomograd/core/csv.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/tasks/bmd/pipeline.hpp"
#include "tomograd/tasks/lumbar/dataset.hpp"
#include "tomograd/tasks/lumbar/labels.hpp"
#include "tomograd/tasks/metastasis/pipeline.hpp"

namespace {

namespace fs = std::filesystem;

// A cell usable as one folder name (short, plain characters); others are left to the checks.
bool plain_name(const std::string& s) {
  return !s.empty() && s.size() <= 24 && s != "." && s != ".." &&
         std::all_of(s.begin(), s.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'; });
}

// Folders (and empty instance files) named by the first rows of @p csv's columns.
void make_folders(const std::string& csv, const fs::path& root, const std::vector<const char*>& columns) {
  try {
    const auto t = tomograd::CsvTable::parse(csv, "folders.csv");
    for (const char* c : columns) {
      if (!t.has_column(c)) return;
    }
    for (std::size_t r = 0; r < t.num_rows() && r < 8; ++r) {
      fs::path dir = root;
      for (std::size_t i = 0; i < columns.size(); ++i) {
        const std::string cell = t.at(r, t.column_index(columns[i]));
        if (!plain_name(cell)) break;
        if (i + 1 == columns.size() && std::string(columns[i]) == "instance_number") {
          static const uint8_t none = 0;
          tomograd::fuzz::write_bytes(dir / (cell + ".dcm"), &none, 0);
        } else {
          dir /= cell;
          std::error_code ec;
          fs::create_directories(dir, ec);
        }
      }
    }
  } catch (const tomograd::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tomograd;
  fuzz::quiet();
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> parts;
  for (size_t begin = 0; parts.size() < 3;) {
    const size_t end = parts.size() < 2 ? bytes.find("\nTGCSV\n", begin) : std::string_view::npos;
    parts.emplace_back(bytes.substr(begin, end == std::string_view::npos ? std::string_view::npos : end - begin));
    if (end == std::string_view::npos) break;
    begin = end + 7;
  }
  const fs::path dir = fuzz::scratch() / "dataset";
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir / "train_images");
  fs::create_directories(dir / "CTs");
  fuzz::write_bytes(dir / "train.csv", reinterpret_cast<const uint8_t*>(parts[0].data()), parts[0].size());
  if (parts.size() > 1) {
    fuzz::write_bytes(dir / "train_series_descriptions.csv", reinterpret_cast<const uint8_t*>(parts[1].data()), parts[1].size());
    make_folders(parts[1], dir / "train_images", {"study_id", "series_id"});
  }
  if (parts.size() > 2) {
    fuzz::write_bytes(dir / "train_label_coordinates.csv", reinterpret_cast<const uint8_t*>(parts[2].data()), parts[2].size());
    make_folders(parts[2], dir / "train_images", {"study_id", "series_id", "instance_number"});
  }
  make_folders(parts[0], dir / "CTs", {"patient_id"});
  try {
    tasks::lumbar::read_train_csv(dir / "train.csv");
  } catch (const Error&) {
  }
  try {
    tasks::lumbar::read_submission(dir / "train.csv");
  } catch (const Error&) {
  }
  try {
    tasks::lumbar::read_dataset(dir, "train", /*check_images=*/false);
  } catch (const Error&) {
  }
  for (bool require : {true, false}) {
    std::vector<std::string> problems;
    try {
      tasks::bmd::read_manifest(dir / "train.csv", "bmd", require, problems);
    } catch (const Error&) {
    }
  }
  std::vector<std::string> problems;
  try {
    tasks::metastasis::DataOptions options;
    options.dir = dir.string();
    options.labels = "train.csv";
    tasks::metastasis::scan_data(options, /*require_labels=*/true, problems);
  } catch (const Error&) {
  }
  return 0;
}
