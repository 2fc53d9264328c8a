#include "tomograd/eval/binary.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "check_impl.hpp"
#include "tomograd/eval/regression.hpp"

namespace tomograd::eval {

namespace {

MetricValue ratio(int64_t num, int64_t den, const char* why) {
  if (den == 0) return MetricValue::undefined(why);
  return MetricValue::of(static_cast<double>(num) / static_cast<double>(den));
}

// Indices sorted by decreasing score (stable, so equal scores keep input order).
std::vector<std::size_t> order_by_score_desc(const std::vector<double>& scores) {
  std::vector<std::size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
  return order;
}

// Cumulative (tp, fp, threshold) at each distinct score, highest first: the counts of samples
// with score >= threshold.
struct Step {
  int64_t tp, fp;
  double threshold;
};
std::vector<Step> threshold_steps(const std::vector<double>& y_true, const std::vector<double>& scores) {
  auto order = order_by_score_desc(scores);
  std::vector<Step> steps;
  int64_t tp = 0, fp = 0;
  for (std::size_t i = 0; i < order.size(); ++i) {
    if (y_true[order[i]] == 1.0) ++tp;
    else ++fp;
    if (i + 1 == order.size() || scores[order[i + 1]] != scores[order[i]]) steps.push_back({tp, fp, scores[order[i]]});
  }
  return steps;
}

int64_t count_positives(const std::vector<double>& y_true) {
  return static_cast<int64_t>(std::count(y_true.begin(), y_true.end(), 1.0));
}

}  // namespace

BinaryCounts confusion_at_threshold(const std::vector<double>& y_true, const std::vector<double>& scores,
                                    double threshold) {
  detail::check_binary(y_true, scores);
  BinaryCounts c;
  for (std::size_t i = 0; i < y_true.size(); ++i) {
    bool called = scores[i] >= threshold;
    if (y_true[i] == 1.0) (called ? c.tp : c.fn)++;
    else (called ? c.fp : c.tn)++;
  }
  return c;
}

MetricValue sensitivity(const BinaryCounts& c) { return ratio(c.tp, c.tp + c.fn, "no positive samples (y_true == 1)"); }
MetricValue specificity(const BinaryCounts& c) { return ratio(c.tn, c.tn + c.fp, "no negative samples (y_true == 0)"); }
MetricValue ppv(const BinaryCounts& c) { return ratio(c.tp, c.tp + c.fp, "no sample is called positive at this threshold"); }
MetricValue npv(const BinaryCounts& c) { return ratio(c.tn, c.tn + c.fn, "no sample is called negative at this threshold"); }
MetricValue accuracy(const BinaryCounts& c) { return ratio(c.tp + c.tn, c.total(), "no samples"); }

MetricValue balanced_accuracy(const BinaryCounts& c) {
  MetricValue se = sensitivity(c), sp = specificity(c);
  if (!se) return MetricValue::undefined(se.reason());
  if (!sp) return MetricValue::undefined(sp.reason());
  return MetricValue::of((se.value() + sp.value()) / 2.0);
}

MetricValue f1_score(const BinaryCounts& c) {
  return ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn, "no positive samples and none called positive");
}

MetricValue roc_auc(const std::vector<double>& y_true, const std::vector<double>& scores) {
  detail::check_binary(y_true, scores);
  int64_t pos = count_positives(y_true), neg = static_cast<int64_t>(y_true.size()) - pos;
  if (pos == 0 || neg == 0) {
    return MetricValue::undefined(std::string("only one class in y_true (all ") + (pos == 0 ? "0" : "1") +
                                  "); AUC needs positives and negatives");
  }
  // Mann–Whitney U with mid-ranks: identical to the trapezoidal ROC area with ties as diagonal
  // segments, which is what sklearn computes.
  auto ranks = average_ranks(scores);
  double sum = 0;
  for (std::size_t i = 0; i < y_true.size(); ++i) {
    if (y_true[i] == 1.0) sum += ranks[i];
  }
  double p = static_cast<double>(pos), n = static_cast<double>(neg);
  return MetricValue::of((sum - p * (p + 1) / 2.0) / (p * n));
}

