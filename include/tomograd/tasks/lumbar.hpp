#pragma once
/// @file The lumbar task (RSNA 2024 Lumbar Spine Degenerative Classification): the dataset's CSV
/// files read natively with every problem named by file and line, and the competition score of a
/// submission.
#include <array>
#include <filesystem>
#include <string>
#include <vector>

#include "tomograd/eval/rsna_lumbar.hpp"

namespace tomograd::tasks::lumbar {

/// The five conditions as train.csv names them (column prefixes), in the competition's order.
const std::array<std::string, 5>& condition_keys();
/// The five levels as train.csv names them (column suffixes): l1_l2 ... l5_s1.
const std::array<std::string, 5>& level_keys();
/// The three grades as written in train.csv: "Normal/Mild", "Moderate", "Severe".
const std::array<std::string, 3>& grade_names();
/// The 25 label columns "<condition>_<level>", condition-major.
std::vector<std::string> label_columns();

/// Index 0..4 of a condition written either as in train.csv ("left_neural_foraminal_narrowing")
/// or as in train_label_coordinates.csv ("Left Neural Foraminal Narrowing"); -1 when unknown.
int condition_index(const std::string& name);
/// Index 0..4 of a level written "l4_l5" or "L4/L5"; -1 when unknown.
int level_index(const std::string& name);
/// 0, 1, 2 for "Normal/Mild", "Moderate", "Severe"; -1 when unknown.
int grade_index(const std::string& name);

/// One study's 25 grades (-1 = no label), condition-major: [condition * 5 + level].
struct StudyLabels {
  std::string study_id;
  std::array<int, 25> grades{};
  std::size_t line = 0;
};

/// Reads train.csv (study_id + the 25 label columns). Empty cells are missing labels. Throws
/// CsvError listing every problem with its line: missing label columns, unknown extra columns
/// that look like labels, grades outside the three, empty or repeated study ids.
std::vector<StudyLabels> read_train_csv(const std::filesystem::path& path);

/// One row of a submission: row_id = <study_id>_<condition>_<level>, three probabilities.
struct SubmissionRow {
  std::string row_id;
  std::array<double, 3> probabilities{};  ///< normal_mild, moderate, severe
  std::size_t line = 0;
};

/// Reads a submission CSV (row_id,normal_mild,moderate,severe). Throws CsvError naming the line
/// for a missing column, a repeated row id, a row id whose condition or level is unknown, or a
/// probability that is not a finite number >= 0.
std::vector<SubmissionRow> read_submission(const std::filesystem::path& path);

/// The competition metric of @p submission against @p solution (a train.csv): every labelled
/// (study, condition, level) of the solution must have a submission row (else ValueError listing
/// some of the missing row ids); rows whose label is empty in the solution are left out, and
/// submission rows for studies or cells not in the solution are ignored.
eval::LumbarScore score_submission(const std::vector<StudyLabels>& solution,
                                   const std::vector<SubmissionRow>& submission);

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
