#pragma once
/// @file The binary classification interface: fit on 0/1 labels, predict P(y = 1).
#include <vector>

#include "tomograd/classic/estimator.hpp"
#include "tomograd/classic/matrix.hpp"

namespace tomograd::classic {

/// A model of a 0/1 target (XGBoost binary:logistic, random forest, libsvm C-SVC with Platt
/// probabilities).
class Classifier : public Estimator {
 public:
  /// Fits on @p x ([N, F]) and @p labels (N values, each 0 or 1). Throws ValueError for a label
  /// other than 0/1, a single class, a size mismatch or non-finite features.
  virtual void fit(const Matrix& x, const std::vector<double>& labels) = 0;
  /// @return N probabilities of class 1, in [0, 1].
  virtual std::vector<double> predict_proba(const Matrix& x) const = 0;
  /// @return N labels (0 or 1): 1 where predict_proba() >= @p threshold.
  std::vector<int> predict(const Matrix& x, double threshold = 0.5) const;
};

/// Checks @p x and @p labels before fitting: matching sizes, N > 0, finite features, labels 0/1
/// (naming the first bad row) and both classes present.
void check_binary_data(const std::string& model, const Matrix& x, const std::vector<double>& labels);

}  // namespace tomograd::classic
