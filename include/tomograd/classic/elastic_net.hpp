#pragma once
/// @file ElasticNet linear regression by cyclic coordinate descent (Friedman, Hastie & Tibshirani
/// 2010), with scikit-learn's objective, stopping rule and defaults.
#include <string>
#include <vector>

#include "tomograd/classic/params.hpp"
#include "tomograd/classic/regressor.hpp"

namespace tomograd::classic {

/// ElasticNet parameters; defaults are scikit-learn 1.2's `ElasticNet()` defaults.
///
/// Minimizes 1/(2N)·|y - Xw - b|² + alpha·l1_ratio·|w|₁ + alpha·(1 - l1_ratio)/2·|w|², with an
/// unpenalized intercept b.
struct ElasticNetParams {
  double alpha = 1.0;     ///< overall penalty strength (>= 0; 0 = least squares)
  double l1_ratio = 0.5;  ///< mix: 1 = lasso, 0 = ridge
  int max_iter = 1000;    ///< maximum passes over the features
  /// Stop when the largest coefficient update is below tol·max|w| and the duality gap is below
  /// tol·|y - mean(y)|² (sklearn's rule).
  double tol = 1e-4;

  static const ParamTable<ElasticNetParams>& table();
};

/// ElasticNet regression. Coefficients are for the features as given (standardized ones when
/// used through ModelBundle). Model file: JSON {"coef": [...], "intercept": b, ...}.
class ElasticNet : public Regressor {
 public:
  explicit ElasticNet(ElasticNetParams params = {});

  const ElasticNetParams& params() const { return params_; }
  /// F coefficients (empty before fit).
  const std::vector<double>& coef() const { return coef_; }
  double intercept() const { return intercept_; }
  /// Passes over the features the last fit needed, and whether it met tol before max_iter.
  int num_iterations() const { return n_iter_; }
  bool converged() const { return converged_; }

  std::string name() const override { return "elasticnet"; }
  nlohmann::json parameters() const override { return ElasticNetParams::table().to_json(params_); }
  nlohmann::json fitted_info() const override;
  bool is_fitted() const override { return fitted_; }
  std::string file_name() const override { return "elasticnet.json"; }
  void save(const std::filesystem::path& file) const override;
  void load(const std::filesystem::path& file) override;
  void fit(const Matrix& x, const std::vector<double>& y) override;
  std::vector<double> predict(const Matrix& x) const override;

 private:
  ElasticNetParams params_;
  std::vector<double> coef_;
  double intercept_ = 0.0;
  int n_iter_ = 0;
  bool converged_ = false;
  bool fitted_ = false;
};

}  // namespace tomograd::classic
