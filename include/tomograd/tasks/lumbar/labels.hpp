#pragma once
/// @file The lumbar task's labels (RSNA 2024 Lumbar Spine Degenerative Classification): the
/// vocabulary as strings, train.csv and submission files read natively with every problem named by
/// file and line, and the competition score of a submission.
#include <array>
#include <filesystem>
#include <string>
#include <vector>

#include "tomograd/eval/rsna_lumbar.hpp"
#include "tomograd/tasks/lumbar/vocabulary.hpp"

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

}  // namespace tomograd::tasks::lumbar
