#pragma once
/// @file A fold's out-of-fold predictions, RUN/fold_<K>/oof.csv (format in lumbar/evaluate.hpp).
#include <array>
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

namespace tomograd::tasks::lumbar {

/// One row of a fold's oof.csv.
struct OofRow {
  std::string study_id;
  int condition = 0;  ///< condition_index(): 0..4
  int level = 0;      ///< level_index(): 0..4
  int label = -1;     ///< 0 Normal/Mild, 1 Moderate, 2 Severe; -1 when the cell has no label
  std::array<double, 3> probabilities{};  ///< normal_mild, moderate, severe
  int fold = 0;                           ///< the fold whose held-out studies these are
  std::size_t line = 0;                   ///< 1-based line in the file (header = 1); 0 if none
};

/// Reads a fold's out-of-fold predictions (columns study_id, condition, level, label,
/// normal_mild, moderate, severe; extra columns are ignored) and sets each row's fold to
/// @p fold. Throws CsvError naming the file and listing every problem with its line: a missing
/// column, an empty study id, an unknown condition or level, a label other than 0, 1, 2 or
/// empty, a probability that is not a finite number >= 0, a (study, condition, level) listed
/// twice.
std::vector<OofRow> read_oof(const std::filesystem::path& csv, int fold);

/// Writes @p rows as an oof.csv (the column order above; condition and level as train.csv keys,
/// a missing label as an empty cell, probabilities in the shortest form that reads back to the
/// same double). Atomic; throws IoError when @p csv exists and not @p force, ValueError for a
/// condition, level or label out of range.
void write_oof(const std::filesystem::path& csv, const std::vector<OofRow>& rows, bool force);

}  // namespace tomograd::tasks::lumbar
