#pragma once
// Input checks shared by the metric functions (private to src/eval).
#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "tomograd/core/error.hpp"

namespace tomograd::eval::detail {

/// Short number text for messages ("3.5", "1e-09").
inline std::string num(double v) {
  std::ostringstream s;
  s.precision(6);
  s << v;
  return s.str();
}

/// Throws unless both vectors are non-empty, of equal length and finite.
inline void check_pair(const std::vector<double>& a, const char* a_name, const std::vector<double>& b,
                       const char* b_name) {
  if (a.size() != b.size()) {
    throw ValueError(std::string("mismatched lengths: ") + a_name + " has " + std::to_string(a.size()) +
                     " values, " + b_name + " has " + std::to_string(b.size()));
  }
  if (a.empty()) throw ValueError(std::string("no values to score (") + a_name + " and " + b_name + " are empty)");
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i])) throw ValueError(std::string(a_name) + "[" + std::to_string(i) + "] is not finite (" + num(a[i]) + ")");
    if (!std::isfinite(b[i])) throw ValueError(std::string(b_name) + "[" + std::to_string(i) + "] is not finite (" + num(b[i]) + ")");
  }
}

/// check_pair() plus labels exactly 0 or 1.
inline void check_binary(const std::vector<double>& y_true, const std::vector<double>& scores) {
  check_pair(y_true, "y_true", scores, "scores");
  for (std::size_t i = 0; i < y_true.size(); ++i) {
    if (y_true[i] != 0.0 && y_true[i] != 1.0) {
      throw ValueError("y_true[" + std::to_string(i) + "] is " + num(y_true[i]) + ", expected a binary label 0 or 1");
    }
  }
}

/// Throws unless @p sample_weight is empty (every row weighs 1) or holds one weight per row.
inline void check_sample_weight_size(const std::vector<double>& sample_weight, std::size_t rows) {
  if (!sample_weight.empty() && sample_weight.size() != rows) {
    throw ValueError("mismatched lengths: sample_weight has " + std::to_string(sample_weight.size()) +
                     " values, y_true has " + std::to_string(rows));
  }
}

}  // namespace tomograd::eval::detail
