#pragma once
/// @file Per-feature standardization fitted on training rows only and saved with the model.
#include <nlohmann/json.hpp>

#include <vector>

#include "tomograd/classic/matrix.hpp"

namespace tomograd::classic {

/// z = (x - mean) / scale per feature, as scikit-learn's StandardScaler: mean and population
/// standard deviation (ddof = 0) of the training rows; a constant feature gets scale 1 (it maps
/// to 0 everywhere instead of dividing by zero).
class StandardScaler {
 public:
  StandardScaler() = default;
  /// A fitted scaler from saved statistics. Throws ValueError on size mismatch, non-finite or
  /// negative std.
  StandardScaler(std::vector<double> mean, std::vector<double> stddev);

  /// Fits on @p x ([N, F], N >= 1). Throws ValueError for an empty matrix or non-finite values.
  void fit(const Matrix& x);
  /// Standardizes @p x. Throws ValueError before fit() or when x has a different column count.
  Matrix transform(const Matrix& x) const;

  bool is_fitted() const { return !mean_.empty(); }
  const std::vector<double>& mean() const { return mean_; }
  /// Population standard deviation per feature (0 for a constant feature).
  const std::vector<double>& stddev() const { return std_; }
  /// Indices of features that were constant on the training rows.
  std::vector<std::size_t> constant_features() const;

  /// {"mean": [...], "std": [...]}.
  nlohmann::json to_json() const;
  /// Reads to_json() output. Throws ValueError naming the bad key.
  static StandardScaler from_json(const nlohmann::json& j);

 private:
  std::vector<double> mean_;
  std::vector<double> std_;
  std::vector<double> scale_;  // std, or 1 for a constant feature
};

}  // namespace tomograd::classic