MetricValue average_precision(const std::vector<double>& y_true, const std::vector<double>& scores) {
  detail::check_binary(y_true, scores);
  int64_t pos = count_positives(y_true);
  if (pos == 0) return MetricValue::undefined("no positive samples (y_true == 1); precision-recall needs them");
  double ap = 0, prev_recall = 0;
  for (const auto& s : threshold_steps(y_true, scores)) {
    double recall = static_cast<double>(s.tp) / static_cast<double>(pos);
    double precision = static_cast<double>(s.tp) / static_cast<double>(s.tp + s.fp);
    ap += (recall - prev_recall) * precision;
    prev_recall = recall;
  }
  return MetricValue::of(ap);
}

MetricValue binary_log_loss(const std::vector<double>& y_true, const std::vector<double>& probs,
                            const std::vector<double>& sample_weight) {
  detail::check_binary(y_true, probs);
  detail::check_sample_weight_size(sample_weight, y_true.size());
  const double eps = std::numeric_limits<double>::epsilon();
  double total = 0, weights = 0;
  for (std::size_t i = 0; i < y_true.size(); ++i) {
    if (probs[i] < 0.0 || probs[i] > 1.0) {
      return MetricValue::undefined("scores are not probabilities (score " + std::to_string(i + 1) + " is " +
                                    detail::num(probs[i]) + ", outside [0, 1])");
    }
    double w = sample_weight.empty() ? 1.0 : sample_weight[i];
    if (!(w >= 0.0) || !std::isfinite(w)) throw ValueError("sample_weight[" + std::to_string(i) + "] must be >= 0");
    // sklearn 1.2: clip, expand to [1-p, p], renormalize the row, then -log of the true column.
    double p = std::clamp(probs[i], eps, 1.0 - eps);
    double q0 = 1.0 - p, q1 = p, s = q0 + q1;
    total += w * -std::log((y_true[i] == 1.0 ? q1 : q0) / s);
    weights += w;
  }
  if (weights <= 0.0) return MetricValue::undefined("all sample weights are 0");
  return MetricValue::of(total / weights);
}

RocCurve roc_curve(const std::vector<double>& y_true, const std::vector<double>& scores) {
  detail::check_binary(y_true, scores);
  int64_t pos = count_positives(y_true), neg = static_cast<int64_t>(y_true.size()) - pos;
  if (pos == 0 || neg == 0) throw ValueError("ROC curve needs both classes in y_true");
  RocCurve r;
  r.fpr.push_back(0);
  r.tpr.push_back(0);
  r.thresholds.push_back(std::numeric_limits<double>::infinity());
  for (const auto& s : threshold_steps(y_true, scores)) {
    r.fpr.push_back(static_cast<double>(s.fp) / static_cast<double>(neg));
    r.tpr.push_back(static_cast<double>(s.tp) / static_cast<double>(pos));
    r.thresholds.push_back(s.threshold);
  }
  return r;
}

PrCurve precision_recall_curve(const std::vector<double>& y_true, const std::vector<double>& scores) {
  detail::check_binary(y_true, scores);
  int64_t pos = count_positives(y_true);
  if (pos == 0) throw ValueError("precision-recall curve needs positive samples in y_true");
  PrCurve c;
  for (const auto& s : threshold_steps(y_true, scores)) {
    c.precision.push_back(static_cast<double>(s.tp) / static_cast<double>(s.tp + s.fp));
    c.recall.push_back(static_cast<double>(s.tp) / static_cast<double>(pos));
    c.thresholds.push_back(s.threshold);
  }
  return c;
}

MetricTable binary_metrics(const std::vector<double>& y_true, const std::vector<double>& scores, double threshold) {
  BinaryCounts c = confusion_at_threshold(y_true, scores, threshold);
  MetricTable t;
  t.set("auc", "AUC-ROC", roc_auc(y_true, scores));
  t.set("pr_auc", "PR-AUC (average precision)", average_precision(y_true, scores));
  t.set("accuracy", "Accuracy", accuracy(c));
  t.set("balanced_accuracy", "Balanced accuracy", balanced_accuracy(c));
  t.set("f1", "F1", f1_score(c));
  t.set("sensitivity", "Sensitivity", sensitivity(c));
  t.set("specificity", "Specificity", specificity(c));
  t.set("ppv", "PPV", ppv(c));
  t.set("npv", "NPV", npv(c));
  t.set("log_loss", "Log loss", binary_log_loss(y_true, scores));
  return t;
}

}  // namespace tomograd::eval
