#include "tomograd/classic/self_check.hpp"

#include <cmath>
#include <cstdio>

#include "libsvm_model.hpp"
#include "tomograd/core/error.hpp"
#include "xgb_booster.hpp"

namespace tomograd::classic {

namespace {

constexpr int kRows = 20;

std::string fixed3(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

double pearson(const std::vector<double>& a, const std::vector<double>& b) {
  const double n = static_cast<double>(a.size());
  double ma = 0, mb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) ma += a[i] / n, mb += b[i] / n;
  double sab = 0, saa = 0, sbb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  return saa > 0 && sbb > 0 ? sab / std::sqrt(saa * sbb) : 0.0;
}

/// Fraction of (positive, negative) pairs ranked correctly, ties counting one half.
double auc(const std::vector<double>& p, const std::vector<double>& labels) {
  double good = 0, pairs = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    for (std::size_t j = 0; j < p.size(); ++j) {
      if (labels[i] != 1.0 || labels[j] != 0.0) continue;
      pairs += 1;
      good += p[i] > p[j] ? 1.0 : p[i] == p[j] ? 0.5 : 0.0;
    }
  }
  return good / pairs;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> backend_versions() {
  const int svm = libsvm_version_number();
  return {{"xgboost", xgboost_version()}, {"libsvm", std::to_string(svm / 100) + "." + std::to_string(svm % 100)}};
}

std::string self_check(const ModelEntry& entry) {
  Matrix x(kRows, 1);
  std::vector<double> y(kRows);
  for (int i = 0; i < kRows; ++i) {
    x(i, 0) = i;
    y[i] = entry.task == Task::kRegression ? 2.0 * i + 1.0 : (i >= kRows / 2 ? 1.0 : 0.0);
  }
  const std::string what = task_name(entry.task) + " model '" + entry.name + "'";
  if (entry.task == Task::kRegression) {
    auto model = entry.make_regressor({});
    model->set_threads(1);
    model->fit(x, y);
    const double r = pearson(model->predict(x), y);
    if (!(r >= 0.9)) throw Error(what + ": predictions of y = 2x + 1 correlate r = " + fixed3(r) + " (expected >= 0.9)");
    return "y = 2x + 1 on 20 rows, r = " + fixed3(r);
  }
  auto model = entry.make_classifier({});
  model->set_threads(1);
  model->fit(x, y);
  const double a = auc(model->predict_proba(x), y);
  if (a < 1.0) throw Error(what + ": AUC " + fixed3(a) + " on y = [x >= 10] (expected 1)");
  return "y = [x >= 10] on 20 rows, AUC = " + fixed3(a);
}

}  // namespace tomograd::classic
