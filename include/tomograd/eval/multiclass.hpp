#pragma once
/// @file Multi-class metrics on class indices and per-class probabilities.
///
/// Labels are class indices 0..K-1; probabilities are rows [N][K] of non-negative finite numbers
/// (they need not sum to 1: log_loss renormalizes each row, the prediction is the row's arg-max).
/// Invalid input (mismatched lengths, empty input, ragged rows, K < 2, a label outside 0..K-1,
/// a negative or non-finite probability) throws ValueError naming the first offending row.
#include <cstdint>
#include <string>
#include <vector>

#include "tomograd/eval/metric_table.hpp"
#include "tomograd/eval/metric_value.hpp"

namespace tomograd::eval {

/// The arg-max of each row (the first on ties, as numpy.argmax).
std::vector<int> argmax_rows(const std::vector<std::vector<double>>& probabilities);

/// K×K counts; row = true class, column = predicted class (sklearn's layout).
std::vector<std::vector<int64_t>> confusion_matrix(const std::vector<int>& y_true, const std::vector<int>& y_pred,
                                                   int num_classes);

/// Multi-class log loss: probabilities clipped to [eps, 1 - eps] (eps = double machine epsilon),
/// each row renormalized to sum 1, then the (weighted) mean of -log p[true class]; equals
/// sklearn.metrics.log_loss(y_true, p, labels=range(K), sample_weight=w) in scikit-learn 1.2.
/// @p sample_weight empty means equal weights; otherwise one non-negative weight per row.
MetricValue log_loss(const std::vector<int>& y_true, const std::vector<std::vector<double>>& probabilities,
                     const std::vector<double>& sample_weight = {});

/// One-vs-rest AUC of class @p k (column k against y_true == k). Undefined when class k is
/// absent or the only class.
MetricValue one_vs_rest_auc(const std::vector<int>& y_true, const std::vector<std::vector<double>>& probabilities,
                            int k);

/// One row of a classification report.
struct ClassReport {
  std::string name;
  MetricValue precision;  ///< undefined when the class is never predicted
  MetricValue recall;     ///< undefined when the class is absent from y_true
  MetricValue f1;         ///< 2 TP / (2 TP + FP + FN); undefined when neither true nor predicted
  MetricValue auc;        ///< one-vs-rest
  int64_t support = 0;    ///< samples of this class in y_true
};

/// Per-class precision, recall, F1, support and one-vs-rest AUC. @p class_names may be empty
/// (names "0".."K-1") or have K entries.
std::vector<ClassReport> classification_report(const std::vector<int>& y_true,
                                               const std::vector<std::vector<double>>& probabilities,
                                               const std::vector<std::string>& class_names = {});

/// Headline metrics, keys: accuracy, balanced_accuracy (mean recall over the classes present in
/// y_true, as sklearn), f1 (macro over the classes present in y_true or predicted, as sklearn's
/// default labels; absent precision counts as 0 there), auc (macro one-vs-rest, undefined unless
/// every class is present and absent from some row), log_loss.
MetricTable multiclass_metrics(const std::vector<int>& y_true, const std::vector<std::vector<double>>& probabilities);

}  // namespace tomograd::eval
