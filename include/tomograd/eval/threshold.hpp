#pragma once
/// @file Choosing a binary operating point on validation data, to apply unchanged to test data.
#include <string>
#include <vector>

#include "tomograd/eval/binary.hpp"

namespace tomograd::eval {

/// How to choose the threshold.
struct ThresholdRule {
  enum class Kind {
    kYouden,             ///< maximize Youden's J = sensitivity + specificity - 1
    kMaxF1,              ///< maximize F1
    kTargetSensitivity,  ///< highest threshold whose sensitivity >= target_sensitivity
  };
  Kind kind = Kind::kYouden;
  double target_sensitivity = 0.9;  ///< only for kTargetSensitivity, in (0, 1]

  /// Parses "youden", "max_f1" or "sensitivity:0.9". Throws ValueError listing the valid forms.
  static ThresholdRule parse(const std::string& text);
  /// The form parse() accepts, e.g. "sensitivity:0.9".
  std::string name() const;
};

/// The chosen threshold and what it achieves on the data it was chosen on.
struct ThresholdChoice {
  double threshold = 0.5;  ///< call a sample positive when score >= threshold
  BinaryCounts counts;     ///< on the selection data
  double sensitivity = 0, specificity = 0, f1 = 0;
};

/// Picks a threshold among the distinct scores of validation data. Ties in the criterion go to
/// the highest threshold (fewest positive calls). Throws ValueError unless both classes are
/// present (the criteria need both), and for invalid input as the binary metrics do.
ThresholdChoice select_threshold(const std::vector<double>& y_true, const std::vector<double>& scores,
                                 const ThresholdRule& rule);

}  // namespace tomograd::eval
