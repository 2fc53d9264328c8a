#include <cmath>
#include <set>

#include "tomograd/classic/classifier.hpp"
#include "tomograd/classic/estimator.hpp"
#include "tomograd/classic/regressor.hpp"
#include "tomograd/core/error.hpp"

namespace tomograd::classic {

std::string task_name(Task task) { return task == Task::kRegression ? "regression" : "binary"; }

Task parse_task(const std::string& text) {
  if (text == "regression") return Task::kRegression;
  if (text == "binary") return Task::kBinary;
  throw ConfigError("unknown task '" + text + "' (valid: binary, regression)");
}

namespace {

void check_features(const std::string& model, const Matrix& x, std::size_t n_targets) {
  if (x.rows() == 0) throw ValueError(model + ": no training rows");
  if (x.cols() == 0) throw ValueError(model + ": no feature columns");
  if (x.rows() != n_targets) {
    throw ValueError(model + ": " + std::to_string(x.rows()) + " feature rows but " + std::to_string(n_targets) +
                     " targets");
  }
  for (std::size_t r = 0; r < x.rows(); ++r) {
    for (std::size_t c = 0; c < x.cols(); ++c) {
      if (!std::isfinite(x(r, c))) {
        throw ValueError(model + ": feature row " + std::to_string(r) + ", column " + std::to_string(c) +
                         " is not a finite number");
      }
    }
  }
}

}  // namespace

void check_regression_data(const std::string& model, const Matrix& x, const std::vector<double>& y) {
  check_features(model, x, y.size());
  for (std::size_t r = 0; r < y.size(); ++r) {
    if (!std::isfinite(y[r])) throw ValueError(model + ": target of row " + std::to_string(r) + " is not finite");
  }
  bool constant = true;
  for (double v : y) constant = constant && v == y[0];
  if (constant) {
    throw ValueError(model + ": the target is constant (every one of the " + std::to_string(y.size()) +
                     " training rows is " + std::to_string(y[0]) + "); there is nothing to learn");
  }
}

void check_binary_data(const std::string& model, const Matrix& x, const std::vector<double>& labels) {
  check_features(model, x, labels.size());
  std::set<double> seen;
  for (std::size_t r = 0; r < labels.size(); ++r) {
    if (labels[r] != 0.0 && labels[r] != 1.0) {
      throw ValueError(model + ": label of row " + std::to_string(r) + " is " + std::to_string(labels[r]) +
                       "; a binary target must be 0 or 1");
    }
    seen.insert(labels[r]);
  }
  if (seen.size() < 2) {
    throw ValueError(model + ": a binary task needs both classes, but all " + std::to_string(labels.size()) +
                     " training rows have label " + std::to_string(static_cast<int>(labels[0])));
  }
}

std::vector<int> Classifier::predict(const Matrix& x, double threshold) const {
  std::vector<double> p = predict_proba(x);
  std::vector<int> out(p.size());
  for (std::size_t i = 0; i < p.size(); ++i) out[i] = p[i] >= threshold ? 1 : 0;
  return out;
}

}  // namespace tomograd::classic
