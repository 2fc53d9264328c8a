#include "tomograd/eval/multiclass.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "check_impl.hpp"
#include "tomograd/eval/binary.hpp"

namespace tomograd::eval {

namespace {

int check_multiclass(const std::vector<int>& y_true, const std::vector<std::vector<double>>& p) {
  if (y_true.size() != p.size()) {
    throw ValueError("mismatched lengths: y_true has " + std::to_string(y_true.size()) + " labels, probabilities has " +
                     std::to_string(p.size()) + " rows");
  }
  if (p.empty()) throw ValueError("no samples to score (y_true and probabilities are empty)");
  std::size_t k = p.front().size();
  if (k < 2) throw ValueError("multi-class metrics need at least 2 probability columns, got " + std::to_string(k));
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p[i].size() != k) {
      throw ValueError("probability row " + std::to_string(i) + " has " + std::to_string(p[i].size()) +
                       " columns, expected " + std::to_string(k));
    }
    for (std::size_t c = 0; c < k; ++c) {
      if (!std::isfinite(p[i][c]) || p[i][c] < 0.0) {
        throw ValueError("probability [" + std::to_string(i) + "][" + std::to_string(c) + "] is " +
                         detail::num(p[i][c]) + ", expected a finite number >= 0");
      }
    }
    if (y_true[i] < 0 || static_cast<std::size_t>(y_true[i]) >= k) {
      throw ValueError("y_true[" + std::to_string(i) + "] is " + std::to_string(y_true[i]) + ", expected a class index 0.." +
                       std::to_string(k - 1));
    }
  }
  return static_cast<int>(k);
}

struct ClassCounts {
  int64_t tp = 0, fp = 0, fn = 0;
};

std::vector<ClassCounts> class_counts(const std::vector<int>& y_true, const std::vector<int>& y_pred, int k) {
  std::vector<ClassCounts> c(static_cast<std::size_t>(k));
  for (std::size_t i = 0; i < y_true.size(); ++i) {
    if (y_true[i] == y_pred[i]) {
      ++c[static_cast<std::size_t>(y_true[i])].tp;
    } else {
      ++c[static_cast<std::size_t>(y_true[i])].fn;
      ++c[static_cast<std::size_t>(y_pred[i])].fp;
    }
  }
  return c;
}

}  // namespace

std::vector<int> argmax_rows(const std::vector<std::vector<double>>& probabilities) {
  std::vector<int> out;
  out.reserve(probabilities.size());
  for (const auto& row : probabilities) {
    if (row.empty()) throw ValueError("argmax of an empty probability row");
    out.push_back(static_cast<int>(std::max_element(row.begin(), row.end()) - row.begin()));
  }
  return out;
}

std::vector<std::vector<int64_t>> confusion_matrix(const std::vector<int>& y_true, const std::vector<int>& y_pred,
                                                   int num_classes) {
  if (y_true.size() != y_pred.size()) {
    throw ValueError("mismatched lengths: y_true has " + std::to_string(y_true.size()) + " labels, y_pred has " +
                     std::to_string(y_pred.size()));
  }
  if (num_classes < 1) throw ValueError("confusion matrix needs at least 1 class");
  std::vector<std::vector<int64_t>> m(static_cast<std::size_t>(num_classes),
                                      std::vector<int64_t>(static_cast<std::size_t>(num_classes), 0));
  for (std::size_t i = 0; i < y_true.size(); ++i) {
    for (int v : {y_true[i], y_pred[i]}) {
      if (v < 0 || v >= num_classes) {
        throw ValueError("label " + std::to_string(v) + " at row " + std::to_string(i) + " is outside 0.." +
                         std::to_string(num_classes - 1));
      }
    }
    ++m[static_cast<std::size_t>(y_true[i])][static_cast<std::size_t>(y_pred[i])];
  }
  return m;
}

MetricValue log_loss(const std::vector<int>& y_true, const std::vector<std::vector<double>>& probabilities,
                     const std::vector<double>& sample_weight) {
  check_multiclass(y_true, probabilities);
  detail::check_sample_weight_size(sample_weight, y_true.size());
  const double eps = std::numeric_limits<double>::epsilon();
  double total = 0, weights = 0;
  for (std::size_t i = 0; i < y_true.size(); ++i) {
    double w = sample_weight.empty() ? 1.0 : sample_weight[i];
    if (!std::isfinite(w) || w < 0.0) throw ValueError("sample_weight[" + std::to_string(i) + "] must be a finite number >= 0");
    // sklearn 1.2 order: clip every probability, then renormalize the row.
    double sum = 0, mine = 0;
    for (std::size_t c = 0; c < probabilities[i].size(); ++c) {
      double p = std::clamp(probabilities[i][c], eps, 1.0 - eps);
      sum += p;
      if (static_cast<int>(c) == y_true[i]) mine = p;
    }
    total += w * -std::log(mine / sum);
    weights += w;
  }
  if (weights <= 0.0) return MetricValue::undefined("all sample weights are 0");
  return MetricValue::of(total / weights);
}

