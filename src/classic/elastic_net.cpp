#include "tomograd/classic/elastic_net.hpp"

#include <algorithm>
#include <cmath>

#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"

namespace tomograd::classic {

const ParamTable<ElasticNetParams>& ElasticNetParams::table() {
  static const ParamTable<ElasticNetParams> t = [] {
    ParamTable<ElasticNetParams> t("elasticnet");
    t.add("alpha", &ElasticNetParams::alpha, at_least(0), "penalty strength (0 = least squares)")
        .add("l1_ratio", &ElasticNetParams::l1_ratio, closed(0, 1), "L1 share of the penalty: 1 = lasso, 0 = ridge")
        .add("max_iter", &ElasticNetParams::max_iter, 1, 100000000, "maximum passes over the features")
        .add("tol", &ElasticNetParams::tol, above(0),
             "stop when max|dw| < tol*max|w| and the duality gap < tol*|y-mean(y)|^2");
    return t;
  }();
  return t;
}

ElasticNet::ElasticNet(ElasticNetParams params) : params_(std::move(params)) {}

nlohmann::json ElasticNet::fitted_info() const {
  if (!fitted_) return nlohmann::json::object();
  std::size_t nonzero = static_cast<std::size_t>(std::count_if(coef_.begin(), coef_.end(), [](double w) { return w != 0.0; }));
  return {{"intercept", intercept_}, {"iterations", n_iter_}, {"converged", converged_}, {"nonzero_coefficients", nonzero}};
}

void ElasticNet::fit(const Matrix& x, const std::vector<double>& y) {
  check_regression_data(name(), x, y);
  const std::size_t n = x.rows(), f = x.cols();
  const double nd = static_cast<double>(n);

  // Center X and y so the intercept drops out of the penalized problem (sklearn's
  // _preprocess_data with fit_intercept=True); columns are stored contiguously for the sweeps.
  std::vector<double> x_mean(f, 0.0);
  for (std::size_t r = 0; r < n; ++r) {
    for (std::size_t j = 0; j < f; ++j) x_mean[j] += x(r, j);
  }
  for (double& m : x_mean) m /= nd;
  double y_mean = 0;
  for (double v : y) y_mean += v;
  y_mean /= nd;
  std::vector<double> cols(n * f);
  std::vector<double> norm2(f, 0.0);
  for (std::size_t j = 0; j < f; ++j) {
    double* c = cols.data() + j * n;
    for (std::size_t r = 0; r < n; ++r) {
      c[r] = x(r, j) - x_mean[j];
      norm2[j] += c[r] * c[r];
    }
  }
  std::vector<double> yc(n), resid(n);
  double y_norm2 = 0;
  for (std::size_t r = 0; r < n; ++r) {
    yc[r] = y[r] - y_mean;
    resid[r] = yc[r];
    y_norm2 += yc[r] * yc[r];
  }

  // sklearn's enet_coordinate_descent (linear_model/_cd_fast.pyx) works with the objective
  // multiplied by N: l1 = alpha·l1_ratio·N, l2 = alpha·(1-l1_ratio)·N.
  const double l1 = params_.alpha * params_.l1_ratio * nd;
  const double l2 = params_.alpha * (1.0 - params_.l1_ratio) * nd;
  const double gap_tol = params_.tol * y_norm2;
  std::vector<double> w(f, 0.0);
  converged_ = false;
  n_iter_ = 0;
  auto dot = [n](const double* a, const double* b) {
    double s = 0;
    for (std::size_t r = 0; r < n; ++r) s += a[r] * b[r];
    return s;
  };

  for (int iter = 0; iter < params_.max_iter; ++iter) {
    n_iter_ = iter + 1;
    double w_max = 0, dw_max = 0;
    for (std::size_t j = 0; j < f; ++j) {
      if (norm2[j] == 0.0) continue;
      const double* c = cols.data() + j * n;
      double w_old = w[j];
      if (w_old != 0.0) {
        for (std::size_t r = 0; r < n; ++r) resid[r] += w_old * c[r];
      }
      double rho = dot(c, resid.data());
      double shrunk = std::max(std::fabs(rho) - l1, 0.0);
      w[j] = (rho < 0 ? -shrunk : shrunk) / (norm2[j] + l2);
      if (w[j] != 0.0) {
        for (std::size_t r = 0; r < n; ++r) resid[r] -= w[j] * c[r];
      }
      dw_max = std::max(dw_max, std::fabs(w[j] - w_old));
      w_max = std::max(w_max, std::fabs(w[j]));
    }
    if (w_max == 0.0 || dw_max / w_max < params_.tol || iter == params_.max_iter - 1) {
      // Duality gap of the elastic-net problem (sklearn's rule; Friedman et al. 2010 sec. 2.6).
      double dual_norm = 0, w_norm2 = 0, l1_norm = 0;
      for (std::size_t j = 0; j < f; ++j) {
        double xta = dot(cols.data() + j * n, resid.data()) - l2 * w[j];
        dual_norm = std::max(dual_norm, std::fabs(xta));
        w_norm2 += w[j] * w[j];
        l1_norm += std::fabs(w[j]);
      }
      double r_norm2 = dot(resid.data(), resid.data());
      double scale = 1.0, gap = 0;
      if (dual_norm > l1) {
        scale = l1 / dual_norm;
        gap = 0.5 * (r_norm2 + r_norm2 * scale * scale);
      } else {
        gap = r_norm2;
      }
      gap += l1 * l1_norm - scale * dot(resid.data(), yc.data()) + 0.5 * l2 * (1.0 + scale * scale) * w_norm2;
      if (gap < gap_tol) {
        converged_ = true;
        break;
      }
    }
  }
  if (!converged_) {
    logger()->warn("elasticnet: no convergence after max_iter={} passes (alpha={}, l1_ratio={}); raise max_iter "
                   "or tol, or use a larger alpha",
                   params_.max_iter, params_.alpha, params_.l1_ratio);
  }
  coef_ = w;
  intercept_ = y_mean;
  for (std::size_t j = 0; j < f; ++j) intercept_ -= x_mean[j] * w[j];
  fitted_ = true;
}

std::vector<double> ElasticNet::predict(const Matrix& x) const {
  if (!fitted_) throw ValueError("elasticnet: predict() before fit() or load()");
  if (x.cols() != coef_.size()) {
    throw ValueError("elasticnet: the model was trained on " + std::to_string(coef_.size()) + " features, got " +
                     std::to_string(x.cols()));
  }
  std::vector<double> out(x.rows(), intercept_);
  for (std::size_t r = 0; r < x.rows(); ++r) {
    const double* row = x.row(r);
    for (std::size_t j = 0; j < coef_.size(); ++j) out[r] += row[j] * coef_[j];
  }
  return out;
}

void ElasticNet::save(const std::filesystem::path& file) const {
  if (!fitted_) throw ValueError("elasticnet: save() before fit()");
  nlohmann::json j{{"format", "tomograd-elasticnet"},
                   {"format_version", 1},
                   {"coef", coef_},
                   {"intercept", intercept_},
                   {"iterations", n_iter_},
                   {"converged", converged_},
                   {"parameters", parameters()}};
  write_file_atomic(file, j.dump(2) + "\n", Overwrite::kAllow);
}

void ElasticNet::load(const std::filesystem::path& file) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) throw IoError("elasticnet: model file '" + file.string() + "' is missing");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(file));
  } catch (const nlohmann::json::exception& e) {
    throw IoError("elasticnet: '" + file.string() + "' is not valid JSON: " + e.what());
  }
  if (!j.is_object() || j.value("format", "") != "tomograd-elasticnet") {
    throw IoError("elasticnet: '" + file.string() + "' is not a tomograd ElasticNet model (\"format\" is not "
                  "\"tomograd-elasticnet\")");
  }
  try {
    coef_ = j.at("coef").get<std::vector<double>>();
    intercept_ = j.at("intercept").get<double>();
    n_iter_ = j.value("iterations", 0);
    converged_ = j.value("converged", true);
  } catch (const nlohmann::json::exception& e) {
    throw IoError("elasticnet: '" + file.string() + "': " + e.what());
  }
  fitted_ = true;
}

}  // namespace tomograd::classic
