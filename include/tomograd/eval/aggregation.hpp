#pragma once
/// @file Aggregation of slice-level (or series-level) predictions to one prediction per patient.
#include <functional>
#include <string>
#include <vector>

namespace tomograd::eval {

/// How to combine the predictions of one group (patient).
struct Aggregation {
  enum class Kind {
    kMean,     ///< arithmetic mean
    kMax,      ///< maximum
    kTopKMean, ///< mean of the k largest (all of them when the group has fewer than k)
    kNoisyOr,  ///< 1 - prod(1 - p): probability that at least one slice is positive, assuming
               ///< independence; needs probabilities in [0, 1]
  };
  Kind kind = Kind::kMean;
  int k = 3;  ///< only for kTopKMean, >= 1

  /// Parses "mean", "max", "topk:K" or "noisy_or". Throws ValueError listing the valid forms.
  static Aggregation parse(const std::string& text);
  /// The form parse() accepts, e.g. "topk:3".
  std::string name() const;
};

/// Combines @p values (one group). Throws ValueError for an empty group or, for noisy-OR, a value
/// outside [0, 1].
double aggregate(const std::vector<double>& values, const Aggregation& how);

/// Predictions aggregated to one row per group.
struct GroupedPredictions {
  std::vector<std::string> groups;           ///< in order of first appearance
  std::vector<double> y_true;                ///< the group's target (identical in all its rows)
  std::vector<std::vector<double>> y_pred;   ///< [G][C], each column aggregated separately
  std::vector<std::size_t> rows_per_group;   ///< how many input rows each group had
};

/// Describes input row @p r in error messages (e.g. "line 7"); the default says "row r+1".
using RowNamer = std::function<std::string(std::size_t r)>;

/// Aggregates rows [N] with group ids, targets and predictions [N][C] to one row per group.
/// Every column of y_pred is aggregated on its own (for class probabilities aggregated with max,
/// rows no longer sum to 1; log loss renormalizes). Throws ValueError when lengths differ, rows
/// are ragged, a group id is empty, or a group's rows disagree on y_true (naming both rows).
GroupedPredictions aggregate_by_group(const std::vector<std::string>& groups, const std::vector<double>& y_true,
                                      const std::vector<std::vector<double>>& y_pred, const Aggregation& how,
                                      const RowNamer& row_name = {});

}  // namespace tomograd::eval
