#pragma once
/// @file Scores used to compare models in cross-validation.
#include <map>
#include <string>
#include <vector>

namespace tomograd::classic {

/// Regression scores of one set of predictions.
struct RegressionScores {
  double r2 = 0;    ///< 1 - SS_res/SS_tot; NaN when the true values are constant
  double mae = 0;   ///< mean absolute error, target units
  double rmse = 0;  ///< root mean squared error, target units
};

/// Throws ValueError for empty or different-length inputs.
RegressionScores regression_scores(const std::vector<double>& y_true, const std::vector<double>& y_pred);

/// Binary classification scores of predicted probabilities.
struct BinaryScores {
  double auc = 0;       ///< ROC AUC (ties count 1/2); NaN when only one class is present
  double accuracy = 0;  ///< at threshold 0.5
  double log_loss = 0;  ///< mean negative log-likelihood, probabilities clipped to [1e-15, 1-1e-15]
};

/// @param labels 0/1 values; @param probabilities P(y = 1). Throws ValueError on size mismatch.
BinaryScores binary_scores(const std::vector<double>& labels, const std::vector<double>& probabilities);

/// The scores as a name → value map ("r2", "mae", "rmse" / "auc", "accuracy", "log_loss").
std::map<std::string, double> to_map(const RegressionScores& s);
std::map<std::string, double> to_map(const BinaryScores& s);

/// Whether a larger value of metric @p name is better (r2, auc, accuracy) or worse (mae, rmse,
/// log_loss). Throws ConfigError listing the metric names otherwise.
bool higher_is_better(const std::string& name);

}  // namespace tomograd::classic
