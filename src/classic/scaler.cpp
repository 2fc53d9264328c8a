#include "tomograd/classic/scaler.hpp"

#include <cmath>

#include "tomograd/core/error.hpp"

namespace tomograd::classic {

namespace {
// A feature whose spread is at rounding level relative to its magnitude is constant; dividing
// by such a std would blow rounding noise up to unit variance (sklearn guards the same way).
bool is_constant(double mean, double std) { return std <= 1e-12 * std::max(1.0, std::fabs(mean)); }
}  // namespace

StandardScaler::StandardScaler(std::vector<double> mean, std::vector<double> stddev)
    : mean_(std::move(mean)), std_(std::move(stddev)) {
  if (mean_.size() != std_.size()) {
    throw ValueError("scaler: " + std::to_string(mean_.size()) + " means but " + std::to_string(std_.size()) +
                     " standard deviations");
  }
  scale_.resize(std_.size());
  for (std::size_t j = 0; j < std_.size(); ++j) {
    if (!std::isfinite(mean_[j]) || !std::isfinite(std_[j]) || std_[j] < 0) {
      throw ValueError("scaler: feature " + std::to_string(j) + " has an invalid mean/std");
    }
    scale_[j] = is_constant(mean_[j], std_[j]) ? 1.0 : std_[j];
  }
}

void StandardScaler::fit(const Matrix& x) {
  if (x.rows() == 0 || x.cols() == 0) throw ValueError("scaler: cannot fit on an empty matrix");
  const std::size_t n = x.rows(), f = x.cols();
  std::vector<double> mean(f, 0.0), var(f, 0.0);
  for (std::size_t r = 0; r < n; ++r) {
    for (std::size_t j = 0; j < f; ++j) mean[j] += x(r, j);
  }
  for (double& m : mean) m /= static_cast<double>(n);
  // Two passes (mean, then squared deviations) so large offsets such as HU ~1000 keep precision.
  for (std::size_t r = 0; r < n; ++r) {
    for (std::size_t j = 0; j < f; ++j) {
      double d = x(r, j) - mean[j];
      var[j] += d * d;
    }
  }
  std::vector<double> sd(f);
  for (std::size_t j = 0; j < f; ++j) {
    if (!std::isfinite(mean[j]) || !std::isfinite(var[j])) {
      throw ValueError("scaler: feature " + std::to_string(j) + " has non-finite values");
    }
    sd[j] = std::sqrt(var[j] / static_cast<double>(n));
  }
  *this = StandardScaler(std::move(mean), std::move(sd));
}

Matrix StandardScaler::transform(const Matrix& x) const {
  if (!is_fitted()) throw ValueError("scaler: transform() before fit()");
  if (x.cols() != mean_.size()) {
    throw ValueError("scaler: fitted on " + std::to_string(mean_.size()) + " features, got " +
                     std::to_string(x.cols()));
  }
  Matrix out(x.rows(), x.cols());
  for (std::size_t r = 0; r < x.rows(); ++r) {
    const double* src = x.row(r);
    double* dst = out.row(r);
    for (std::size_t j = 0; j < x.cols(); ++j) dst[j] = (src[j] - mean_[j]) / scale_[j];
  }
  return out;
}

std::vector<std::size_t> StandardScaler::constant_features() const {
  std::vector<std::size_t> out;
  for (std::size_t j = 0; j < std_.size(); ++j) {
    if (is_constant(mean_[j], std_[j])) out.push_back(j);
  }
  return out;
}

nlohmann::json StandardScaler::to_json() const { return {{"mean", mean_}, {"std", std_}}; }

StandardScaler StandardScaler::from_json(const nlohmann::json& j) {
  for (const char* key : {"mean", "std"}) {
    if (!j.contains(key) || !j[key].is_array()) {
      throw ValueError("scaler: key '" + std::string(key) + "' must be an array of numbers");
    }
  }
  try {
    return StandardScaler(j["mean"].get<std::vector<double>>(), j["std"].get<std::vector<double>>());
  } catch (const nlohmann::json::exception& e) {
    throw ValueError(std::string("scaler: mean/std must be arrays of numbers (") + e.what() + ")");
  }
}

}  // namespace tomograd::classic
