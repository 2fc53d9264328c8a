#pragma once
/// @file Feature CSV files: an id column (patient), feature columns and an optional target.
#include <filesystem>
#include <string>
#include <vector>

#include "tomograd/classic/matrix.hpp"
#include "tomograd/core/csv.hpp"

namespace tomograd::classic {

/// Whether a feature file must, may or must not have the target column.
enum class TargetMode { kNone, kRequired, kOptional };

/// Which columns of a feature CSV are what.
struct FeatureTableOptions {
  std::string id_column;      ///< patient id column; "" = the first column
  std::string target_column;  ///< the target; used according to target_mode
  TargetMode target_mode = TargetMode::kNone;
  /// Columns to ignore (neither id, target nor feature).
  std::vector<std::string> exclude;
  /// When not empty: exactly these feature columns, read in this order (predicting with a saved
  /// model). A missing one is an error, and so is any other column not id, target or excluded.
  /// When empty: every column but id, target and excluded ones is a feature.
  std::vector<std::string> features;
};

/// A feature file in memory. Rows keep the file's order.
struct FeatureTable {
  std::string source;                      ///< file name, for messages
  std::string id_column;
  std::vector<std::string> ids;            ///< N patient ids
  std::vector<std::string> feature_names;  ///< F names
  Matrix x;                                ///< [N, F]
  std::string target_column;               ///< "" when the file has no target
  std::vector<double> y;                   ///< N targets, or empty
  std::vector<std::size_t> lines;          ///< N 1-based file lines (header = line 1), for messages

  std::size_t num_rows() const { return ids.size(); }
  bool has_target() const { return !target_column.empty(); }
};

/// Reads a feature CSV. Throws CsvError naming the file (and line and column where there is
/// one) for an empty or header-only file, a missing id/target/feature column, an empty id, a
/// cell that is empty, text, NaN or infinite in a numeric column, no feature columns, or (with
/// options.features) a column the model was not trained on.
FeatureTable read_feature_table(const std::filesystem::path& path, const FeatureTableOptions& options);
/// The same for a table already parsed (its source() names it).
FeatureTable feature_table_from_csv(const CsvTable& csv, const FeatureTableOptions& options);

}  // namespace tomograd::classic
