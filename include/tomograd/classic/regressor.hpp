#pragma once
/// @file The regression interface: fit on features and a continuous target, predict values.
#include <vector>

#include "tomograd/classic/estimator.hpp"
#include "tomograd/classic/matrix.hpp"

namespace tomograd::classic {

/// A model of a continuous target (SVR, XGBoost, random forest, ElasticNet).
///
/// Models see features as given: standardization is the caller's job (ModelBundle fits a
/// StandardScaler on training rows and applies it before every call).
class Regressor : public Estimator {
 public:
  /// Fits on @p x ([N, F]) and @p y (N values, in target units). Refits from scratch when called
  /// again. Throws ValueError for N == 0, a size mismatch, non-finite values or a constant target.
  virtual void fit(const Matrix& x, const std::vector<double>& y) = 0;
  /// @return N predictions in target units. Throws ValueError before fit() or when the number of
  /// columns differs from training.
  virtual std::vector<double> predict(const Matrix& x) const = 0;
};

/// Checks @p x and @p y before fitting (shared by every regressor): matching sizes, N > 0, F > 0,
/// finite values, a target that is not constant. @p model names the model in messages.
void check_regression_data(const std::string& model, const Matrix& x, const std::vector<double>& y);

}  // namespace tomograd::classic
