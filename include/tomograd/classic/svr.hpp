#pragma once
/// @file ε-support vector regression (libsvm EPSILON_SVR), the same solver scikit-learn's SVR
/// wraps, with the same defaults.
#include <memory>
#include <string>

#include "tomograd/classic/params.hpp"
#include "tomograd/classic/regressor.hpp"

namespace tomograd::classic {

/// SVR parameters. Defaults are scikit-learn 1.2's `sklearn.svm.SVR()` defaults, so the same
/// values give the same model.
struct SvrParams {
  std::string kernel = "rbf";  ///< "rbf": exp(-gamma·|x-x'|²); "linear": x·x'
  double C = 1.0;              ///< penalty on errors beyond epsilon (> 0)
  double epsilon = 0.1;        ///< half-width of the loss-free tube, in target units (g/cm² for BMD)
  /// RBF width: "scale" = 1/(F·Var(X)) with Var over every value of the (standardized) training
  /// matrix, as sklearn's gamma='scale' (1/F when features are standardized); "auto" = 1/F; or a
  /// positive number.
  std::string gamma = "scale";
  double tol = 1e-3;       ///< libsvm stopping tolerance (eps)
  bool shrinking = true;   ///< libsvm shrinking heuristics
  double cache_mb = 200;   ///< kernel cache size in MB

  /// Names, defaults, bounds and descriptions of the fields.
  static const ParamTable<SvrParams>& table();
};

/// Resolves a gamma setting ("scale", "auto" or a number) for training matrix @p x, as sklearn
/// does: "scale" = 1/(F·Var(x)) (1.0 when Var(x) = 0), "auto" = 1/F.
double resolve_gamma(const std::string& gamma, const Matrix& x);

/// ε-SVR on libsvm. The model file is libsvm's own text format (svm_save_model).
class Svr : public Regressor {
 public:
  explicit Svr(SvrParams params = {});
  ~Svr() override;
  Svr(Svr&&) noexcept;
  Svr& operator=(Svr&&) noexcept;

  const SvrParams& params() const { return params_; }
  /// The kernel width used by the fitted model (resolved from "scale"/"auto"); NaN before fit.
  double gamma_value() const;
  /// Number of support vectors of the fitted model (0 before fit).
  int num_support_vectors() const;

  std::string name() const override { return "svr"; }
  nlohmann::json parameters() const override { return SvrParams::table().to_json(params_); }
  nlohmann::json fitted_info() const override;
  bool is_fitted() const override;
  std::string file_name() const override { return "model.libsvm"; }
  void save(const std::filesystem::path& file) const override;
  void load(const std::filesystem::path& file) override;
  void fit(const Matrix& x, const std::vector<double>& y) override;
  std::vector<double> predict(const Matrix& x) const override;

 private:
  struct Impl;
  SvrParams params_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tomograd::classic
