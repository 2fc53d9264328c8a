#include "tomograd/classic/elastic_net.hpp"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <set>
#include <tuple>
#include <utility>

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

namespace {

/// True the first time a fit with @p p's settings fails to converge in this process: scikit-learn's
/// ConvergenceWarning, under Python's default filter, is shown once per place too. A grid search
/// fits each setting once per fold, and would otherwise repeat the same line fold after fold.
bool first_report(const ElasticNetParams& p) {
  static std::mutex mutex;
  static std::set<std::tuple<double, double, int, double>> told;
  std::lock_guard<std::mutex> lock(mutex);
  return told.emplace(p.alpha, p.l1_ratio, p.max_iter, p.tol).second;
}

/// X and y centred so that the intercept drops out of the penalized problem (sklearn's
/// _preprocess_data with fit_intercept=True); columns stored contiguously for the sweeps.
struct CentredData {
  std::size_t n = 0, f = 0;
  std::vector<double> x_mean, cols, norm2, yc;
  double y_mean = 0, y_norm2 = 0;

  const double* col(std::size_t j) const { return cols.data() + j * n; }
  double dot(const double* a, const double* b) const {
    double s = 0;
    for (std::size_t r = 0; r < n; ++r) s += a[r] * b[r];
    return s;
  }
};

CentredData centre(const Matrix& x, const std::vector<double>& y) {
  CentredData d;
  d.n = x.rows();
  d.f = x.cols();
  const std::size_t n = d.n, f = d.f;
  const double nd = static_cast<double>(n);
  d.x_mean.assign(f, 0.0);
  for (std::size_t r = 0; r < n; ++r) {
    for (std::size_t j = 0; j < f; ++j) d.x_mean[j] += x(r, j);
  }
  for (double& m : d.x_mean) m /= nd;
  for (double v : y) d.y_mean += v;
  d.y_mean /= nd;
  d.cols.resize(n * f);
  d.norm2.assign(f, 0.0);
  for (std::size_t j = 0; j < f; ++j) {
    double* c = d.cols.data() + j * n;
    for (std::size_t r = 0; r < n; ++r) {
      c[r] = x(r, j) - d.x_mean[j];
      d.norm2[j] += c[r] * c[r];
    }
  }
  d.yc.resize(n);
  for (std::size_t r = 0; r < n; ++r) {
    d.yc[r] = y[r] - d.y_mean;
    d.y_norm2 += d.yc[r] * d.yc[r];
  }
  return d;
}

/// One pass of coordinate descent over the features (sklearn's enet_coordinate_descent), updating
/// @p w and the residual; returns {max |w_j|, max |dw_j|}.
std::pair<double, double> sweep(const CentredData& d, double l1, double l2, std::vector<double>& w,
                                std::vector<double>& resid) {
  const std::size_t n = d.n;
  double w_max = 0, dw_max = 0;
  for (std::size_t j = 0; j < d.f; ++j) {
    if (d.norm2[j] == 0.0) continue;
    const double* c = d.col(j);
    double w_old = w[j];
    if (w_old != 0.0) {
      for (std::size_t r = 0; r < n; ++r) resid[r] += w_old * c[r];
    }
    double rho = d.dot(c, resid.data());
    double shrunk = std::max(std::fabs(rho) - l1, 0.0);
    w[j] = (rho < 0 ? -shrunk : shrunk) / (d.norm2[j] + l2);
    if (w[j] != 0.0) {
      for (std::size_t r = 0; r < n; ++r) resid[r] -= w[j] * c[r];
    }
    dw_max = std::max(dw_max, std::fabs(w[j] - w_old));
    w_max = std::max(w_max, std::fabs(w[j]));
  }
  return {w_max, dw_max};
}

/// Duality gap of the elastic-net problem (sklearn's rule; Friedman et al. 2010 sec. 2.6).
double duality_gap(const CentredData& d, double l1, double l2, const std::vector<double>& w,
                   const std::vector<double>& resid) {
  double dual_norm = 0, w_norm2 = 0, l1_norm = 0;
  for (std::size_t j = 0; j < d.f; ++j) {
    double xta = d.dot(d.col(j), resid.data()) - l2 * w[j];
    dual_norm = std::max(dual_norm, std::fabs(xta));
    w_norm2 += w[j] * w[j];
    l1_norm += std::fabs(w[j]);
  }
  double r_norm2 = d.dot(resid.data(), resid.data());
  double scale = 1.0, gap = 0;
  if (dual_norm > l1) {
    scale = l1 / dual_norm;
    gap = 0.5 * (r_norm2 + r_norm2 * scale * scale);
  } else {
    gap = r_norm2;
  }
  gap += l1 * l1_norm - scale * d.dot(resid.data(), d.yc.data()) + 0.5 * l2 * (1.0 + scale * scale) * w_norm2;
  return gap;
}

}  // namespace

void ElasticNet::fit(const Matrix& x, const std::vector<double>& y) {
  check_regression_data(name(), x, y);
  const CentredData d = centre(x, y);
  const double nd = static_cast<double>(d.n);

  // sklearn's enet_coordinate_descent (linear_model/_cd_fast.pyx) works with the objective
  // multiplied by N: l1 = alpha·l1_ratio·N, l2 = alpha·(1-l1_ratio)·N.
  const double l1 = params_.alpha * params_.l1_ratio * nd;
  const double l2 = params_.alpha * (1.0 - params_.l1_ratio) * nd;
  const double gap_tol = params_.tol * d.y_norm2;
  std::vector<double> w(d.f, 0.0);
  std::vector<double> resid = d.yc;
  converged_ = false;
  n_iter_ = 0;
  for (int iter = 0; iter < params_.max_iter; ++iter) {
    n_iter_ = iter + 1;
    const auto [w_max, dw_max] = sweep(d, l1, l2, w, resid);
    if (w_max == 0.0 || dw_max / w_max < params_.tol || iter == params_.max_iter - 1) {
      if (duality_gap(d, l1, l2, w, resid) < gap_tol) {
        converged_ = true;
        break;
      }
    }
  }
  if (!converged_ && first_report(params_)) {
    logger()->warn("elasticnet: no convergence after max_iter={} passes (alpha={}, l1_ratio={}); raise max_iter "
                   "or tol, or use a larger alpha (said once per setting; grid-search folds fit it again)",
                   params_.max_iter, params_.alpha, params_.l1_ratio);
  }
  coef_ = w;
  intercept_ = d.y_mean;
  for (std::size_t j = 0; j < d.f; ++j) intercept_ -= d.x_mean[j] * w[j];
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
