#pragma once
/// @file Binary classification metrics on labels (0 or 1) and scores.
///
/// Labels are doubles equal to 0 or 1; scores are any finite numbers (probabilities for
/// log_loss and calibration). A sample is called positive when score >= threshold, the
/// convention of sklearn.metrics.roc_curve. Invalid input (mismatched lengths, empty vectors,
/// labels other than 0/1, non-finite scores) throws ValueError naming the first offending index.
#include <cstdint>
#include <vector>

#include "tomograd/eval/metric_table.hpp"
#include "tomograd/eval/metric_value.hpp"

namespace tomograd::eval {

/// Counts of a 2×2 confusion matrix.
struct BinaryCounts {
  int64_t tp = 0, fp = 0, tn = 0, fn = 0;
  int64_t positives() const { return tp + fn; }
  int64_t negatives() const { return tn + fp; }
  int64_t total() const { return tp + fp + tn + fn; }
};

/// Counts at @p threshold (positive when score >= threshold).
BinaryCounts confusion_at_threshold(const std::vector<double>& y_true, const std::vector<double>& scores,
                                    double threshold);

/// Sensitivity (recall, TPR) TP / (TP + FN); undefined without positives.
MetricValue sensitivity(const BinaryCounts& c);
/// Specificity (TNR) TN / (TN + FP); undefined without negatives.
MetricValue specificity(const BinaryCounts& c);
/// Positive predictive value (precision) TP / (TP + FP); undefined when nothing is called positive.
MetricValue ppv(const BinaryCounts& c);
/// Negative predictive value TN / (TN + FN); undefined when nothing is called negative.
MetricValue npv(const BinaryCounts& c);
/// (TP + TN) / N.
MetricValue accuracy(const BinaryCounts& c);
/// Mean of sensitivity and specificity; undefined unless both classes are present.
MetricValue balanced_accuracy(const BinaryCounts& c);
/// 2 TP / (2 TP + FP + FN); undefined when there are no positives and none is predicted.
MetricValue f1_score(const BinaryCounts& c);

/// Area under the ROC curve (ties count one half; equals sklearn.metrics.roc_auc_score).
/// Undefined unless both classes are present.
MetricValue roc_auc(const std::vector<double>& y_true, const std::vector<double>& scores);
/// Area under the precision–recall curve as average precision, sum_n (R_n - R_{n-1}) P_n over
/// the distinct score thresholds (sklearn.metrics.average_precision_score; no interpolation).
/// Undefined without positives.
MetricValue average_precision(const std::vector<double>& y_true, const std::vector<double>& scores);
/// Mean negative log-likelihood of probabilities @p probs, clipped to [eps, 1 - eps] with eps the
/// double machine epsilon (sklearn.metrics.log_loss 1.2, eps="auto"). Undefined when a
/// probability is outside [0, 1]. @p sample_weight empty means equal weights.
MetricValue binary_log_loss(const std::vector<double>& y_true, const std::vector<double>& probs,
                            const std::vector<double>& sample_weight = {});

/// ROC curve over the distinct scores, highest first; the first point is (0, 0) at threshold
/// +infinity (sklearn.metrics.roc_curve with drop_intermediate=False).
struct RocCurve {
  std::vector<double> fpr, tpr, thresholds;
};
/// Throws ValueError unless both classes are present.
RocCurve roc_curve(const std::vector<double>& y_true, const std::vector<double>& scores);

/// Precision–recall points over the distinct scores, highest first (recall increasing). Unlike
/// sklearn no (recall 0, precision 1) end point is added.
struct PrCurve {
  std::vector<double> precision, recall, thresholds;
};
/// Throws ValueError without positives.
PrCurve precision_recall_curve(const std::vector<double>& y_true, const std::vector<double>& scores);

/// Headline binary metrics at @p threshold, keys: auc, pr_auc, accuracy, balanced_accuracy, f1,
/// sensitivity, specificity, ppv, npv, log_loss (undefined unless scores lie in [0, 1]).
MetricTable binary_metrics(const std::vector<double>& y_true, const std::vector<double>& scores,
                           double threshold);

}  // namespace tomograd::eval
