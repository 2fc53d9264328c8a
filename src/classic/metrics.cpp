#include "tomograd/classic/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "tomograd/core/error.hpp"

namespace tomograd::classic {

namespace {
void check_sizes(std::size_t a, std::size_t b) {
  if (a == 0) throw ValueError("metrics: no values");
  if (a != b) throw ValueError("metrics: " + std::to_string(a) + " true values but " + std::to_string(b) + " predictions");
}
}  // namespace

RegressionScores regression_scores(const std::vector<double>& y_true, const std::vector<double>& y_pred) {
  check_sizes(y_true.size(), y_pred.size());
  const double n = static_cast<double>(y_true.size());
  double mean = std::accumulate(y_true.begin(), y_true.end(), 0.0) / n;
  double ss_res = 0, ss_tot = 0, abs_err = 0;
  for (std::size_t i = 0; i < y_true.size(); ++i) {
    double e = y_true[i] - y_pred[i];
    ss_res += e * e;
    abs_err += std::fabs(e);
    ss_tot += (y_true[i] - mean) * (y_true[i] - mean);
  }
  RegressionScores s;
  s.r2 = ss_tot > 0 ? 1.0 - ss_res / ss_tot : std::nan("");
  s.mae = abs_err / n;
  s.rmse = std::sqrt(ss_res / n);
  return s;
}

BinaryScores binary_scores(const std::vector<double>& labels, const std::vector<double>& probabilities) {
  check_sizes(labels.size(), probabilities.size());
  const std::size_t n = labels.size();
  BinaryScores s;
  double correct = 0, loss = 0;
  for (std::size_t i = 0; i < n; ++i) {
    double p = std::clamp(probabilities[i], 1e-15, 1.0 - 1e-15);
    bool positive = labels[i] == 1.0;
    correct += ((probabilities[i] >= 0.5) == positive) ? 1 : 0;
    loss -= positive ? std::log(p) : std::log(1.0 - p);
  }
  s.accuracy = correct / static_cast<double>(n);
  s.log_loss = loss / static_cast<double>(n);
  // AUC as the Mann-Whitney statistic: average ranks, ties sharing their mean rank.
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return probabilities[a] < probabilities[b]; });
  double rank_sum_pos = 0, n_pos = 0;
  for (std::size_t i = 0; i < n;) {
    std::size_t j = i;
    while (j + 1 < n && probabilities[order[j + 1]] == probabilities[order[i]]) ++j;
    double mean_rank = (static_cast<double>(i) + static_cast<double>(j)) / 2.0 + 1.0;
    for (std::size_t k = i; k <= j; ++k) {
      if (labels[order[k]] == 1.0) {
        rank_sum_pos += mean_rank;
        n_pos += 1;
      }
    }
    i = j + 1;
  }
  double n_neg = static_cast<double>(n) - n_pos;
  s.auc = (n_pos > 0 && n_neg > 0) ? (rank_sum_pos - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg) : std::nan("");
  return s;
}

std::map<std::string, double> to_map(const RegressionScores& s) {
  return {{"r2", s.r2}, {"mae", s.mae}, {"rmse", s.rmse}};
}
std::map<std::string, double> to_map(const BinaryScores& s) {
  return {{"auc", s.auc}, {"accuracy", s.accuracy}, {"log_loss", s.log_loss}};
}

bool higher_is_better(const std::string& name) {
  if (name == "r2" || name == "auc" || name == "accuracy") return true;
  if (name == "mae" || name == "rmse" || name == "log_loss") return false;
  throw ConfigError("unknown metric '" + name + "' (valid: r2, mae, rmse for regression; auc, accuracy, log_loss for binary)");
}

}  // namespace tomograd::classic
