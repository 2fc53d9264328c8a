#pragma once
/// @file Grid search with K-fold cross-validation grouped by patient.
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tomograd/classic/matrix.hpp"
#include "tomograd/classic/params.hpp"
#include "tomograd/classic/registry.hpp"

namespace tomograd::classic {

/// Candidate values per parameter, in the order given: {{"C", {"0.1", "1", "10"}}, ...}.
using ParamGrid = std::vector<std::pair<std::string, std::vector<std::string>>>;

/// Parses "key=value" assignments (`--param`). Throws ConfigError for a missing '=', an empty
/// key or a key given twice.
ParamMap parse_param_assignments(const std::vector<std::string>& assignments);
/// Parses "key=v1,v2,..." specifications (`--grid`). Throws ConfigError for a missing '=', an
/// empty value list or a key given twice.
ParamGrid parse_grid(const std::vector<std::string>& specs);
/// Every combination of @p grid over @p base (the last key varies fastest); {base} for an empty
/// grid. Throws ConfigError when a key is both in base and in the grid.
std::vector<ParamMap> expand_grid(const ParamMap& base, const ParamGrid& grid);

/// How to cross-validate.
struct GridSearchOptions {
  int folds = 5;        ///< K (>= 2)
  uint64_t seed = 42;   ///< fold assignment seed
  /// Selection metric: r2 (default), rmse or mae for regression; auc (default), log_loss or
  /// accuracy for binary. "" = the task's default.
  std::string metric;
  int threads = 0;      ///< fits run in parallel on this many threads (0 = all cores)
};

/// Scores of one fold.
struct FoldScores {
  int fold = 0;
  std::size_t n_train = 0;
  std::size_t n_test = 0;
  std::map<std::string, double> scores;  ///< r2/mae/rmse or auc/accuracy/log_loss
};

/// Cross-validation of one parameter combination.
struct GridPoint {
  ParamMap params;                     ///< every parameter, defaults filled in
  std::vector<FoldScores> folds;
  std::map<std::string, double> mean;  ///< per score, over folds (NaN folds skipped)
  std::map<std::string, double> stddev;  ///< population standard deviation over folds
};

/// The whole search.
struct GridSearchResult {
  std::string model;
  Task task = Task::kRegression;
  int folds = 0;
  uint64_t seed = 0;
  std::string metric;
  bool higher_is_better = true;
  ParamGrid grid;
  std::vector<GridPoint> points;
  std::size_t best = 0;        ///< index into points
  std::vector<int> fold_of_row;
  double seconds = 0;          ///< wall time

  /// JSON for the model metadata: {"folds", "seed", "metric", "grid", "results": [...], "best"}.
  nlohmann::json to_json() const;
};

/// Runs K-fold CV (folds grouped by @p groups, see group_k_fold) for every combination of
/// @p grid over @p base. In each fold a StandardScaler is fitted on the training rows only, and
/// the model is fitted on them and scored on the held-out rows. Fits run in parallel (XGBoost
/// models get one thread each); a progress bar counts fits.
/// @param x [N, F] raw (unstandardized) features; @param y N targets (0/1 for binary)
/// Throws ConfigError for a bad parameter or metric (before any fit), ValueError for too few
/// ids, or for a training fold with a single class or a constant target.
GridSearchResult grid_search(const ModelEntry& model, const ParamMap& base, const ParamGrid& grid,
                             const Matrix& x, const std::vector<double>& y, const std::vector<std::string>& groups,
                             const GridSearchOptions& options);

}  // namespace tomograd::classic
