#pragma once
/// @file Gradient-boosted trees on XGBoost's C API (reg:squarederror and binary:logistic).
#include <memory>
#include <string>

#include "tomograd/classic/classifier.hpp"
#include "tomograd/classic/params.hpp"
#include "tomograd/classic/regressor.hpp"
#include "tomograd/classic/xgb_model.hpp"

namespace tomograd::classic {

/// XGBoost parameters under the names of XGBoost's scikit-learn API; defaults are XGBoost 1.7's.
struct XgbParams {
  int n_estimators = 100;         ///< boosting rounds
  double learning_rate = 0.3;     ///< shrinkage (eta)
  int max_depth = 6;              ///< tree depth (0 = no limit; not with tree_method=exact)
  double min_child_weight = 1.0;  ///< minimum hessian sum in a leaf
  double subsample = 1.0;         ///< fraction of rows sampled per tree
  double colsample_bytree = 1.0;  ///< fraction of features sampled per tree
  double colsample_bynode = 1.0;  ///< fraction of features sampled per split
  double reg_lambda = 1.0;        ///< L2 penalty on leaf weights (lambda)
  double reg_alpha = 0.0;         ///< L1 penalty on leaf weights (alpha)
  double gamma = 0.0;             ///< minimum loss reduction to split (min_split_loss)
  /// "exact", "hist" or "approx". Default exact: what XGBoost 1.7's own default ("auto") picks
  /// for tables under 4M rows. On 240 rows x 512 features a 100-tree depth-6 forest was ~10x
  /// faster than hist (whose per-node histograms, features x bins, dominate on few rows); shallow
  /// boosting (depth 2) was ~2x faster with hist.
  std::string tree_method = "exact";
  int max_bin = 256;              ///< histogram bins (hist/approx)
  int seed = 0;                   ///< random seed for row/feature sampling

  static const ParamTable<XgbParams>& table();
};

/// Boosted regression trees (objective reg:squarederror). Model file: XGBoost JSON.
class XgbRegressor : public XgbModel<XgbParams, Regressor> {
 public:
  explicit XgbRegressor(XgbParams params = {});
  std::string name() const override { return "xgboost"; }
  void fit(const Matrix& x, const std::vector<double>& y) override;
  std::vector<double> predict(const Matrix& x) const override { return booster_output(x); }
};

/// Boosted classification trees (objective binary:logistic). Model file: XGBoost JSON.
class XgbClassifier : public XgbModel<XgbParams, Classifier> {
 public:
  explicit XgbClassifier(XgbParams params = {});
  std::string name() const override { return "xgboost"; }
  void fit(const Matrix& x, const std::vector<double>& labels) override;
  std::vector<double> predict_proba(const Matrix& x) const override { return booster_output(x); }
};

extern template class XgbModel<XgbParams, Regressor>;
extern template class XgbModel<XgbParams, Classifier>;

}  // namespace tomograd::classic
