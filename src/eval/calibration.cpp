#include "tomograd/eval/calibration.hpp"

#include <algorithm>
#include <cmath>

#include "check_impl.hpp"

namespace tomograd::eval {

ReliabilityCurve reliability_curve(const std::vector<double>& y_true, const std::vector<double>& probs, int num_bins) {
  detail::check_binary(y_true, probs);
  if (num_bins < 1) throw ValueError("calibration needs at least 1 bin, got " + std::to_string(num_bins));
  for (std::size_t i = 0; i < probs.size(); ++i) {
    if (probs[i] < 0.0 || probs[i] > 1.0) {
      throw ValueError("calibration needs probabilities in [0, 1]; score " + std::to_string(i + 1) + " is " +
                       detail::num(probs[i]));
    }
  }
  // Inner edges as numpy.linspace(0, 1, B + 1) computes them (i * (1/B)), so values on an edge
  // fall in the same bin as in sklearn.
  const double step = 1.0 / num_bins;
  std::vector<double> inner;
  for (int i = 1; i < num_bins; ++i) inner.push_back(i * step);
  std::vector<double> sum_p(static_cast<std::size_t>(num_bins), 0), sum_y(static_cast<std::size_t>(num_bins), 0);
  std::vector<int64_t> n(static_cast<std::size_t>(num_bins), 0);
  for (std::size_t i = 0; i < probs.size(); ++i) {
    auto b = static_cast<std::size_t>(std::lower_bound(inner.begin(), inner.end(), probs[i]) - inner.begin());
    sum_p[b] += probs[i];
    sum_y[b] += y_true[i];
    ++n[b];
  }
  ReliabilityCurve c;
  c.num_bins = num_bins;
  for (std::size_t b = 0; b < n.size(); ++b) {
    if (n[b] == 0) continue;
    c.mean_predicted.push_back(sum_p[b] / static_cast<double>(n[b]));
    c.fraction_positive.push_back(sum_y[b] / static_cast<double>(n[b]));
    c.counts.push_back(n[b]);
  }
  return c;
}

MetricValue expected_calibration_error(const std::vector<double>& y_true, const std::vector<double>& probs,
                                       int num_bins) {
  ReliabilityCurve c = reliability_curve(y_true, probs, num_bins);
  double ece = 0;
  for (std::size_t b = 0; b < c.counts.size(); ++b) {
    ece += static_cast<double>(c.counts[b]) / static_cast<double>(y_true.size()) *
           std::abs(c.fraction_positive[b] - c.mean_predicted[b]);
  }
  return MetricValue::of(ece);
}

}  // namespace tomograd::eval
