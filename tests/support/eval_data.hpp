#pragma once
// The evaluation inputs the eval tests share (header-only): a 12-sample binary set with scores
// tied across classes, and bootstrap options that keep a test fast and quiet.
#include <string>

#include "tomograd/eval/evaluation.hpp"

namespace tomograd::test {

/// Labels 0 0 1 1 0 1 0 1 1 0 0 1, scores with 0.4 shared by two negatives and a positive,
/// ids P0..P11; @p split names the data split ("" leaves it unset).
inline eval::EvaluationData binary_evaluation_data(const std::string& split = "") {
  eval::EvaluationData d;
  d.task = eval::TaskKind::kBinary;
  d.split = split;
  d.y_true = {0, 0, 1, 1, 0, 1, 0, 1, 1, 0, 0, 1};
  for (double s : {0.1, 0.4, 0.35, 0.8, 0.4, 0.9, 0.2, 0.65, 0.4, 0.55, 0.05, 0.7}) d.y_pred.push_back({s});
  for (int i = 0; i < 12; ++i) d.ids.push_back("P" + std::to_string(i));
  return d;
}

/// Evaluation options with @p resamples bootstrap resamples and no progress bar.
inline eval::EvaluationOptions fast_evaluation(int resamples = 50) {
  eval::EvaluationOptions o;
  o.bootstrap.resamples = resamples;
  o.bootstrap.progress = false;
  return o;
}

}  // namespace tomograd::test
