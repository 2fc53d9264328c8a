#pragma once
/// @file A metric result: a finite number, or undefined with the reason why.
///
/// Metrics such as R² (constant targets) or AUC (one class only) are undefined on some data.
/// They are never represented as NaN: callers see defined() == false and a sentence saying why,
/// which reports print instead of a number and JSON writes as null plus the reason.
#include <optional>
#include <string>

namespace tomograd::eval {

/// A metric's value, or why it has none. Cheap to copy.
class MetricValue {
 public:
  /// An undefined value with the reason "not computed".
  MetricValue() : reason_("not computed") {}

  /// A defined value. A non-finite @p value gives an undefined one ("not a finite number").
  static MetricValue of(double value);
  /// An undefined value; @p reason is a short sentence, e.g. "y_true is constant (all 3.5)".
  static MetricValue undefined(std::string reason);

  bool defined() const { return value_.has_value(); }
  explicit operator bool() const { return defined(); }
  /// The number. Throws ValueError naming the reason when undefined.
  double value() const;
  double value_or(double fallback) const { return value_ ? *value_ : fallback; }
  /// Why the value is undefined (empty when defined).
  const std::string& reason() const { return reason_; }

 private:
  std::optional<double> value_;
  std::string reason_;
};

}  // namespace tomograd::eval
