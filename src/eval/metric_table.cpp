#include "tomograd/eval/metric_table.hpp"

#include <cmath>

#include "tomograd/core/error.hpp"

namespace tomograd::eval {

MetricValue MetricValue::of(double value) {
  if (!std::isfinite(value)) return undefined("not a finite number");
  MetricValue m;
  m.value_ = value;
  m.reason_.clear();
  return m;
}

MetricValue MetricValue::undefined(std::string reason) {
  MetricValue m;
  m.reason_ = reason.empty() ? "undefined" : std::move(reason);
  return m;
}

double MetricValue::value() const {
  if (!value_) throw ValueError("metric is undefined: " + reason_);
  return *value_;
}

void MetricTable::set(const std::string& key, const std::string& label, MetricValue value) {
  for (auto& e : entries_) {
    if (e.key == key) {
      e.label = label;
      e.value = std::move(value);
      e.ci.reset();
      return;
    }
  }
  entries_.push_back(MetricEntry{key, label, std::move(value), std::nullopt});
}

bool MetricTable::contains(const std::string& key) const {
  for (const auto& e : entries_) {
    if (e.key == key) return true;
  }
  return false;
}

const MetricEntry& MetricTable::at(const std::string& key) const {
  for (const auto& e : entries_) {
    if (e.key == key) return e;
  }
  std::string keys;
  for (const auto& e : entries_) keys += (keys.empty() ? "" : ", ") + e.key;
  throw ValueError("no metric '" + key + "' (metrics: " + keys + ")");
}

MetricEntry& MetricTable::at(const std::string& key) {
  return const_cast<MetricEntry&>(static_cast<const MetricTable&>(*this).at(key));
}

std::vector<std::string> MetricTable::undefined_keys() const {
  std::vector<std::string> keys;
  for (const auto& e : entries_) {
    if (!e.value.defined()) keys.push_back(e.key);
  }
  return keys;
}

}  // namespace tomograd::eval
