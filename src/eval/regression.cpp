#include "tomograd/eval/regression.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "check_impl.hpp"

namespace tomograd::eval {

namespace {

double mean(const std::vector<double>& v) {
  return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

// Exact comparison on purpose: a constant column is constant bit for bit; a mean-based test would
// misjudge values like 0.1 whose mean is not exactly 0.1.
bool is_constant(const std::vector<double>& v) {
  return std::all_of(v.begin(), v.end(), [&](double x) { return x == v.front(); });
}

MetricValue correlation(const std::vector<double>& x, const std::vector<double>& y, const char* what) {
  if (x.size() < 2) return MetricValue::undefined(std::string(what) + " needs at least 2 pairs");
  if (is_constant(x)) return MetricValue::undefined("y_true is constant (all " + detail::num(x.front()) + ")");
  if (is_constant(y)) return MetricValue::undefined("y_pred is constant (all " + detail::num(y.front()) + ")");
  double mx = mean(x), my = mean(y), sxy = 0, sxx = 0, syy = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    double dx = x[i] - mx, dy = y[i] - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  double r = sxy / std::sqrt(sxx * syy);
  return MetricValue::of(std::clamp(r, -1.0, 1.0));
}

}  // namespace

std::vector<double> average_ranks(const std::vector<double>& values) {
  std::vector<std::size_t> order(values.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return values[a] < values[b]; });
  std::vector<double> ranks(values.size());
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i;
    while (j + 1 < order.size() && values[order[j + 1]] == values[order[i]]) ++j;
    double r = (static_cast<double>(i) + static_cast<double>(j)) / 2.0 + 1.0;
    for (std::size_t k = i; k <= j; ++k) ranks[order[k]] = r;
    i = j + 1;
  }
  return ranks;
}

MetricValue r2_score(const std::vector<double>& y_true, const std::vector<double>& y_pred) {
  detail::check_pair(y_true, "y_true", y_pred, "y_pred");
  if (y_true.size() < 2) return MetricValue::undefined("R² needs at least 2 samples");
  if (is_constant(y_true)) {
    return MetricValue::undefined("y_true is constant (all " + detail::num(y_true.front()) +
                                  "), so the total sum of squares is 0");
  }
  double m = mean(y_true), ss_res = 0, ss_tot = 0;
  for (std::size_t i = 0; i < y_true.size(); ++i) {
    ss_res += (y_true[i] - y_pred[i]) * (y_true[i] - y_pred[i]);
    ss_tot += (y_true[i] - m) * (y_true[i] - m);
  }
  return MetricValue::of(1.0 - ss_res / ss_tot);
}

MetricValue mean_absolute_error(const std::vector<double>& y_true, const std::vector<double>& y_pred) {
  detail::check_pair(y_true, "y_true", y_pred, "y_pred");
  double s = 0;
  for (std::size_t i = 0; i < y_true.size(); ++i) s += std::abs(y_pred[i] - y_true[i]);
  return MetricValue::of(s / static_cast<double>(y_true.size()));
}

MetricValue mean_squared_error(const std::vector<double>& y_true, const std::vector<double>& y_pred) {
  detail::check_pair(y_true, "y_true", y_pred, "y_pred");
  double s = 0;
  for (std::size_t i = 0; i < y_true.size(); ++i) s += (y_pred[i] - y_true[i]) * (y_pred[i] - y_true[i]);
  return MetricValue::of(s / static_cast<double>(y_true.size()));
}

MetricValue root_mean_squared_error(const std::vector<double>& y_true, const std::vector<double>& y_pred) {
  return MetricValue::of(std::sqrt(mean_squared_error(y_true, y_pred).value()));
}

MetricValue mean_absolute_percentage_error(const std::vector<double>& y_true, const std::vector<double>& y_pred) {
  detail::check_pair(y_true, "y_true", y_pred, "y_pred");
  double s = 0;
  for (std::size_t i = 0; i < y_true.size(); ++i) {
    // sklearn divides by max(|y|, machine epsilon) and returns ~1e15 here; a number like that
    // would read as a result, so we say why there is none.
    if (y_true[i] == 0.0) return MetricValue::undefined("y_true contains 0 (row " + std::to_string(i + 1) + ")");
    s += std::abs(y_pred[i] - y_true[i]) / std::abs(y_true[i]);
  }
  return MetricValue::of(s / static_cast<double>(y_true.size()));
}

MetricValue pearson_r(const std::vector<double>& x, const std::vector<double>& y) {
  detail::check_pair(x, "y_true", y, "y_pred");
  return correlation(x, y, "Pearson's r");
}

MetricValue spearman_rho(const std::vector<double>& x, const std::vector<double>& y) {
  detail::check_pair(x, "y_true", y, "y_pred");
  if (x.size() >= 2 && !is_constant(x) && !is_constant(y)) return correlation(average_ranks(x), average_ranks(y), "");
  return correlation(x, y, "Spearman's rho");
}

BlandAltman bland_altman(const std::vector<double>& y_true, const std::vector<double>& y_pred) {
  detail::check_pair(y_true, "y_true", y_pred, "y_pred");
  BlandAltman b;
  for (std::size_t i = 0; i < y_true.size(); ++i) {
    b.means.push_back((y_pred[i] + y_true[i]) / 2.0);
    b.differences.push_back(y_pred[i] - y_true[i]);
  }
  double bias = mean(b.differences);
  b.bias = MetricValue::of(bias);
  if (b.differences.size() < 2) {
    std::string why = "limits of agreement need at least 2 pairs";
    b.sd = b.loa_low = b.loa_high = MetricValue::undefined(why);
    return b;
  }
  double ss = 0;
  for (double d : b.differences) ss += (d - bias) * (d - bias);
  double sd = std::sqrt(ss / static_cast<double>(b.differences.size() - 1));
  b.sd = MetricValue::of(sd);
  // 1.96: the 97.5 % normal quantile, as in Bland & Altman's paper (not the exact 1.959964).
  b.loa_low = MetricValue::of(bias - 1.96 * sd);
  b.loa_high = MetricValue::of(bias + 1.96 * sd);
  return b;
}

MetricTable regression_metrics(const std::vector<double>& y_true, const std::vector<double>& y_pred) {
  MetricTable t;
  t.set("r2", "R²", r2_score(y_true, y_pred));
  t.set("mae", "MAE", mean_absolute_error(y_true, y_pred));
  t.set("rmse", "RMSE", root_mean_squared_error(y_true, y_pred));
  t.set("mse", "MSE", mean_squared_error(y_true, y_pred));
  t.set("pearson", "Pearson r", pearson_r(y_true, y_pred));
  t.set("spearman", "Spearman ρ", spearman_rho(y_true, y_pred));
  t.set("mape", "MAPE (fraction)", mean_absolute_percentage_error(y_true, y_pred));
  BlandAltman b = bland_altman(y_true, y_pred);
  t.set("bland_altman_bias", "Bland–Altman bias", b.bias);
  t.set("bland_altman_loa_low", "Bland–Altman lower LoA", b.loa_low);
  t.set("bland_altman_loa_high", "Bland–Altman upper LoA", b.loa_high);
  return t;
}

}  // namespace tomograd::eval
