#include "tomograd/eval/evaluation.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "check_impl.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/eval/binary.hpp"
#include "tomograd/eval/calibration.hpp"

namespace tomograd::eval {

std::string to_string(TaskKind task) {
  switch (task) {
    case TaskKind::kRegression: return "regression";
    case TaskKind::kBinary: return "binary";
    case TaskKind::kMulticlass: return "multiclass";
  }
  return "?";
}

TaskKind parse_task_kind(const std::string& text) {
  if (text == "regression") return TaskKind::kRegression;
  if (text == "binary") return TaskKind::kBinary;
  if (text == "multiclass") return TaskKind::kMulticlass;
  throw ValueError("unknown task '" + text + "' (valid: regression, binary, multiclass)");
}

std::size_t Evaluation::num_classes() const {
  switch (data.task) {
    case TaskKind::kRegression: return 0;
    case TaskKind::kBinary: return 2;
    case TaskKind::kMulticlass: return data.y_pred.empty() ? data.class_names.size() : data.y_pred.front().size();
  }
  return 0;
}

std::size_t Evaluation::num_patients() const {
  if (data.bootstrap_groups.empty()) return num_rows();
  return std::set<std::string>(data.bootstrap_groups.begin(), data.bootstrap_groups.end()).size();
}

std::string Evaluation::threshold_origin() const {
  switch (data.task) {
    case TaskKind::kRegression: return "none (regression: no decision threshold)";
    case TaskKind::kMulticlass: return "none (the most probable class is predicted; no threshold)";
    case TaskKind::kBinary: return options.threshold_source;
  }
  return options.threshold_source;
}

std::string Evaluation::interval_method() const {
  if (!bootstrap) return "none (no bootstrap resamples were asked for)";
  char level[32];
  std::snprintf(level, sizeof level, "%g%%", 100.0 * bootstrap->confidence);
  return std::string(level) + " percentile bootstrap: " + std::to_string(bootstrap->resamples) + " resamples of the " +
         std::to_string(bootstrap->units) + " patients with replacement, seed " + std::to_string(bootstrap->seed) +
         " (linear interpolation between order statistics)";
}

std::string Evaluation::row_name(std::size_t r) const {
  return r < data.ids.size() ? data.ids[r] : std::to_string(r + 1);
}

namespace {

bool all_probabilities(const std::vector<double>& v) {
  return std::all_of(v.begin(), v.end(), [](double p) { return p >= 0.0 && p <= 1.0; });
}

// Validates data and fills default names; throws ValueError naming the row.
void prepare(EvaluationData& d) {
  const std::size_t n = d.y_true.size();
  auto row = [&](std::size_t r) { return "row " + (r < d.ids.size() ? "'" + d.ids[r] + "'" : std::to_string(r + 1)); };
  if (d.y_pred.size() != n) {
    throw ValueError("mismatched lengths: " + std::to_string(n) + " targets, " + std::to_string(d.y_pred.size()) +
                     " predictions");
  }
  if (n == 0) throw ValueError("nothing to evaluate: no rows");
  if (!d.ids.empty() && d.ids.size() != n) {
    throw ValueError("mismatched lengths: " + std::to_string(d.ids.size()) + " ids for " + std::to_string(n) + " rows");
  }
  if (!d.bootstrap_groups.empty() && d.bootstrap_groups.size() != n) {
    throw ValueError("mismatched lengths: " + std::to_string(d.bootstrap_groups.size()) + " bootstrap groups for " +
                     std::to_string(n) + " rows");
  }
  const std::size_t width = d.y_pred.front().size();
  if (d.task == TaskKind::kMulticlass) {
    if (width < 2) throw ValueError("multiclass needs one probability column per class (at least 2), got " + std::to_string(width));
  } else if (width != 1) {
    throw ValueError(to_string(d.task) + " takes exactly one prediction column, got " + std::to_string(width));
  }
  for (std::size_t r = 0; r < n; ++r) {
    if (d.y_pred[r].size() != width) {
      throw ValueError(row(r) + ": " + std::to_string(d.y_pred[r].size()) + " predictions, expected " +
                       std::to_string(width));
    }
    if (!std::isfinite(d.y_true[r])) throw ValueError(row(r) + ": target is not a finite number");
    for (double v : d.y_pred[r]) {
      if (!std::isfinite(v)) throw ValueError(row(r) + ": prediction is not a finite number");
    }
    if (d.task == TaskKind::kBinary && d.y_true[r] != 0.0 && d.y_true[r] != 1.0) {
      throw ValueError(row(r) + ": target " + detail::num(d.y_true[r]) + ", expected a binary label 0 or 1");
    }
    if (d.task == TaskKind::kMulticlass) {
      double y = d.y_true[r];
      if (y != std::floor(y) || y < 0 || y >= static_cast<double>(width)) {
        throw ValueError(row(r) + ": target " + detail::num(y) + ", expected a class index 0.." + std::to_string(width - 1));
      }
      for (double v : d.y_pred[r]) {
        if (v < 0) throw ValueError(row(r) + ": class probability " + detail::num(v) + " is negative");
      }
    }
  }
  if (d.pred_names.empty()) {
    if (d.task == TaskKind::kMulticlass) {
      for (std::size_t c = 0; c < width; ++c) d.pred_names.push_back("p" + std::to_string(c));
    } else {
      d.pred_names.push_back(d.task == TaskKind::kBinary ? "score" : "y_pred");
    }
  }
  if (d.pred_names.size() != width) {
    throw ValueError("got " + std::to_string(d.pred_names.size()) + " prediction names for " + std::to_string(width) + " columns");
  }
  if (d.task == TaskKind::kMulticlass && d.class_names.empty()) d.class_names = d.pred_names;
  if (d.task == TaskKind::kMulticlass && d.class_names.size() != width) {
    throw ValueError("got " + std::to_string(d.class_names.size()) + " class names for " + std::to_string(width) + " classes");
  }
}

// Headline metrics of the rows @p rows (nullptr: all rows).
MetricTable headline(const EvaluationData& d, const EvaluationOptions& o, const std::vector<std::size_t>* rows) {
  const std::size_t n = rows ? rows->size() : d.y_true.size();
  auto at = [&](std::size_t i) { return rows ? (*rows)[i] : i; };
  if (d.task == TaskKind::kMulticlass) {
    std::vector<int> y(n);
    std::vector<std::vector<double>> p(n);
    for (std::size_t i = 0; i < n; ++i) {
      y[i] = static_cast<int>(d.y_true[at(i)]);
      p[i] = d.y_pred[at(i)];
    }
    MetricTable t = multiclass_metrics(y, p);
    // Top-label ("confidence") calibration: is the arg-max right as often as its probability says?
    std::vector<double> correct(n), confidence(n);
    bool ok = true;
    for (std::size_t i = 0; i < n; ++i) {
      double sum = 0;
      for (double v : p[i]) sum += v;
      auto best = std::max_element(p[i].begin(), p[i].end());
      if (sum <= 0) {
        ok = false;
        break;
      }
      confidence[i] = std::min(1.0, *best / sum);
      correct[i] = static_cast<int>(best - p[i].begin()) == y[i] ? 1.0 : 0.0;
    }
    t.set("ece", "ECE (top-label)",
          ok ? expected_calibration_error(correct, confidence, o.calibration_bins)
             : MetricValue::undefined("a probability row sums to 0"));
    return t;
  }
  std::vector<double> y(n), s(n);
  for (std::size_t i = 0; i < n; ++i) {
    y[i] = d.y_true[at(i)];
    s[i] = d.y_pred[at(i)][0];
  }
  if (d.task == TaskKind::kRegression) return regression_metrics(y, s);
  MetricTable t = binary_metrics(y, s, o.threshold);
  t.set("ece", "ECE", all_probabilities(s) ? expected_calibration_error(y, s, o.calibration_bins)
                                            : MetricValue::undefined("scores are not probabilities (outside [0, 1])"));
  return t;
}

}  // namespace

Evaluation evaluate(EvaluationData data, const EvaluationOptions& options) {
  prepare(data);
  if (!std::isfinite(options.threshold)) throw ValueError("the threshold must be a finite number");
  if (options.calibration_bins < 1) throw ValueError("calibration_bins must be >= 1");
  Evaluation e;
  e.data = std::move(data);
  e.options = options;
  const EvaluationData& d = e.data;
  e.metrics = headline(d, options, nullptr);
  std::vector<double> y(d.y_true), s;
  for (const auto& p : d.y_pred) s.push_back(p[0]);
  if (d.task == TaskKind::kRegression) {
    e.bland_altman = bland_altman(y, s);
  } else if (d.task == TaskKind::kBinary) {
    BinaryCounts c = confusion_at_threshold(y, s, options.threshold);
    e.confusion = {{c.tn, c.fp}, {c.fn, c.tp}};
  } else {
    std::vector<int> labels;
    for (double v : y) labels.push_back(static_cast<int>(v));
    e.confusion = confusion_matrix(labels, argmax_rows(d.y_pred), static_cast<int>(d.y_pred.front().size()));
    e.per_class = classification_report(labels, d.y_pred, d.class_names);
  }
  if (options.bootstrap.resamples > 0) {
    auto units = d.bootstrap_groups.empty() ? units_from_rows(d.y_true.size()) : units_from_groups(d.bootstrap_groups);
    e.bootstrap = add_bootstrap_intervals(
        e.metrics, units, [&](const std::vector<std::size_t>& rows) { return headline(d, options, &rows); },
        options.bootstrap);
    for (const auto& m : e.metrics.entries()) {
      if (m.ci && m.ci->resamples_skipped > 0 && m.value.defined()) {
        e.warnings.push_back(m.key + ": undefined in " + std::to_string(m.ci->resamples_skipped) + " of " +
                             std::to_string(options.bootstrap.resamples) + " bootstrap resamples (skipped); " +
                             "its interval rests on " + std::to_string(m.ci->resamples_used));
      }
    }
  }
  for (const auto& w : e.warnings) logger()->warn("{}", w);
  return e;
}

}  // namespace tomograd::eval
