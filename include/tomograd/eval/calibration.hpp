#pragma once
/// @file Calibration of predicted probabilities: reliability curve and expected calibration error.
#include <cstdint>
#include <vector>

#include "tomograd/eval/metric_value.hpp"

namespace tomograd::eval {

/// Points of a reliability diagram over equal-width bins of [0, 1]; empty bins are left out.
struct ReliabilityCurve {
  int num_bins = 10;
  std::vector<double> mean_predicted;     ///< mean probability in each non-empty bin
  std::vector<double> fraction_positive;  ///< observed frequency of label 1 in the bin
  std::vector<int64_t> counts;            ///< samples in the bin
};

/// Equal-width bins; a probability on an inner edge goes to the lower bin (bin 0 is [0, 1/B],
/// the others (lo, hi]), as sklearn.calibration.calibration_curve(strategy="uniform").
/// Throws ValueError for a probability outside [0, 1], labels other than 0/1, mismatched lengths,
/// empty input or @p num_bins < 1.
ReliabilityCurve reliability_curve(const std::vector<double>& y_true, const std::vector<double>& probs,
                                   int num_bins = 10);

/// Expected calibration error (Naeini et al., AAAI 2015): sum over non-empty bins of
/// (count / N) * |fraction_positive - mean_predicted|, bins as reliability_curve().
/// Throws like reliability_curve().
MetricValue expected_calibration_error(const std::vector<double>& y_true, const std::vector<double>& probs,
                                       int num_bins = 10);

}  // namespace tomograd::eval
