#pragma once
/// @file The RSNA 2024 Lumbar Spine Degenerative Classification competition metric.
///
/// Re-implemented from the competition's published scoring code ("rsna-lumbar-metric", Kaggle
/// metric notebook 71549, version 10, as reproduced in public solution repositories): for each
/// condition group (spinal canal stenosis, neural foraminal narrowing, subarticular stenosis) a
/// sample-weighted log loss over its rows, with weights 1 (normal/mild), 2 (moderate), 4 (severe);
/// plus an any_severe_spinal term: per study, label = 1 if any spinal level is severe, prediction =
/// the maximum over spinal levels of the submitted severe probability (not renormalized), weight =
/// the maximum row weight over the study's spinal levels (so 1, 2 or 4); the score is the mean of
/// the three condition losses and the any-severe loss (weights 1, 1, 1, any_severe_scalar = 1).
/// Log losses are sklearn.metrics.log_loss 1.2: probabilities clipped to [eps, 1 - eps] with eps
/// the double machine epsilon, then each row renormalized to sum 1. See docs/eval.md.
#include <array>
#include <string>
#include <vector>

#include "tomograd/eval/metric_value.hpp"

namespace tomograd::eval {

enum class LumbarCondition { kSpinal, kForaminal, kSubarticular };

/// The condition group of a competition row id or label column such as
/// "12345_left_neural_foraminal_narrowing_l4_l5": the first of "spinal", "foraminal",
/// "subarticular" it contains (the competition's rule). Throws ValueError when none matches.
LumbarCondition lumbar_condition_of(const std::string& name);
/// "spinal", "foraminal" or "subarticular".
std::string to_string(LumbarCondition condition);

/// One scored (study, condition, level) row.
struct LumbarRow {
  std::string study_id;
  LumbarCondition condition = LumbarCondition::kSpinal;
  int severity = 0;                     ///< 0 normal/mild, 1 moderate, 2 severe
  std::array<double, 3> probabilities;  ///< normal_mild, moderate, severe; finite, >= 0
};

/// The competition row id "<study_id>_<condition>_<level>" split into study and condition.
/// Throws ValueError when there is no '_' or no known condition.
LumbarRow parse_lumbar_row_id(const std::string& row_id);

/// The per-term losses and the final score (lower is better).
struct LumbarScore {
  MetricValue spinal, foraminal, subarticular;  ///< weighted log loss per condition group
  MetricValue any_severe_spinal;                ///< weighted binary log loss over studies
  MetricValue score;                            ///< weighted mean of the four terms
  std::size_t studies = 0;                      ///< studies with spinal rows
};

/// Scores @p rows. A term whose group has no rows is undefined, and so is the score then (the
/// competition would fail). Unlike sklearn, which refuses a single class, the any-severe term is
/// computed when no (or every) study has a severe spinal level. Throws ValueError for a severity
/// outside 0..2 or a negative or non-finite probability (the competition's checks), naming the row.
LumbarScore rsna_lumbar_score(const std::vector<LumbarRow>& rows, double any_severe_scalar = 1.0);

}  // namespace tomograd::eval
