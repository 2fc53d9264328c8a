#pragma once
/// @file The lumbar dataset folder (RSNA 2024 layout): series descriptions, label coordinates and
/// images read and checked with every problem named by file and line, and PNG export.
#include <filesystem>
#include <string>
#include <vector>

#include "tomograd/tasks/lumbar/labels.hpp"

namespace tomograd::tasks::lumbar {

/// The series types of the dataset, as train_series_descriptions.csv writes them.
const std::array<std::string, 3>& series_descriptions();

/// One row of <split>_series_descriptions.csv.
struct SeriesRow {
  std::string study_id, series_id, description;
  std::size_t line = 0;
};

/// One row of train_label_coordinates.csv.
struct CoordinateRow {
  std::string study_id, series_id;
  int instance_number = 0;
  int condition = 0;  ///< condition_index()
  int level = 0;      ///< level_index()
  double x = 0, y = 0;  ///< pixel column and row in that instance
  std::size_t line = 0;
};

/// The dataset folder of the competition: train.csv, train_series_descriptions.csv,
/// train_label_coordinates.csv and train_images/<study_id>/<series_id>/<instance_number>.dcm
/// (or test_series_descriptions.csv + test_images/ without labels).
struct LumbarDataset {
  std::filesystem::path dir;
  std::string split = "train";           ///< "train" or "test": the file name prefix
  std::vector<StudyLabels> labels;       ///< train.csv (empty for test)
  std::vector<SeriesRow> series;
  std::vector<CoordinateRow> coordinates;
  /// The folder of a series.
  std::filesystem::path series_dir(const std::string& study_id, const std::string& series_id) const;
};

/// Reads and checks a dataset folder, collecting every problem with its file and line: unknown
/// series descriptions, series folders that do not exist, unknown condition or level names,
/// coordinates of a series not listed, instance numbers with no file, coordinates outside the
/// image (DICOM headers are read when @p check_images), and the train.csv problems. Throws
/// CsvError listing them all. Studies without some series type are fine (they train with what
/// they have).
LumbarDataset read_dataset(const std::filesystem::path& dir, const std::string& split = "train",
                           bool check_images = true);

/// `lumbar export-png`: every instance of the dataset's series (or of @p studies only) as
/// <study_id>_<series_id>_<instance_number>.png (8-bit, 0.5-99.5th percentile window of the
/// series), with the label coordinates, condition, level and grade drawn when @p annotate.
/// Returns the number of files written. Existing files are kept unless @p force.
std::size_t export_pngs(const LumbarDataset& dataset, const std::filesystem::path& out, bool annotate,
                        const std::vector<std::string>& studies = {}, bool force = false);

}  // namespace tomograd::tasks::lumbar
