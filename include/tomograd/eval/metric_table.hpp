#pragma once
/// @file An ordered table of named metrics, each with an optional bootstrap confidence interval.
#include <optional>
#include <string>
#include <vector>

#include "tomograd/eval/metric_value.hpp"

namespace tomograd::eval {

/// A percentile bootstrap interval and how many resamples it rests on.
struct ConfidenceInterval {
  MetricValue low;            ///< lower bound (undefined when no resample gave a value)
  MetricValue high;           ///< upper bound
  double level = 0.95;        ///< coverage, e.g. 0.95 for a 95 % interval
  int resamples_used = 0;     ///< resamples in which the metric was defined
  int resamples_skipped = 0;  ///< resamples in which it was undefined (e.g. one class only)
};

/// One row of a MetricTable.
struct MetricEntry {
  std::string key;    ///< snake_case JSON key, e.g. "auc", "balanced_accuracy"
  std::string label;  ///< human-readable name, e.g. "AUC-ROC"
  MetricValue value;
  std::optional<ConfidenceInterval> ci;  ///< set by add_bootstrap_intervals()
};

/// Metrics in insertion order; keys are unique.
class MetricTable {
 public:
  /// Adds or replaces the metric @p key.
  void set(const std::string& key, const std::string& label, MetricValue value);
  bool contains(const std::string& key) const;
  /// Throws ValueError listing the keys when @p key is absent.
  const MetricEntry& at(const std::string& key) const;
  MetricEntry& at(const std::string& key);
  /// The value of @p key (throws like at()).
  const MetricValue& value(const std::string& key) const { return at(key).value; }
  const std::vector<MetricEntry>& entries() const { return entries_; }
  std::vector<MetricEntry>& entries() { return entries_; }
  std::size_t size() const { return entries_.size(); }
  /// Keys whose value is undefined, in table order.
  std::vector<std::string> undefined_keys() const;

 private:
  std::vector<MetricEntry> entries_;
};

}  // namespace tomograd::eval
