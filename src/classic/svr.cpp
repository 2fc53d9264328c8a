#include "tomograd/classic/svr.hpp"

#include <cmath>

#include "libsvm_model.hpp"
#include "tomograd/core/error.hpp"

namespace tomograd::classic {

const ParamTable<SvrParams>& SvrParams::table() {
  static const ParamTable<SvrParams> t = [] {
    ParamTable<SvrParams> t("svr");
    t.add_choice("kernel", &SvrParams::kernel, {"rbf", "linear"}, "kernel: rbf = exp(-gamma*|x-x'|^2), linear = x.x'")
        .add("C", &SvrParams::C, above(0), "penalty on errors beyond epsilon")
        .add("epsilon", &SvrParams::epsilon, at_least(0), "half-width of the loss-free tube, in target units")
        .add_number_or("gamma", &SvrParams::gamma, {"scale", "auto"}, above(0),
                       "RBF width: scale = 1/(F*Var(X)) of the standardized training matrix, auto = 1/F, "
                       "or a number")
        .add("tol", &SvrParams::tol, above(0), "libsvm stopping tolerance")
        .add("shrinking", &SvrParams::shrinking, "use libsvm's shrinking heuristics")
        .add("cache_mb", &SvrParams::cache_mb, above(0), "kernel cache size in MB");
    return t;
  }();
  return t;
}

double resolve_gamma(const std::string& gamma, const Matrix& x) {
  const double f = static_cast<double>(x.cols());
  if (gamma == "auto") return 1.0 / f;
  if (gamma == "scale") {
    // sklearn 1.2 (svm/_base.py): X_var = X.var() over every value; gamma = 1/(F*X_var), or 1
    // when X_var == 0.
    const auto& v = x.data();
    double mean = 0;
    for (double d : v) mean += d;
    mean /= static_cast<double>(v.size());
    double var = 0;
    for (double d : v) var += (d - mean) * (d - mean);
    var /= static_cast<double>(v.size());
    return var != 0.0 ? 1.0 / (f * var) : 1.0;
  }
  auto value = parse_number(gamma);
  if (!value || *value <= 0) throw ConfigError("gamma: expected scale, auto or a positive number, got '" + gamma + "'");
  return *value;
}

struct Svr::Impl {
  LibsvmModel model;
  double gamma = std::nan("");
};

Svr::Svr(SvrParams params) : params_(std::move(params)), impl_(std::make_unique<Impl>()) {}
Svr::~Svr() = default;
Svr::Svr(Svr&&) noexcept = default;
Svr& Svr::operator=(Svr&&) noexcept = default;

bool Svr::is_fitted() const { return impl_->model.fitted(); }
double Svr::gamma_value() const { return impl_->gamma; }
int Svr::num_support_vectors() const { return is_fitted() ? impl_->model.get()->l : 0; }

nlohmann::json Svr::fitted_info() const {
  if (!is_fitted()) return nlohmann::json::object();
  nlohmann::json j{{"num_support_vectors", num_support_vectors()}};
  if (params_.kernel == "rbf") j["gamma"] = impl_->gamma;
  return j;
}

void Svr::fit(const Matrix& x, const std::vector<double>& y) {
  check_regression_data(name(), x, y);
  svm_parameter p = default_svm_parameter();
  p.svm_type = EPSILON_SVR;
  p.kernel_type = params_.kernel == "linear" ? LINEAR : RBF;
  impl_->gamma = resolve_gamma(params_.gamma, x);
  p.gamma = impl_->gamma;
  p.C = params_.C;
  p.p = params_.epsilon;
  p.eps = params_.tol;
  p.shrinking = params_.shrinking ? 1 : 0;
  p.cache_size = params_.cache_mb;
  impl_->model.train(name(), x, y, p);
}

std::vector<double> Svr::predict(const Matrix& x) const {
  if (!is_fitted()) throw ValueError("svr: predict() before fit() or load()");
  return impl_->model.predict(x);
}

void Svr::save(const std::filesystem::path& file) const { impl_->model.save(name(), file); }

void Svr::load(const std::filesystem::path& file) {
  impl_->model.load(name(), file, EPSILON_SVR);
  impl_->gamma = impl_->model.get()->param.gamma;
}

}  // namespace tomograd::classic
