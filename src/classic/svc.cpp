#include "tomograd/classic/svc.hpp"

#include <cmath>
#include <cstdlib>
#include <mutex>

#include "libsvm_model.hpp"
#include "tomograd/classic/svr.hpp"
#include "tomograd/core/error.hpp"

namespace tomograd::classic {

const ParamTable<SvcParams>& SvcParams::table() {
  static const ParamTable<SvcParams> t = [] {
    ParamTable<SvcParams> t("svc");
    t.add_choice("kernel", &SvcParams::kernel, {"rbf", "linear"}, "kernel: rbf = exp(-gamma*|x-x'|^2), linear = x.x'")
        .add("C", &SvcParams::C, above(0), "penalty on margin violations")
        .add_number_or("gamma", &SvcParams::gamma, {"scale", "auto"}, above(0),
                       "RBF width: scale = 1/(F*Var(X)), auto = 1/F, or a number")
        .add("tol", &SvcParams::tol, above(0), "libsvm stopping tolerance")
        .add("shrinking", &SvcParams::shrinking, "use libsvm's shrinking heuristics")
        .add("cache_mb", &SvcParams::cache_mb, above(0), "kernel cache size in MB")
        .add("seed", &SvcParams::seed, 0, 2147483647, "seed of libsvm's internal CV for Platt probabilities");
    return t;
  }();
  return t;
}

struct Svc::Impl {
  LibsvmModel model;
  double gamma = std::nan("");
};

Svc::Svc(SvcParams params) : params_(std::move(params)), impl_(std::make_unique<Impl>()) {}
Svc::~Svc() = default;
Svc::Svc(Svc&&) noexcept = default;
Svc& Svc::operator=(Svc&&) noexcept = default;

bool Svc::is_fitted() const { return impl_->model.fitted(); }

nlohmann::json Svc::fitted_info() const {
  if (!is_fitted()) return nlohmann::json::object();
  nlohmann::json j{{"num_support_vectors", impl_->model.get()->l}};
  if (params_.kernel == "rbf") j["gamma"] = impl_->gamma;
  return j;
}

void Svc::fit(const Matrix& x, const std::vector<double>& labels) {
  check_binary_data(name(), x, labels);
  svm_parameter p = default_svm_parameter();
  p.svm_type = C_SVC;
  p.kernel_type = params_.kernel == "linear" ? LINEAR : RBF;
  impl_->gamma = resolve_gamma(params_.gamma, x);
  p.gamma = impl_->gamma;
  p.C = params_.C;
  p.eps = params_.tol;
  p.shrinking = params_.shrinking ? 1 : 0;
  p.cache_size = params_.cache_mb;
  p.probability = 1;
  // libsvm's Platt fit shuffles its internal folds with the C library's rand(): seed it and keep
  // other fits from drawing in between, so the same seed gives the same model.
  static std::mutex rand_mutex;
  std::lock_guard<std::mutex> lock(rand_mutex);
  std::srand(static_cast<unsigned>(params_.seed));
  impl_->model.train(name(), x, labels, p);
}

std::vector<double> Svc::predict_proba(const Matrix& x) const {
  if (!is_fitted()) throw ValueError("svc: predict_proba() before fit() or load()");
  return impl_->model.predict_probability(x, 1);
}

void Svc::save(const std::filesystem::path& file) const { impl_->model.save(name(), file); }

void Svc::load(const std::filesystem::path& file) {
  impl_->model.load(name(), file, C_SVC);
  if (svm_check_probability_model(impl_->model.get()) == 0) {
    throw IoError("svc: '" + file.string() + "' has no probability information (trained without -b 1)");
  }
  impl_->gamma = impl_->model.get()->param.gamma;
}

}  // namespace tomograd::classic
