#pragma once
/// @file Reading a predictions CSV (and optionally a separate labels CSV) into EvaluationData.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "tomograd/eval/aggregation.hpp"
#include "tomograd/eval/evaluation.hpp"

namespace tomograd::eval {

/// Where the targets and predictions are.
struct PredictionSource {
  std::filesystem::path input;       ///< predictions CSV
  TaskKind task = TaskKind::kRegression;
  std::string y_true;                ///< target column (of labels when given, else of input)
  std::vector<std::string> y_pred;   ///< prediction columns: 1 (regression, binary) or K >= 2
  std::string id;                    ///< optional id column: row names and the join key
  std::filesystem::path labels;      ///< optional labels CSV holding id and y_true, joined on id
  std::string group;                 ///< optional: aggregate the rows of each value of this column
  Aggregation aggregation;           ///< how to aggregate groups (default mean)
};

/// Reads and checks the files. Targets: numbers (regression), 0/1 (binary), a class index
/// 0..K-1 or one of the y_pred column names (multiclass). Throws CsvError naming the file, line
/// and column for an empty file, a missing column, text, NaN or an empty cell in a numeric
/// column, a target outside its classes; and for labels: duplicate ids and ids present in only
/// one of the two files (listing some of them). Throws ValueError for an inconsistent source
/// (no y_pred column, the wrong number of them, labels without id) or a group whose rows
/// disagree on the target.
EvaluationData load_predictions(const PredictionSource& source);

}  // namespace tomograd::eval
