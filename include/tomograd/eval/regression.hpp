#pragma once
/// @file Regression metrics on paired targets and predictions.
///
/// Every function takes y_true and y_pred of equal, non-zero length with finite values and throws
/// ValueError otherwise (naming the first offending index). Definitions follow scikit-learn 1.2
/// and SciPy 1.10 where those define the metric; where they return a number for degenerate input
/// (R² of constant targets, MAPE with a zero target) we return an undefined MetricValue instead.
#include <vector>

#include "tomograd/eval/metric_table.hpp"
#include "tomograd/eval/metric_value.hpp"

namespace tomograd::eval {

/// Coefficient of determination 1 - SS_res / SS_tot. Undefined when y_true is constant.
MetricValue r2_score(const std::vector<double>& y_true, const std::vector<double>& y_pred);
/// Mean of |y_pred - y_true| (units of the target).
MetricValue mean_absolute_error(const std::vector<double>& y_true, const std::vector<double>& y_pred);
/// Mean of (y_pred - y_true)² (squared units).
MetricValue mean_squared_error(const std::vector<double>& y_true, const std::vector<double>& y_pred);
/// Square root of the mean squared error (units of the target).
MetricValue root_mean_squared_error(const std::vector<double>& y_true, const std::vector<double>& y_pred);
/// Mean of |y_pred - y_true| / |y_true| as a fraction (0.05 = 5 %), as sklearn's
/// mean_absolute_percentage_error. Undefined when any y_true is 0.
MetricValue mean_absolute_percentage_error(const std::vector<double>& y_true, const std::vector<double>& y_pred);
/// Pearson's correlation coefficient. Undefined with fewer than 2 values or a constant input.
MetricValue pearson_r(const std::vector<double>& x, const std::vector<double>& y);
/// Spearman's rank correlation (average ranks for ties). Undefined like pearson_r.
MetricValue spearman_rho(const std::vector<double>& x, const std::vector<double>& y);

/// Bland–Altman agreement of a method (y_pred) with a reference (y_true).
struct BlandAltman {
  std::vector<double> means;        ///< (y_pred + y_true) / 2 per pair
  std::vector<double> differences;  ///< y_pred - y_true per pair
  MetricValue bias;                 ///< mean difference
  MetricValue sd;                   ///< sample standard deviation of the differences (n - 1)
  MetricValue loa_low;              ///< bias - 1.96 sd
  MetricValue loa_high;             ///< bias + 1.96 sd
};

/// Bland & Altman (Lancet 1986): differences y_pred - y_true against pair means, 95 % limits of
/// agreement bias ± 1.96 SD. The SD (and the limits) are undefined with fewer than 2 pairs.
BlandAltman bland_altman(const std::vector<double>& y_true, const std::vector<double>& y_pred);

/// Headline regression metrics, keys: r2, mae, rmse, mse, pearson, spearman, mape,
/// bland_altman_bias, bland_altman_loa_low, bland_altman_loa_high.
MetricTable regression_metrics(const std::vector<double>& y_true, const std::vector<double>& y_pred);

/// Ranks 1..n with ties given their average rank (scipy.stats.rankdata "average").
std::vector<double> average_ranks(const std::vector<double>& values);

}  // namespace tomograd::eval