MetricValue one_vs_rest_auc(const std::vector<int>& y_true, const std::vector<std::vector<double>>& probabilities,
                            int k) {
  int classes = check_multiclass(y_true, probabilities);
  if (k < 0 || k >= classes) throw ValueError("class " + std::to_string(k) + " is outside 0.." + std::to_string(classes - 1));
  std::vector<double> binary(y_true.size()), scores(y_true.size());
  for (std::size_t i = 0; i < y_true.size(); ++i) {
    binary[i] = y_true[i] == k ? 1.0 : 0.0;
    scores[i] = probabilities[i][static_cast<std::size_t>(k)];
  }
  MetricValue auc = roc_auc(binary, scores);
  if (!auc) {
    bool absent = std::find(y_true.begin(), y_true.end(), k) == y_true.end();
    return MetricValue::undefined("class " + std::to_string(k) + (absent ? " is absent from y_true" : " is the only class in y_true"));
  }
  return auc;
}

std::vector<ClassReport> classification_report(const std::vector<int>& y_true,
                                               const std::vector<std::vector<double>>& probabilities,
                                               const std::vector<std::string>& class_names) {
  int k = check_multiclass(y_true, probabilities);
  if (!class_names.empty() && class_names.size() != static_cast<std::size_t>(k)) {
    throw ValueError("got " + std::to_string(class_names.size()) + " class names for " + std::to_string(k) + " classes");
  }
  auto counts = class_counts(y_true, argmax_rows(probabilities), k);
  std::vector<ClassReport> out;
  for (int c = 0; c < k; ++c) {
    const auto& n = counts[static_cast<std::size_t>(c)];
    ClassReport r;
    r.name = class_names.empty() ? std::to_string(c) : class_names[static_cast<std::size_t>(c)];
    r.support = n.tp + n.fn;
    r.precision = n.tp + n.fp == 0 ? MetricValue::undefined("class never predicted")
                                   : MetricValue::of(static_cast<double>(n.tp) / static_cast<double>(n.tp + n.fp));
    r.recall = r.support == 0 ? MetricValue::undefined("class absent from y_true")
                              : MetricValue::of(static_cast<double>(n.tp) / static_cast<double>(r.support));
    r.f1 = 2 * n.tp + n.fp + n.fn == 0
               ? MetricValue::undefined("class neither present nor predicted")
               : MetricValue::of(static_cast<double>(2 * n.tp) / static_cast<double>(2 * n.tp + n.fp + n.fn));
    r.auc = one_vs_rest_auc(y_true, probabilities, c);
    out.push_back(std::move(r));
  }
  return out;
}

MetricTable multiclass_metrics(const std::vector<int>& y_true, const std::vector<std::vector<double>>& probabilities) {
  int k = check_multiclass(y_true, probabilities);
  auto pred = argmax_rows(probabilities);
  auto counts = class_counts(y_true, pred, k);
  int64_t correct = 0;
  for (const auto& c : counts) correct += c.tp;
  double recall_sum = 0, f1_sum = 0;
  int recall_n = 0, f1_n = 0;
  for (const auto& c : counts) {
    if (c.tp + c.fn > 0) {
      recall_sum += static_cast<double>(c.tp) / static_cast<double>(c.tp + c.fn);
      ++recall_n;
    }
    if (c.tp + c.fp + c.fn > 0) {
      f1_sum += static_cast<double>(2 * c.tp) / static_cast<double>(2 * c.tp + c.fp + c.fn);
      ++f1_n;
    }
  }
  MetricTable t;
  t.set("accuracy", "Accuracy", MetricValue::of(static_cast<double>(correct) / static_cast<double>(y_true.size())));
  t.set("balanced_accuracy", "Balanced accuracy", MetricValue::of(recall_sum / recall_n));
  t.set("f1", "F1 (macro)", MetricValue::of(f1_sum / f1_n));
  double auc_sum = 0;
  MetricValue auc;
  for (int c = 0; c < k; ++c) {
    MetricValue a = one_vs_rest_auc(y_true, probabilities, c);
    if (!a) {
      auc = MetricValue::undefined("macro AUC needs every class present and not alone: " + a.reason());
      break;
    }
    auc_sum += a.value();
    if (c == k - 1) auc = MetricValue::of(auc_sum / k);
  }
  t.set("auc", "AUC (macro one-vs-rest)", auc);
  t.set("log_loss", "Log loss", log_loss(y_true, probabilities));
  return t;
}

}  // namespace tomograd::eval
